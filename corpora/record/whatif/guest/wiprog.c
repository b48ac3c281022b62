/* wiprog: the what-if experiments' FDC program.  Like corpora/record/guest/fdcprog.c it
 * drives the floppy controller from user space (ioperm, no floppy.ko, polling, no DMA), and
 * sits for a while in one of the states where QEMU sends a rare subsection, so that the host
 * can migrate it there; then it checks what the controller answers and behaves like a small
 * careful driver: on an unexpected answer it logs "ERR", resets the controller, redoes the
 * step once and logs "RECOVERED" or "FAILED".
 *
 * usage: wiprog MODE ITERATIONS PAUSE_MS
 *   reset    each iteration: DOR reset, "MARK hold-reset", pause, the 4 SENSE INTERRUPTs
 *            (ST0 c0..c3 expected), SPECIFY, RECALIBRATE + SENSE INTERRUPT, READ ID
 *            (fdc/reset_sensei is sent during the pause)
 *   readid   each iteration: READ ID (0x4a) on drive 0, "MARK hold-readid" right after the
 *            command bytes, then the result is waited for up to 1000 ms (QEMU answers after
 *            20 ms of virtual time; fdc/result_timer is sent while it waits), then a pause
 *   perp     PERPENDICULAR MODE 0x83 (OW, drive 0) once, then each iteration:
 *            "MARK hold-perp", pause, DUMPREG (byte 7 = perpendicular << 2, 0x0c
 *            expected), SAVE (byte 9 = lock << 7 | perpendicular << 2), READ ID; the values are logged
 *            ("NOTE" when they differ from what was programmed: no driver checks them);
 *            at the end PERPENDICULAR 0x80 clears it (fdrive/perpendicular is sent
 *            throughout)
 * Markers "MARK wi-start", "MARK wi-it N", "MARK wi-end" go to COM2 (as /bin/mark does).
 * Results on stdout, one line per event, and a last line
 *   WIPROG mode=M iterations=N ok=A errors=B recovered=C failed=D notes=E
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
#define FIFO (BASE + 5)
#define DIR (BASE + 7)
#define CCR (BASE + 7)

static int com2 = -1;
static int errs;          /* errors seen in the current step */
static int n_err, n_rec, n_fail, n_ok, n_note;

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

static void err(const char *fmt, ...)
{
    va_list ap;
    printf("  ERR ");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    errs++;
}

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
    err("timeout %d ms waiting for MSR&%02x=%02x (%s), MSR=%02x", timeout_ms, mask, want, what, v);
    return -1;
}

static int out_byte(unsigned b)
{
    if (wait_msr(0xc0, 0x80, 100, "command byte") < 0)
        return -1;
    outb(b, FIFO);
    return 0;
}

static int result(unsigned char *r, int max)
{
    int n = 0;
    for (;;) {
        int v = wait_msr(0x80, 0x80, 100, "result");
        if (v < 0)
            return -1;
        if ((v & 0xd0) == 0x80)
            return n;
        if ((v & 0xd0) != 0xd0) {
            err("unexpected MSR %02x in result phase", v);
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

static int cmd(const char *what, const unsigned char *c, int nc, unsigned char *r, int max, int print)
{
    int i, n;
    for (i = 0; i < nc; i++)
        if (out_byte(c[i]) < 0)
            return -1;
    n = result(r, max);
    if (n >= 0 && print)
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
    err("no interrupt (%s)", what);
    return -1;
}

static int sensei(unsigned char *st0, unsigned char *pcn)
{
    unsigned char r[4];
    int n;
    if (out_byte(0x08) < 0)
        return -1;
    n = result(r, 4);
    *st0 = n > 0 ? r[0] : 0xff;
    *pcn = n > 1 ? r[1] : 0xff;
    return n;
}

static void specify(void)
{
    unsigned char c[3] = {0x03, 0xaf, 0x02};
    int i;
    for (i = 0; i < 3; i++)
        out_byte(c[i]);
}

/* DOR reset; optional hold marker and pause; the 4 SENSE INTERRUPTs, checked */
static void reset_controller(int pause_ms, const char *label, int print)
{
    unsigned char st0, pcn;
    int i, n;
    outb(0x08, DOR);
    sleep_us(100);
    outb(0x1c, DOR); /* out of reset, DMA gate, drive 0 selected, motor 0 on */
    if (label) {
        mark("%s", label);
        sleep_us(pause_ms * 1000L);
    }
    for (i = 0; i < 4; i++) {
        n = sensei(&st0, &pcn);
        if (n < 0)
            break;
        if (print)
            printf("  sensei %d: n=%d ST0 %02x PCN %d\n", i, n, st0, pcn);
        if (n != 2 || st0 != 0xc0 + i)
            err("sensei %d after reset: n=%d ST0 %02x (want 2 bytes, ST0 %02x)", i, n, st0, 0xc0 + i);
    }
    specify();
}

static int recalibrate(int print)
{
    unsigned char c[2] = {0x07, 0x00}, st0, pcn;
    int i;
    for (i = 0; i < 2; i++)
        if (out_byte(c[i]) < 0)
            return -1;
    if (wait_intpend(500, "recalibrate") < 0)
        return -1;
    if (sensei(&st0, &pcn) < 0)
        return -1;
    if (print)
        printf("  recalibrate: ST0 %02x PCN %d\n", st0, pcn);
    if (st0 != 0x20 || pcn != 0) {
        err("recalibrate: ST0 %02x PCN %d (want 20, 0)", st0, pcn);
        return -1;
    }
    return 0;
}

static int seek(int cyl)
{
    unsigned char c[3] = {0x0f, 0x00, (unsigned char)cyl}, st0, pcn;
    int i;
    for (i = 0; i < 3; i++)
        if (out_byte(c[i]) < 0)
            return -1;
    if (wait_intpend(500, "seek") < 0)
        return -1;
    if (sensei(&st0, &pcn) < 0)
        return -1;
    if (st0 != 0x20 || pcn != cyl) {
        err("seek %d: ST0 %02x PCN %d", cyl, st0, pcn);
        return -1;
    }
    return 0;
}

/* READ ID on drive 0 head 0; label: hold marker written right after the command bytes */
static int readid(int cyl, const char *label, int print)
{
    unsigned char c[2] = {0x4a, 0x00}, r[8];
    int n, i;
    double t0;
    for (i = 0; i < 2; i++)
        if (out_byte(c[i]) < 0)
            return -1;
    t0 = now();
    if (label)
        mark("%s", label);
    if (wait_msr(0xc0, 0xc0, 1000, "READ ID result") < 0)
        return -1;
    n = result(r, 8);
    if (print)
        printf("  readid after %.1f ms: n=%d ST0 %02x ST1 %02x ST2 %02x C %d H %d R %d N %d\n",
               (now() - t0) * 1e3, n, r[0], r[1], r[2], r[3], r[4], r[5], r[6]);
    if (n != 7 || (r[0] & 0xc0) || r[3] != cyl) {
        err("readid: n=%d ST0 %02x C %d (want 7 bytes, ST0 00, C %d)", n, r[0], r[3], cyl);
        return -1;
    }
    return 0;
}

/* a fresh start after an error: reset (no pause), specify, recalibrate, seek */
static void recover(int cyl)
{
    reset_controller(0, NULL, 0);
    recalibrate(0);
    if (cyl)
        seek(cyl);
}

static void perp_check(int it)
{
    unsigned char c[1], r[16];
    int n;
    c[0] = 0x0e;
    n = cmd("DUMPREG", c, 1, r, 16, 0);
    if (n == 10) {
        printf("  it %d: DUMPREG byte7 %02x%s\n", it, r[7], r[7] == 0x0c ? "" : " NOTE (programmed 0x0c)");
        n_note += r[7] != 0x0c;
    } else
        err("DUMPREG: n=%d", n);
    c[0] = 0x2e;
    n = cmd("SAVE", c, 1, r, 16, 0);
    if (n == 15) {
        printf("  it %d: SAVE byte9 %02x%s\n", it, r[9], r[9] == 0x0c ? "" : " NOTE (programmed 0x0c)");
        n_note += r[9] != 0x0c;
    } else
        err("SAVE: n=%d", n);
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "reset";
    int iters = argc > 2 ? atoi(argv[2]) : 10;
    int pause_ms = argc > 3 ? atoi(argv[3]) : 300;
    int it, cyl = 3;
    unsigned char r[16];

    setvbuf(stdout, NULL, _IOLBF, 0);
    if (ioperm(BASE, 8, 1) < 0) {
        perror("ioperm");
        return 1;
    }
    printf("wiprog %s %d %d: SRA %02x DOR %02x MSR %02x DIR %02x\n", mode, iters, pause_ms,
           inb(SRA), inb(DOR), inb(MSR), inb(DIR));
    errs = 0;
    reset_controller(0, NULL, 1);
    outb(0x00, CCR);
    recalibrate(1);
    seek(cyl);
    if (!strcmp(mode, "perp")) {
        unsigned char c[2] = {0x12, 0x83};
        cmd("PERPENDICULAR 0x83 (drive 0)", c, 2, r, 16, 1);
        perp_check(0);
    }
    if (errs)
        printf("  setup errors: %d\n", errs);
    mark("wi-start");
    for (it = 1; it <= iters; it++) {
        int again;
        for (again = 0; again < 2; again++) {
            errs = 0;
            if (!strcmp(mode, "reset")) {
                reset_controller(again ? 0 : pause_ms, again ? NULL : "hold-reset", it <= 1);
                if (!errs)
                    recalibrate(it <= 1);
                if (!errs)
                    seek(cyl);
                if (!errs)
                    readid(cyl, NULL, it <= 1);
            } else if (!strcmp(mode, "readid")) {
                readid(cyl, again ? NULL : "hold-readid", it <= 1);
                if (!again)
                    sleep_us(pause_ms * 1000L);
            } else if (!strcmp(mode, "perp")) {
                if (!again) {
                    mark("hold-perp");
                    sleep_us(pause_ms * 1000L);
                }
                perp_check(it);
                if (!errs)
                    readid(cyl, NULL, 0);
            } else {
                printf("unknown mode %s\n", mode);
                return 2;
            }
            if (!errs) {
                if (again) {
                    printf("  RECOVERED it %d\n", it);
                    n_rec++;
                } else
                    n_ok++;
                break;
            }
            if (again) {
                printf("  FAILED it %d\n", it);
                n_fail++;
                break;
            }
            n_err++;
            printf("  retry it %d after a reset\n", it);
            recover(cyl);
        }
        mark("wi-it %d", it);
    }
    mark("wi-end");
    if (!strcmp(mode, "perp")) {
        unsigned char c[2] = {0x12, 0x80};
        cmd("PERPENDICULAR 0x80 (clear)", c, 2, r, 16, 1);
        c[0] = 0x0e;
        cmd("DUMPREG", c, 1, r, 16, 1);
    }
    outb(0x0c, DOR); /* motor off */
    printf("WIPROG mode=%s iterations=%d ok=%d errors=%d recovered=%d failed=%d notes=%d\n", mode, iters,
           n_ok, n_err, n_rec, n_fail, n_note);
    return n_fail ? 1 : 0;
}
