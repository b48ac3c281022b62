/* mark: write "MARK <label>\n" to /dev/ttyS1 (COM2) and wait until the UART has
 * sent it (tcdrain), so the marker is in QEMU's trace log before the next stage's
 * FDC I/O starts.  Built with gcc -static for the recorder's initramfs. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    char line[256];
    int n, fd;
    if (argc < 2) {
        fprintf(stderr, "usage: mark LABEL\n");
        return 2;
    }
    n = snprintf(line, sizeof line, "MARK %s\n", argv[1]);
    if (n < 0 || n >= (int)sizeof line)
        return 2;
    fd = open("/dev/ttyS1", O_WRONLY | O_NOCTTY);
    if (fd < 0) {
        perror("mark: /dev/ttyS1");
        return 1;
    }
    if (write(fd, line, n) != n) {
        perror("mark: write");
        return 1;
    }
    tcdrain(fd);
    close(fd);
    return 0;
}
