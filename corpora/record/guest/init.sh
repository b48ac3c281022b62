#!/bin/busybox sh
# /init of the recorder's initramfs.  The workload is chosen with the kernel
# parameter wl=NAME (passed to init as an environment variable).
# Rules: COM1 (console, ttyS0) stays silent while the workload runs; stage
# markers go to COM2 (ttyS1) through /bin/mark (waits for the UART to drain);
# all command output is kept in /tmp/out and printed on COM1 after "MARK done".
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mkdir -p /tmp /mnt /mnt2
mount -t tmpfs tmp /tmp
exec >/tmp/out 2>&1 </dev/null
echo "wl=$wl kernel=$(uname -r)"
# ttyS1 stays open for reading host replies ("go" lines) in the media-change
# workload; no echo so replies do not come back out through the UART.
stty -F /dev/ttyS1 115200 -echo -icrnl
exec 4</dev/ttyS1

mark boot
insmod /modules/fat.ko
insmod /modules/vfat.ko
insmod /modules/nls_cp437.ko
insmod /modules/nls_ascii.ko
insmod /modules/nls_iso8859-1.ko
# Which floppy driver: the stock floppy.ko, the FDRAWCMD build (floppy-rawcmd.ko, made by
# build-floppy-rawcmd.sh) with driver options, or none (fdcprog drives the ports itself).
floppy_module=floppy floppy_opts=
case "$wl" in
rawcmd*|geom-*|test) floppy_module=floppy-rawcmd ;;
opts-daring) floppy_opts="daring" ;;
opts-nofifo) floppy_opts="nofifo" ;;
opts-mix) floppy_opts="daring two_fdc nofifo unexpected_interrupts slow all_drives 1,4,cmos 6,irq 2,dma" ;;
fdcprog*) floppy_module= ;;
esac
mark probe
if [ -n "$floppy_module" ]; then
    if [ -n "$floppy_opts" ]; then
        # the driver splits its floppy= string at spaces; the kernel needs it quoted
        insmod /modules/$floppy_module.ko "floppy=\"$floppy_opts\"" || echo "insmod $floppy_module failed"
    else
        insmod /modules/$floppy_module.ko || echo "insmod $floppy_module failed"
    fi
    n=0; while [ ! -b /dev/fd0 ] && [ $n -lt 50 ]; do sleep 0.1; n=$((n+1)); done
    ls -l /dev/fd*
fi

waitgo() {  # tell the host we wait (marker), then block until it answers
    mark "$1"
    read -r reply <&4
    echo "host replied: $reply"
}
readall() {  # read a whole disk track by track and print its sha256
    echo "read $1: $(dd if=$1 bs=$2 2>/tmp/dd.err | sha256sum)"; cat /tmp/dd.err
}
filesystem_cycle() {  # $1 device, $2 payload list file: mount, copy, sync, umount, remount, verify
    mark mount
    mount -t vfat $1 /mnt || echo "MOUNT FAILED"
    mark copy
    for f in $(cat $2); do cp /payload/$f /mnt/; done
    ls -l /mnt
    mark sync
    sync
    mark umount
    umount /mnt
    echo 3 > /proc/sys/vm/drop_caches
    mark verify
    mount -t vfat -o ro $1 /mnt || echo "MOUNT FAILED"
    (cd /mnt && grep -F -f $2 /payload/SHA256SUMS | sha256sum -c) && echo "VERIFY OK" || echo "VERIFY FAILED"
    df /mnt
    umount /mnt
}

case "$wl" in
probe)
    mark idle
    sleep 4
    ;;
install)
    mark mkfs
    mkfs.fat -i 1d0c0001 -n FDCINSTALL /dev/fd0
    filesystem_cycle /dev/fd0 /payload/set-1440
    mark idle
    sleep 4
    ;;
readscan)
    mark read
    readall /dev/fd0 18432
    mark idle
    sleep 4
    ;;
fdformat)
    mark format
    fdformat -n /dev/fd0
    mark verify
    readall /dev/fd0 18432
    mark idle
    sleep 4
    ;;
720k)
    mark read
    readall /dev/fd0 9216
    filesystem_cycle /dev/fd0 /payload/set-720
    mark idle
    sleep 4
    ;;
2880k)
    mark read
    readall /dev/fd0 36864
    filesystem_cycle /dev/fd0 /payload/set-2880
    mark idle
    sleep 4
    ;;
2drives)
    mark mkfs
    mkfs.fat -i 1d0c0002 -n FDCDRIVEA /dev/fd0
    mark mount
    mount -t vfat /dev/fd0 /mnt
    mark copy
    for f in $(cat /payload/set-720); do cp /payload/$f /mnt/; done
    mark sync
    sync
    umount /mnt
    echo 3 > /proc/sys/vm/drop_caches
    mark diskcopy
    dd if=/dev/fd0 of=/dev/fd1 bs=18432
    mark sync
    sync
    echo 3 > /proc/sys/vm/drop_caches
    mark verify
    readall /dev/fd0 18432
    readall /dev/fd1 18432
    mount -t vfat -o ro /dev/fd0 /mnt
    mount -t vfat -o ro /dev/fd1 /mnt2
    (cd /mnt2 && grep -F -f /payload/set-720 /payload/SHA256SUMS | sha256sum -c) && echo "VERIFY OK" || echo "VERIFY FAILED"
    ls -l /mnt /mnt2
    umount /mnt /mnt2
    mark idle
    sleep 4
    ;;
writeprotect)
    mark read
    readall /dev/fd0 18432
    mark mount
    mount -t vfat /dev/fd0 /mnt && echo "mount ok" || echo "mount failed"
    grep fd0 /proc/mounts
    ls -l /mnt
    umount /mnt
    mark write
    dd if=/dev/zero of=/dev/fd0 bs=512 count=1 && echo "write: success" || echo "write: refused"
    mark format
    fdformat -n /dev/fd0 && echo "format: success" || echo "format: refused"
    mark idle
    sleep 4
    ;;
mediachange)
    mark read-a
    readall /dev/fd0 18432
    mark idle-a
    sleep 1
    waitgo wait-eject
    mark read-empty
    timeout 60 dd if=/dev/fd0 of=/dev/null bs=512 count=1 && echo "read without medium: success" || echo "read without medium: failed"
    waitgo wait-insert
    mark read-b
    readall /dev/fd0 18432
    mark idle
    sleep 4
    ;;
rawcmd*|geom-*|opts-*|fdcprog*)
    . /bin/rawcmd.sh
    ;;
test)
    . /bin/test.sh
    ;;
*)
    echo "unknown workload '$wl'"
    ;;
esac

mark done
echo "RESULT-END"
cat /tmp/out > /dev/ttyS0
sleep 0.2
poweroff -f
