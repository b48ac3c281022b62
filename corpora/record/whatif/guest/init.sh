#!/bin/busybox sh
# /init of the what-if initramfs (corpora/record/whatif).  Kernel parameters: wl=NAME (the
# workload, in /bin/wi.sh), wd=SECONDS (watchdog, counted from "MARK wi-start": if the
# workload has not finished by then, the results so far and dmesg are printed on COM1 with a
# WATCHDOG line, and the guest goes on).
# COM1 (console, ttyS0) stays silent until the end; markers go to COM2 (ttyS1) through
# /bin/mark; the workload's output is kept in /tmp/out and printed on COM1 after "MARK done",
# followed by the whole dmesg:
#   RESULT-BEGIN / ...workload lines... / DMESG-BEGIN / ...dmesg... / RESULT-END
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mkdir -p /tmp /mnt
mount -t tmpfs tmp /tmp
exec >/tmp/out 2>&1 </dev/null
echo "wl=$wl kernel=$(uname -r)"
stty -F /dev/ttyS1 115200 -echo -icrnl

report() {  # $1: heading line
    {
        echo "$1"
        cat /tmp/out
        echo "DMESG-BEGIN"
        dmesg
        echo "RESULT-END"
    } > /dev/ttyS0
}
watchdog() {  # started at wi-start
    sleep "${wd:-90}"
    report "WATCHDOG after ${wd:-90} s"
}

mark boot
for m in fat vfat nls_cp437 nls_ascii nls_iso8859-1; do insmod /modules/$m.ko; done
floppy_module=floppy
case "$wl" in
wi-readid*|wi-perp*|wi-lreset*) floppy_module=floppy-rawcmd ;;
wi-prog-*) floppy_module= ;;
esac
mark probe
if [ -n "$floppy_module" ]; then
    insmod /modules/$floppy_module.ko || echo "insmod $floppy_module failed"
    n=0; while [ ! -b /dev/fd0 ] && [ $n -lt 50 ]; do sleep 0.1; n=$((n+1)); done
fi
. /bin/wi.sh
mark done
kill $wdpid 2>/dev/null
report "RESULT-BEGIN"
sleep 0.2
poweroff -f
