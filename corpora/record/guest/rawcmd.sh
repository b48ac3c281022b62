# rawcmd.sh: workloads of the raw-command, odd-geometry, driver-option and fdcprog
# recordings; sourced by /init (busybox sh) with $wl set, stdout = the results file.
#
# fdrawcmd (fdutils 5.6) notes: a device is given as a path (/dev/fd1); "drive=0" would
# mean file descriptor 0.  The named "readid" sends 0xEA, which QEMU does not decode: READ
# ID is sent as 0x4a.  The named "partid" sends SAVE: PART ID is sent as 0x18.  "short"
# prints the result bytes on one line (then "disk_change"/"no_disk_change").

# R LABEL ARGS...: a raw command without data; prints the result bytes.
R() {
    l=$1; shift
    echo "$l: $(fdrawcmd short "$@" 2>&1 </dev/null | tr '\n' ' ')"
}
# RD LABEL OUT ARGS...: a raw command that reads data (DMA into memory) into OUT.
RD() {
    l=$1 o=$2; shift 2
    echo "$l: $(fdrawcmd short "$@" 2>&1 >"$o" </dev/null | tr '\n' ' ') data $(sha256sum <"$o" | cut -c1-16) $(wc -c <"$o")B"
}
# RW LABEL IN ARGS...: a raw command that takes data from memory (DMA out of memory) from IN.
RW() {
    l=$1 i=$2; shift 2
    echo "$l: $(fdrawcmd short "$@" 2>&1 <"$i" >/dev/null | tr '\n' ' ')"
}
# RID LABEL REPEAT ARGS...: a repeated raw command (READ ID loop); prints the number of
# results, the first and the last one.
RID() {
    l=$1 n=$2; shift 2
    fdrawcmd short repeat=$n "$@" 2>&1 </dev/null | grep . > /tmp/rid.out
    echo "$l x$n: $(wc -l </tmp/rid.out) results, first: $(head -1 /tmp/rid.out), last: $(tail -1 /tmp/rid.out)"
}
# blk DEV LBA COUNT OUT: the same sectors through the block device (the reference).
blk() {
    dd if=$1 of=$4 bs=512 skip=$2 count=$3 2>/dev/null
}
same() {  # same LABEL A B
    if cmp -s "$2" "$3"; then echo "CHECK $1: OK"; else echo "CHECK $1: MISMATCH"; fi
}
pattern() {  # pattern SEED BYTES OUT: deterministic data
    i=0; : > "$3"
    while [ $(wc -c <"$3") -lt $2 ]; do echo "fdc-$1-$i" | sha256sum >> "$3"; i=$((i+1)); done
    head -c $2 "$3" > "$3.t" && mv "$3.t" "$3"
}
# format_ids C H SPT: a FORMAT TRACK id table (C H R N=2 per sector) on stdout
format_ids() {
    s=1
    while [ $s -le $3 ]; do printf "$(printf '\\%03o\\%03o\\%03o\\%03o' $1 $2 $s 2)"; s=$((s+1)); done
}

rawcmd_info() {  # the no-data commands of the 82078 set, on drive $1
    dev=$1
    R "VERSION 10" $dev 0x10
    R "DUMPREG 0e" $dev 0x0e
    R "PART ID 18" $dev 0x18
    R "SAVE 2e" $dev 0x2e
    save=$(fdrawcmd short $dev 0x2e 2>&1 </dev/null | tr ' ' '\n' | grep '^0x' | tr '\n' ' ')
    R "LOCK 94" $dev 0x94
    R "DUMPREG (locked)" $dev 0x0e
    R "UNLOCK 14" $dev 0x14
    R "CONFIGURE 13 00 1a 00" $dev 0x13 0 0x1a 0
    R "POWERDOWN 17 00 00" $dev 0x17 0x00 0x00
    R "OPTION 33 00" $dev 0x33 0
    R "RESTORE 4e (SAVE's 15 bytes + 2)" $dev 0x4e $save 0 0
    R "DUMPREG (restored)" $dev 0x0e
    R "DRIVE SPEC 8e 00 01 02 03 c0 (result)" $dev 0x8e 0x00 0x01 0x02 0x03 0xc0
    R "DRIVE SPEC 8e 00 00 00 00 80 (no result)" $dev 0x8e 0x00 0x00 0x00 0x00 0x80
    set -- $(fdrawcmd short $dev 0x0e 2>&1 </dev/null)
    R "SPECIFY 03 (DUMPREG's timers, ND=0)" $dev 0x03 $(( ($5 << 4) & 0xf0 )) $(( $6 & 0xfe ))
    R "SENSE INTERRUPT 08 (none pending)" $dev 0x08
    for op in 0x00 0x01 0x0b 0x1f 0x3f 0xff; do R "invalid $op" $dev $op; done
    R "FORMAT AND WRITE cd (10 params)" $dev 0xcd 0 2 18 0x54 0xf6 0 0 0 0 0
}

rawcmd_seeks() {  # $1 device, $2 drive number
    dev=$1 d=$2
    R "RECALIBRATE 07 d$d" $dev 0x07 $d intr
    R "SENSE DRIVE STATUS 04 d$d h0" $dev 0x04 $d
    R "SENSE DRIVE STATUS 04 d$d h1" $dev 0x04 $((d|4))
    R "SEEK 0f d$d h0 c40" $dev 0x0f $d 40 intr
    R "SEEK 0f d$d h1 c79" $dev 0x0f $((d|4)) 79 intr
    R "RELATIVE SEEK IN cf d$d +10 (past the end)" $dev 0xcf $d 10 intr
    R "READ ID 4a d$d h0 (after seeking past the end)" $dev 0x4a $d intr
    R "RELATIVE SEEK OUT 8f d$d -100 (past 0)" $dev 0x8f $d 100 intr
    R "RELATIVE SEEK IN cf d$d +3" $dev 0xcf $((d|4)) 3 intr
    R "RELATIVE SEEK OUT 8f d$d -1" $dev 0x8f $d 1 intr
    R "SEEK 0f d$d c120 (past the end)" $dev 0x0f $d 120 intr
    R "READ ID 4a d$d h1" $dev 0x4a $((d|4)) intr
    R "SENSE INTERRUPT 08" $dev 0x08
    R "RECALIBRATE 07 d$d" $dev 0x07 $d intr
}

rawcmd_readids() {  # $1 device, $2 drive, $3 repeat
    dev=$1 d=$2
    R "SEEK 0f d$d c3" $dev 0x0f $d 3 intr
    for h in 0 1; do
        RID "READ ID 4a d$d h$h" $3 $dev 0x4a $((d | h<<2)) intr
    done
}

rawcmd_data() {  # $1 device, $2 drive: data commands (DMA), checked against the block device
    dev=$1 d=$2 t=/tmp/rc
    for h in 0 1; do
        c=$((10 + d*20 + h)); lba=$(((c*2+h)*18))
        blk $dev $lba 18 $t.ref
        RD "READ DATA e6 d$d c$c h$h s1 n=1" $t.a $dev rate=0 length=512 0xe6 $((d|h<<2)) $c $h 1 2 18 0x1b 0xff read
        head -c 512 $t.ref > $t.ref1; same "read e6 d$d c$c h$h" $t.a $t.ref1
        RD "READ DATA 46 (no MT) d$d c$c h$h s3-18" $t.a $dev rate=0 length=8192 0x46 $((d|h<<2)) $c $h 3 2 18 0x1b 0xff read
        tail -c 8192 $t.ref > $t.ref1; same "read 46 d$d c$c h$h" $t.a $t.ref1
        RD "READ DATA 06 (FM) d$d c$c h$h s2" $t.a $dev rate=0 length=512 0x06 $((d|h<<2)) $c $h 2 2 18 0x1b 0xff read
        RD "READ TRACK 42 d$d c$c h$h" $t.a $dev rate=0 length=9216 0x42 $((d|h<<2)) $c $h 1 2 18 0x1b 0xff read
        same "read track d$d c$c h$h" $t.a $t.ref
        RD "READ DELETED 4c d$d c$c h$h" $t.a $dev rate=0 length=512 0x4c $((d|h<<2)) $c $h 1 2 18 0x1b 0xff read
        R "VERIFY 56 d$d c$c h$h s1-18" $dev rate=0 0x56 $((d|h<<2)) $c $h 1 2 18 0x1b 0xff intr
        RD "VERIFY 56 with a DMA read d$d c$c h$h" $t.a $dev rate=0 length=1024 0x56 $((d|h<<2)) $c $h 1 2 2 0x1b 0xff read
        head -c 512 $t.ref > $t.s
        RW "SCAN EQUAL 51 (equal data) d$d c$c h$h" $t.s $dev rate=0 length=512 0x51 $((d|h<<2)) $c $h 1 2 1 0x1b 1 write
        RW "SCAN EQUAL 51 (other data) d$d c$c h$h" $t.ref1 $dev rate=0 length=512 0x51 $((d|h<<2)) $c $h 1 2 1 0x1b 1 write
        head -c 512 /dev/zero > $t.z
        RW "SCAN LOW OR EQUAL 59 (zeros) d$d c$c h$h" $t.z $dev rate=0 length=512 0x59 $((d|h<<2)) $c $h 1 2 1 0x1b 1 write
        RW "SCAN HIGH OR EQUAL 5d (zeros) d$d c$c h$h" $t.z $dev rate=0 length=512 0x5d $((d|h<<2)) $c $h 1 2 1 0x1b 1 write
        # writes on cylinder 70+: WRITE DATA, WRITE DELETED, read back
        c=$((70 + d*4 + h))
        pattern w$d$h 2048 $t.w
        RW "WRITE DATA c5 d$d c$c h$h s1-4" $t.w $dev rate=0 length=2048 0xc5 $((d|h<<2)) $c $h 1 2 18 0x1b 0xff write
        RD "READ DATA e6 d$d c$c h$h s1-4 (read back)" $t.a $dev rate=0 length=2048 0xe6 $((d|h<<2)) $c $h 1 2 18 0x1b 0xff read
        same "write c5 + read back d$d c$c h$h" $t.a $t.w
        head -c 512 $t.w > $t.w1
        RW "WRITE DATA 45 (no MT) d$d c$c h$h s9" $t.w1 $dev rate=0 length=512 0x45 $((d|h<<2)) $c $h 9 2 18 0x1b 0xff write
        RW "WRITE DELETED 49 d$d c$c h$h s10" $t.w1 $dev rate=0 length=512 0x49 $((d|h<<2)) $c $h 10 2 18 0x1b 0xff write
        RD "READ DATA 46 d$d c$c h$h s9-10" $t.a $dev rate=0 length=1024 0x46 $((d|h<<2)) $c $h 9 2 18 0x1b 0xff read
        RD "READ DELETED 4c d$d c$c h$h s10" $t.a $dev rate=0 length=512 0x4c $((d|h<<2)) $c $h 10 2 18 0x1b 0xff read
    done
    # FORMAT TRACK of the last cylinder, both heads, then write + read back
    c=79
    for h in 0 1; do
        format_ids $c $h 18 > $t.f
        RW "FORMAT TRACK 4d d$d c$c h$h" $t.f $dev rate=0 length=72 track=$c 0x4d $((d|h<<2)) 2 18 0x54 0xf6 write
        pattern f$d$h 9216 $t.w
        RW "WRITE DATA c5 d$d c$c h$h s1-18 (formatted track)" $t.w $dev rate=0 length=9216 0xc5 $((d|h<<2)) $c $h 1 2 18 0x1b 0xff write
        RD "READ DATA e6 d$d c$c h$h (read back)" $t.a $dev rate=0 length=9216 0xe6 $((d|h<<2)) $c $h 1 2 18 0x1b 0xff read
        same "format + write + read back d$d c$c h$h" $t.a $t.w
    done
    RW "FORMAT AND WRITE cd d$d (answered invalid)" $t.f $dev rate=0 length=72 0xcd $d 2 18 0x54 0xf6 0 0 0 0 0 write
    # a multi-track read of a whole cylinder, and one past the end of the disk
    blk $dev 36 36 $t.ref
    RD "READ DATA e6 d$d c1 MT h0-1 (18 KB)" $t.a $dev rate=0 length=18432 0xe6 $d 1 0 1 2 18 0x1b 0xff read
    same "MT read d$d c1" $t.a $t.ref
    RD "READ DATA e6 d$d c85 (past the end)" $t.a $dev rate=0 length=512 0xe6 $d 85 0 1 2 18 0x1b 0xff read
    RD "READ DATA e6 d$d c2 s19 (no such sector)" $t.a $dev rate=0 length=512 0xe6 $d 2 0 19 2 19 0x1b 0xff read
    RD "READ DATA e6 d$d c2 wrong rate (rate=2)" $t.a $dev rate=2 length=512 0xe6 $d 2 0 1 2 18 0x1b 0xff read
}

perpendicular() {  # $1 device: PERPENDICULAR MODE with OW, DUMPREG shows it
    R "PERPENDICULAR 12 83 (OW, drive of $1)" $1 0x12 0x83
    R "DUMPREG" $1 0x0e
}

case "$wl" in
rawcmd)
    mark info
    rawcmd_info /dev/fd0
    mark seek
    rawcmd_seeks /dev/fd0 0
    rawcmd_seeks /dev/fd1 1
    mark readid
    rawcmd_readids /dev/fd0 0 10
    rawcmd_readids /dev/fd1 1 10
    mark data-fd0
    rawcmd_data /dev/fd0 0
    mark data-fd1
    rawcmd_data /dev/fd1 1
    mark reset
    for i in 1 2 3; do floppycontrol -d /dev/fd0 --resetnow 2 && echo "reset $i ok"; R "VERSION after reset" /dev/fd0 0x10; done
    floppycontrol -d /dev/fd1 --resetnow 2 && echo "reset fd1 ok"
    mark perpendicular
    perpendicular /dev/fd0
    perpendicular /dev/fd1
    mark read
    readall /dev/fd0 18432
    readall /dev/fd1 18432
    R "PERPENDICULAR 12 80 (clear)" /dev/fd0 0x12 0x80
    R "PERPENDICULAR 12 80 (clear)" /dev/fd1 0x12 0x80
    R "DUMPREG" /dev/fd0 0x0e
    mark idle
    sleep 3
    ;;
rawcmd-hold)
    # READ ID loops, resets and perpendicular mode through FDRAWCMD, with the host
    # migrating at random instants (this recording's migration points).
    mark readid-loop
    R "SEEK 0f d0 c7" /dev/fd0 0x0f 0 7 intr
    for i in 1 2 3 4 5 6; do
        RID "READ ID 4a h$((i&1))" 40 /dev/fd0 0x4a $(((i&1)<<2)) intr
    done
    mark hold-perpendicular
    perpendicular /dev/fd0
    RID "READ ID 4a (perpendicular)" 40 /dev/fd0 0x4a 0 intr
    sleep 1
    mark resets
    for i in 1 2 3 4 5 6 7 8; do floppycontrol -d /dev/fd0 --resetnow 2 || echo "reset $i failed"; R "DUMPREG after reset $i" /dev/fd0 0x0e; done
    mark read
    readall /dev/fd0 18432
    mark hold-perpendicular-idle
    sleep 2
    R "PERPENDICULAR 12 80 (clear)" /dev/fd0 0x12 0x80
    R "DUMPREG" /dev/fd0 0x0e
    mark idle
    sleep 2
    ;;
geom-1722)
    # 1.72 MB (21 sectors, 82 cylinders) in a 1.44 MB drive: superformat, setfdprm, FAT
    mark format
    # --deviation 0: skip the rotation-speed measurement (a 1-sector FORMAT, then a read of one
    # 32 KB sector), which QEMU does not emulate and which leaves the medium at 1 sector/track
    superformat -v 1 --deviation 0 /dev/fd0 hd sect=21 cyl=82 2>&1 | tail -20
    mark setfdprm
    setfdprm -p /dev/fd0 1722/1440 && echo "setfdprm -p 1722/1440 ok"
    getfdprm /dev/fd0
    mark mkfs
    mkfs.fat -i 1d0c1722 -n FDC1722K /dev/fd0
    filesystem_cycle /dev/fd0 /payload/set-1440
    mark read
    readall /dev/fd0 21504
    mark idle
    sleep 3
    ;;
geom-720)
    # a 720 KB format (9 sectors, 250 kbit/s) in a 1.44 MB drive: superformat dd, FAT
    mark format
    superformat -v 1 --deviation 0 /dev/fd0 dd 2>&1 | tail -20
    mark setfdprm
    setfdprm -p /dev/fd0 720/720 && echo "setfdprm -p 720/720 ok"
    getfdprm /dev/fd0
    mark mkfs
    mkfs.fat -i 1d0c0721 -n FDC720F /dev/fd0
    filesystem_cycle /dev/fd0 /payload/set-720
    mark read
    readall /dev/fd0 9216
    mark idle
    sleep 3
    ;;
opts-*)
    # driver options ($floppy_opts); two drives used at the same time
    echo "floppy options: $floppy_opts"
    mark mkfs
    mkfs.fat -i 1d0c0003 -n FDCOPTS /dev/fd0
    mark concurrent
    (dd if=/dev/fd1 of=/tmp/fd1.img bs=9216 2>/tmp/dd1.err; echo "bg read fd1 done") &
    p1=$!
    mount -t vfat /dev/fd0 /mnt || echo "MOUNT FAILED"
    (for f in $(cat /payload/set-720); do cp /payload/$f /mnt/; done; sync; echo "bg copy fd0 done") &
    p2=$!
    wait $p1 $p2
    cat /tmp/dd1.err
    echo "fd1 read: $(sha256sum < /tmp/fd1.img)"
    mark concurrent-write
    (dd if=/tmp/fd1.img of=/dev/fd1 bs=18432 seek=0 count=20 conv=notrunc 2>&1 | tail -1; sync; echo "bg write fd1 done") &
    p1=$!
    (for f in $(cat /payload/set-720); do cat /mnt/$f > /dev/null; done; rm /mnt/$(head -1 /payload/set-720); sync; echo "bg fd0 done") &
    p2=$!
    wait $p1 $p2
    umount /mnt
    echo 3 > /proc/sys/vm/drop_caches
    mark verify
    mount -t vfat -o ro /dev/fd0 /mnt || echo "MOUNT FAILED"
    (cd /mnt && grep -F -f /payload/set-720 /payload/SHA256SUMS | grep -v "$(head -1 /payload/set-720)" | sha256sum -c) && echo "VERIFY OK" || echo "VERIFY FAILED"
    umount /mnt
    echo "fd1 again: $(dd if=/dev/fd1 bs=18432 2>/dev/null | sha256sum)"
    mark idle
    sleep 3
    ;;
fdcprog)
    mark fdcprog
    fdcprog 6 8 4
    echo "fdcprog exit $?"
    mark idle
    sleep 2
    ;;
esac
# the floppy driver's kernel messages (not on the console: loglevel=1)
dmesg | grep -i -E 'floppy|fd[0-9][: ]|FDC |I/O error|blk_update|FAT-fs' | tail -30
