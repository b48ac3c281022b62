/* fdcprog: drive the floppy controller directly from user space (no floppy.ko loaded),
 * to sit in states a driver passes through too quickly for a host to catch:
 *   - a controller reset (DOR) followed by a long pause before the four SENSE INTERRUPTs
 *     (QEMU sends fdc/reset_sensei while they are outstanding),
 *   - READ ID (0x4a) and the 20 ms wait for its result (fdc/result_timer),
 *   - PERPENDICULAR MODE with OW set (fdrive/perpendicular),
 *   - seeks, recalibrates, relative seeks past both ends of the disk.
 * No DMA: none of these commands has a data phase.  The IRQ is not used (the kernel has
 * no handler for IRQ 6); completion is seen by polling SRA.INTPEND and MSR.
 * Around every state it writes "MARK <label>" to COM2 (as /bin/mark does); labels that
 * start with "hold-" are states the guest stays in for a while, so the host can migrate.
 * Results go to stdout (the recording's guest_output).  Built with gcc -static.
 *
 * usage: fdcprog [resets [readids [seconds_of_readid_loop]]]
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/io.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define BASE 0x3f0
#define SRA (BASE + 0)
#define DOR (BASE + 2)
#define MSR (BASE + 4)
#define DSR (BASE + 4)
#define FIFO (BASE + 5)
#define DIR (BASE + 7)
#define CCR (BASE + 7)

static int com2 = -1;
static int errors;

static void mark(const char *fmt, ...)
{
    char line[128];
    va_list ap;
    int n;
    strcpy(line, "MARK ");
    va_start(ap, fmt);
    n = 5 + vsnprintf(line + 5, sizeof line - 6, fmt, ap);
    va_end(ap);
    line[n++] = '\n';
    if (com2 < 0)
        com2 = open("/dev/ttyS1", O_WRONLY | O_NOCTTY);
    if (com2 >= 0) {
        if (write(com2, line, n) != n)
            perror("mark");
        tcdrain(com2);
    }
}

static void sleep_us(long us)
{
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Wait until MSR & mask == want; poll without delay first, then every 1 ms. */
static int wait_msr(unsigned mask, unsigned want, int timeout_ms, const char *what)
{
    int i;
    unsigned v = 0;
    for (i = 0; i < 50; i++) {
        v = inb(MSR);
        if ((v & mask) == want)
            return v;
    }
    for (i = 0; i < timeout_ms; i++) {
        sleep_us(1000);
        v = inb(MSR);
        if ((v & mask) == want)
            return v;
    }
    printf("  timeout waiting for MSR&%02x=%02x (%s), MSR=%02x\n", mask, want, what, v);
    errors++;
    return -1;
}

static int out_byte(unsigned b)
{
    if (wait_msr(0xc0, 0x80, 100, "command byte") < 0)
        return -1;
    outb(b, FIFO);
    return 0;
}

/* Read the result phase; returns the number of bytes. */
static int result(unsigned char *r, int max)
{
    int n = 0;
    for (;;) {
        int v = wait_msr(0x80, 0x80, 100, "result");
        if (v < 0)
            return -1;
        if ((v & 0xd0) == 0x80)
            return n; /* back in the command phase */
        if ((v & 0xd0) != 0xd0) {
            printf("  unexpected MSR %02x in result phase\n", v);
            errors++;
            return -1;
        }
        if (n < max)
            r[n] = inb(FIFO);
        else
            inb(FIFO);
        n++;
    }
}

static void print_bytes(const char *what, const unsigned char *r, int n)
{
    int i;
    printf("  %s:", what);
    for (i = 0; i < n; i++)
        printf(" %02x", r[i]);
    printf("\n");
}

/* Send a command and read its result phase immediately (no-interrupt commands). */
static int cmd(const char *what, const unsigned char *c, int nc, unsigned char *r, int max)
{
    int i, n;
    for (i = 0; i < nc; i++)
        if (out_byte(c[i]) < 0)
            return -1;
    n = result(r, max);
    if (n >= 0)
        print_bytes(what, r, n);
    return n;
}

static int wait_intpend(int timeout_ms, const char *what)
{
    int i;
    for (i = 0; i < timeout_ms; i++) {
        if (inb(SRA) & 0x80)
            return 0;
        sleep_us(1000);
    }
    printf("  no interrupt (%s)\n", what);
    errors++;
    return -1;
}

static int sensei(unsigned char *st0, unsigned char *pcn)
{
    unsigned char c = 0x08, r[4];
    int n, i;
    for (i = 0; i < 1; i++)
        if (out_byte(c) < 0)
            return -1;
    n = result(r, 4);
    *st0 = n > 0 ? r[0] : 0xff;
    *pcn = n > 1 ? r[1] : 0xff;
    return n;
}

/* SEEK-like command (no result phase): send, wait for INTPEND, SENSE INTERRUPT. */
static int seek_cmd(const char *what, const unsigned char *c, int nc)
{
    unsigned char st0, pcn;
    int i;
    for (i = 0; i < nc; i++)
        if (out_byte(c[i]) < 0)
            return -1;
    wait_intpend(500, what);
    if (sensei(&st0, &pcn) < 0)
        return -1;
    printf("  %s: ST0 %02x PCN %d\n", what, st0, pcn);
    return pcn;
}

static void reset_controller(int pause_ms, const char *label)
{
    unsigned char st0, pcn;
    int i;
    outb(0x08, DOR); /* nRESET low, DMA gate on, drive 0 */
    sleep_us(100);
    outb(0x0c, DOR); /* leave reset: QEMU resets and raises IRQ; 4 SENSEI owed */
    if (label) {
        mark("%s", label);
        sleep_us(pause_ms * 1000L);
    }
    printf("  reset: SRA %02x MSR %02x\n", inb(SRA), inb(MSR));
    mark("sensei");
    for (i = 0; i < 4; i++) {
        if (sensei(&st0, &pcn) < 0)
            break;
        printf("  sensei %d: ST0 %02x PCN %d\n", i, st0, pcn);
        if (st0 != 0xc0 + i) {
            printf("  UNEXPECTED ST0 (want %02x)\n", 0xc0 + i);
            errors++;
        }
    }
    {
        unsigned char c[3] = {0x03, 0xaf, 0x02}; /* SPECIFY: SRT/HUT, HLT, ND=0 (DMA) */
        for (i = 0; i < 3; i++)
            out_byte(c[i]);
    }
}

static void readid(int drive, int head, int sleep_first_ms, const char *label, int print)
{
    unsigned char c[2] = {0x4a, (unsigned char)((head << 2) | drive)}, r[8];
    int n, i;
    double t0;
    for (i = 0; i < 2; i++)
        out_byte(c[i]);
    t0 = now();
    if (label)
        mark("%s", label);
    if (sleep_first_ms)
        sleep_us(sleep_first_ms * 1000L);
    /* the 20 ms wait: RQM stays clear until QEMU's result timer fires */
    if (wait_msr(0xc0, 0xc0, 200, "READ ID result") < 0)
        return;
    n = result(r, 8);
    if (print || n != 7 || (r[0] & 0xc0))
        printf("  readid d%d h%d after %.1f ms: n=%d ST0 %02x ST1 %02x ST2 %02x C %d H %d R %d N %d\n",
               drive, head, (now() - t0) * 1e3, n, r[0], r[1], r[2], r[3], r[4], r[5], r[6]);
    if (n != 7 || (r[0] & 0xc0)) {
        printf("  READ ID FAILED\n");
        errors++;
    }
}

int main(int argc, char **argv)
{
    int resets = argc > 1 ? atoi(argv[1]) : 4;
    int readids = argc > 2 ? atoi(argv[2]) : 8;
    double loop_s = argc > 3 ? atof(argv[3]) : 3.0;
    unsigned char r[16];
    int i, d, n;

    setvbuf(stdout, NULL, _IOLBF, 0);
    if (ioperm(BASE, 8, 1) < 0 || ioperm(0x80, 1, 1) < 0) {
        perror("ioperm");
        return 1;
    }
    printf("fdcprog: SRA %02x SRB %02x DOR %02x MSR %02x DIR %02x\n", inb(SRA), inb(BASE + 1),
           inb(DOR), inb(MSR), inb(DIR));

    mark("prog-reset");
    reset_controller(0, NULL);
    {
        unsigned char c1[] = {0x10};
        cmd("VERSION", c1, 1, r, 16);
    }
    {
        unsigned char c2[] = {0x0e};
        cmd("DUMPREG", c2, 1, r, 16);
    }

    /* resets with a pause before the SENSE INTERRUPTs */
    for (i = 0; i < resets; i++)
        reset_controller(500, "hold-reset");

    /* seeks on both drives and both heads */
    mark("seek");
    outb(0x0c, DOR);
    outb(0x00, CCR);
    for (d = 0; d < 2; d++) {
        unsigned char c[3];
        outb(0x0c | d | (0x10 << d), DOR); /* select d, its motor on */
        c[0] = 0x07, c[1] = d;
        seek_cmd("RECALIBRATE", c, 2);
        c[0] = 0x0f, c[1] = d, c[2] = 40;
        seek_cmd("SEEK 40", c, 3);
        c[0] = 0x0f, c[1] = 4 | d, c[2] = 79;
        seek_cmd("SEEK 79 h1", c, 3);
        c[0] = 0xcf, c[1] = d, c[2] = 10; /* relative seek in, past the last cylinder */
        seek_cmd("RELATIVE SEEK IN 10 (past the end)", c, 3);
        c[0] = 0x8f, c[1] = d, c[2] = 100; /* relative seek out, past cylinder 0 */
        seek_cmd("RELATIVE SEEK OUT 100 (past 0)", c, 3);
        c[0] = 0x0f, c[1] = d, c[2] = 2;
        seek_cmd("SEEK 2", c, 3);
        c[0] = 0x04, c[1] = d;
        cmd("SENSE DRIVE STATUS", c, 2, r, 16);
    }

    /* READ ID: held ones (the guest marks right after the command bytes, then waits) */
    mark("readid");
    outb(0x1c, DOR); /* drive 0, motor 0 on */
    {
        unsigned char c[3] = {0x0f, 0, 5};
        seek_cmd("SEEK 5", c, 3);
    }
    for (i = 0; i < readids; i++)
        readid(i & 1 ? 1 : 0, (i >> 1) & 1, 0, "hold-readid", 1);
    outb(0x1c, DOR);
    /* READ ID loop: most of the time is the 20 ms wait */
    mark("readid-loop");
    {
        double t_end = now() + loop_s;
        int count = 0;
        while (now() < t_end) {
            readid(0, count & 1, 15, NULL, count < 2);
            count++;
        }
        printf("  readid loop: %d READ IDs in %.1f s\n", count, loop_s);
    }

    /* PERPENDICULAR MODE with OW: drive 0 gets 3, then drive 1 gets 2; DUMPREG shows them */
    mark("perpendicular");
    outb(0x1c, DOR);
    {
        unsigned char c[2] = {0x12, 0x83};
        cmd("PERPENDICULAR 0x83 on drive 0", c, 2, r, 16);
        c[0] = 0x0e;
        cmd("DUMPREG", c, 1, r, 16);
    }
    mark("hold-perpendicular");
    sleep_us(1000000);
    outb(0x2d, DOR);
    {
        unsigned char c[2] = {0x12, 0x82};
        cmd("PERPENDICULAR 0x82 on drive 1", c, 2, r, 16);
        c[0] = 0x0e;
        n = cmd("DUMPREG", c, 1, r, 16);
        (void)n;
        c[0] = 0x12, c[1] = 0x00; /* OW clear: no change */
        cmd("PERPENDICULAR 0x00", c, 2, r, 16);
    }
    /* READ ID while perpendicular is set, and a reset: perpendicular survives it */
    readid(1, 0, 0, NULL, 1);
    reset_controller(300, "hold-reset-perpendicular");
    {
        unsigned char c[1] = {0x0e};
        cmd("DUMPREG after reset", c, 1, r, 16);
    }
    mark("hold-perpendicular-idle");
    sleep_us(1000000);
    /* clear both drives' setting again */
    mark("perpendicular-clear");
    outb(0x1c, DOR);
    {
        unsigned char c[2] = {0x12, 0x80};
        cmd("PERPENDICULAR 0x80 on drive 0", c, 2, r, 16);
        outb(0x2d, DOR);
        cmd("PERPENDICULAR 0x80 on drive 1", c, 2, r, 16);
        c[0] = 0x0e;
        cmd("DUMPREG", c, 1, r, 16);
    }
    mark("prog-end");
    reset_controller(0, NULL);
    outb(0x0c, DOR); /* motors off */
    printf("fdcprog: %s (%d errors)\n", errors ? "FAILED" : "OK", errors);
    return errors ? 1 : 0;
}
