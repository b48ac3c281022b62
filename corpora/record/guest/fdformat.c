/* fdformat: minimal low-level floppy formatter using the Linux FDFMTBEG /
 * FDFMTTRK / FDFMTEND ioctls (what util-linux's fdformat did), plus the same
 * track-by-track read verification.  Built with gcc -static.
 * usage: fdformat [-n] DEVICE     (-n: no verify) */
#include <errno.h>
#include <fcntl.h>
#include <linux/fd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    struct floppy_struct p;
    struct format_descr d;
    int verify = 1, fd, bad = 0;
    unsigned track, head;
    const char *dev;
    if (argc > 1 && strcmp(argv[1], "-n") == 0) {
        verify = 0;
        argv++, argc--;
    }
    if (argc != 2) {
        fprintf(stderr, "usage: fdformat [-n] DEVICE\n");
        return 2;
    }
    dev = argv[1];
    fd = open(dev, O_RDWR);
    if (fd < 0) {
        perror(dev);
        return 1;
    }
    if (ioctl(fd, FDGETPRM, &p) < 0) {
        perror("FDGETPRM");
        return 1;
    }
    printf("fdformat: %u cylinders, %u heads, %u sectors/track, %u sectors\n",
           p.track, p.head, p.sect, p.size);
    if (ioctl(fd, FDFMTBEG, NULL) < 0) {
        perror("FDFMTBEG");
        return 1;
    }
    for (track = 0; track < p.track; track++) {
        for (head = 0; head < p.head; head++) {
            d.device = 0;
            d.head = head;
            d.track = track;
            if (ioctl(fd, FDFMTTRK, &d) < 0) {
                fprintf(stderr, "FDFMTTRK track %u head %u: %s\n", track, head, strerror(errno));
                return 1;
            }
        }
    }
    if (ioctl(fd, FDFMTEND, NULL) < 0) {
        perror("FDFMTEND");
        return 1;
    }
    printf("fdformat: formatted\n");
    if (verify) {
        size_t tlen = (size_t)p.sect * p.head * 512;
        char *buf = malloc(tlen);
        for (track = 0; track < p.track; track++) {
            ssize_t got;
            if (lseek(fd, (off_t)track * tlen, SEEK_SET) < 0)
                return 1;
            got = read(fd, buf, tlen);
            if (got != (ssize_t)tlen) {
                fprintf(stderr, "verify: cylinder %u: %s\n", track, got < 0 ? strerror(errno) : "short read");
                bad++;
            }
        }
        printf("fdformat: verified, %d bad cylinders\n", bad);
    }
    close(fd);
    return bad ? 1 : 0;
}
