# wi.sh: the what-if experiments' Linux workloads, sourced by /init (busybox sh) with $wl
# set and stdout = /tmp/out.  Each workload writes "MARK wi-start" (the host migrates after
# it), "MARK wi-it N" after each iteration and "MARK wi-end", and prints one line per result
# that the harness reads back (ACK/READ/VERIFY/RID/... lines, see corpora/record/whatif/README.md).
# Files in /wi (made by build.sh): fNN (32 KB each, for the FAT workloads), pNN
# (9216 bytes, one track, for the raw writes), blk.sha (the SHA-256 of every track of the
# pattern image, for the raw workloads' block-device reads), SHA256SUMS.

wistart() {
    mark wi-start
    watchdog &
    wdpid=$!
}
st0_ok() {  # fdrawcmd "short" output "RESID ST0 ST1 ST2 C H R N ..." -> 0 when all was
           # transferred, ST0 has no error bits and ST1/ST2 are 0
    set -- $1
    [ $# -ge 4 ] || return 1
    [ "$1" = 0 ] && [ $(( $2 & 0xc0 )) -eq 0 ] && [ $(( $3 )) -eq 0 ] && [ $(( $4 )) -eq 0 ]
}
disk_change_note() {  # fdrawcmd prints disk_change / no_disk_change after the result bytes
    case "$1" in *" disk_change"*) echo "  NOTE $2: fdrawcmd reports disk_change" ;; esac
}

case "$wl" in
wi-fat)
    # a host-made FAT floppy, mounted read-write; per iteration: write a 32 KB file and fsync
    # it (ACK = dd conv=fsync returned 0), drop the caches, read an earlier file back and
    # compare; afterwards remount read-only and verify every acknowledged file
    n=${iters:-20}
    mount -t vfat /dev/fd0 /mnt || echo "MOUNT-ERR"
    ls -l /mnt
    wistart
    i=1
    while [ $i -le $n ]; do
        if dd if=/wi/f$i of=/mnt/f$i bs=4096 conv=fsync 2>/tmp/dd.err; then
            echo "ACK f$i"
        else
            echo "WRITE-ERR f$i: $(tail -1 /tmp/dd.err)"
        fi
        echo 3 > /proc/sys/vm/drop_caches
        j=$(( i / 2 + 1 ))
        if cmp /mnt/f$j /wi/f$j >/tmp/cmp.out 2>&1; then echo "READ f$j OK"; else echo "READ-ERR f$j: $(head -1 /tmp/cmp.out)"; fi
        mark "wi-it $i"
        i=$((i + 1))
    done
    mark wi-end
    umount /mnt && echo "UMOUNT OK" || echo "UMOUNT-ERR"
    echo 3 > /proc/sys/vm/drop_caches
    mount -t vfat -o ro /dev/fd0 /mnt && echo "REMOUNT OK" || echo "REMOUNT-ERR"
    for f in $(grep '^ACK ' /tmp/out | cut -d' ' -f2); do
        want=$(grep " $f\$" /wi/SHA256SUMS | cut -d' ' -f1)
        if [ ! -f /mnt/$f ]; then echo "VERIFY $f MISSING"
        elif [ "$(sha256sum < /mnt/$f | cut -d' ' -f1)" = "$want" ]; then echo "VERIFY $f OK"
        else echo "VERIFY $f BAD"; fi
    done
    ls -l /mnt
    umount /mnt
    echo "WIFAT acks=$(grep -c '^ACK ' /tmp/out) write_errs=$(grep -c '^WRITE-ERR' /tmp/out) read_errs=$(grep -c '^READ-ERR' /tmp/out) verify_ok=$(grep -c '^VERIFY .* OK' /tmp/out) verify_bad=$(grep -c -E '^VERIFY .* (BAD|MISSING)' /tmp/out)"
    ;;
wi-readid)
    # FDRAWCMD READ ID (0x4a) loops on drive 0, cylinder 3; then the whole disk through the
    # block device (its SHA-256 against blk.sha's whole-disk line)
    n=${iters:-15}
    echo "SEEK c3: $(fdrawcmd short /dev/fd0 0x0f 0 3 intr 2>&1 </dev/null | tr '\n' ' ')"
    wistart
    i=1
    while [ $i -le $n ]; do
        fdrawcmd short repeat=10 /dev/fd0 0x4a 0 intr >/tmp/rid.out 2>&1 </dev/null
        rc=$?
        res=$(grep -c '^0x' /tmp/rid.out)
        bad=$(grep '^0x' /tmp/rid.out | grep -v -c '^0x00 0x00 0x00 0x03 ')
        echo "RID $i rc=$rc results=$res bad=$bad"
        grep -v '^0x' /tmp/rid.out | head -3 | sed 's/^/  RIDMSG /'
        grep '^0x' /tmp/rid.out | grep -v '^0x00 0x00 0x00 0x03 ' | head -2 | sed 's/^/  RIDBAD /'
        grep -q ' disk_change' /tmp/rid.out && echo "  NOTE RID $i: fdrawcmd reports disk_change"
        mark "wi-it $i"
        i=$((i + 1))
    done
    mark wi-end
    echo 3 > /proc/sys/vm/drop_caches
    sum=$(dd if=/dev/fd0 bs=18432 2>/tmp/dd.err | sha256sum | cut -d' ' -f1)
    grep -q "^$sum  disk\$" /wi/blk.sha && echo "DISK OK" || { echo "DISK BAD $sum"; cat /tmp/dd.err; }
    echo "WIREADID iterations=$n errors=$(grep -c -E '^RID .*(rc=[1-9]|bad=[1-9])' /tmp/out) results=$(grep '^RID ' /tmp/out | sed 's/.*results=\([0-9]*\).*/\1/' | awk '{s+=$1} END {print s}')"
    ;;
wi-perp)
    # PERPENDICULAR MODE 0x83 (OW, drive 0), then per iteration: FDRAWCMD WRITE DATA of a
    # track (ACK when ST0-2 are clean), READ DATA of it back and compare, a block-device read
    # of another track (against blk.sha), DUMPREG (byte 7 = perpendicular << 2); at the end
    # PERPENDICULAR 0x80 clears it
    n=${iters:-10}
    echo "PERP 0x83: $(fdrawcmd short /dev/fd0 0x12 0x83 2>&1 </dev/null | tr '\n' ' ')"
    echo "DUMPREG: $(fdrawcmd short /dev/fd0 0x0e 2>&1 </dev/null | tr '\n' ' ')"
    wistart
    i=1
    while [ $i -le $n ]; do
        c=$((60 + i)); h=$((i & 1))
        out=$(fdrawcmd short rate=0 length=9216 /dev/fd0 0xc5 $((h << 2)) $c $h 1 2 18 0x1b 0xff write </wi/p$i 2>&1 >/dev/null | tr '\n' ' ')
        if st0_ok "$out"; then echo "ACK w$i c$c h$h"; else echo "WRITE-ERR w$i c$c h$h: $out"; fi
        disk_change_note "$out" "write $i"
        out=$(fdrawcmd short rate=0 length=9216 /dev/fd0 0xe6 $((h << 2)) $c $h 1 2 18 0x1b 0xff read 2>&1 >/tmp/rb </dev/null | tr '\n' ' ')
        if st0_ok "$out" && cmp -s /tmp/rb /wi/p$i; then echo "READBACK $i OK"; else echo "READ-ERR $i: $out"; fi
        disk_change_note "$out" "readback $i"
        echo 3 > /proc/sys/vm/drop_caches
        t=$(( ((i * 7) % 50 + 1) * 2 + h ))
        sum=$(dd if=/dev/fd0 bs=9216 skip=$t count=1 2>/tmp/dd.err | sha256sum | cut -d' ' -f1)
        if grep -q "^$sum  track$t\$" /wi/blk.sha; then echo "BLK track$t OK"; else echo "BLK-ERR track$t $sum: $(tail -1 /tmp/dd.err)"; fi
        out=$(fdrawcmd short /dev/fd0 0x0e 2>&1 </dev/null | tr '\n' ' ')
        set -- $out
        echo "DUMPREG $i byte7=$8"
        mark "wi-it $i"
        i=$((i + 1))
    done
    mark wi-end
    echo "PERP 0x80: $(fdrawcmd short /dev/fd0 0x12 0x80 2>&1 </dev/null | tr '\n' ' ')"
    echo "DUMPREG: $(fdrawcmd short /dev/fd0 0x0e 2>&1 </dev/null | tr '\n' ' ')"
    echo "WIPERP acks=$(grep -c '^ACK ' /tmp/out) write_errs=$(grep -c '^WRITE-ERR' /tmp/out) read_errs=$(grep -c -E '^(READ|BLK)-ERR' /tmp/out) dumpreg_0c=$(grep -c '^DUMPREG [0-9]* byte7=0x0c' /tmp/out)"
    ;;
wi-lreset)
    # FDRESET through the driver (floppycontrol --resetnow 2), for the host to look for
    # fdc/reset_sensei in the stream (Linux does its SENSE INTERRUPTs in the interrupt handler)
    n=${iters:-40}
    wistart
    i=1
    while [ $i -le $n ]; do
        floppycontrol -d /dev/fd0 --resetnow 2 || echo "RESET-ERR $i"
        echo "DUMPREG $i: $(fdrawcmd short /dev/fd0 0x0e 2>&1 </dev/null | tr '\n' ' ')"
        mark "wi-it $i"
        i=$((i + 1))
    done
    mark wi-end
    ;;
wi-prog-reset)
    wiprog reset ${iters:-12} 400 > /tmp/prog.out 2>&1 &
    p=$!
    watchdog &   # wiprog writes "MARK wi-start" itself, after its setup
    wdpid=$!
    wait $p; echo "wiprog exit $?"; cat /tmp/prog.out
    ;;
wi-prog-readid)
    wiprog readid ${iters:-40} 30 > /tmp/prog.out 2>&1 &
    p=$!
    watchdog &   # wiprog writes "MARK wi-start" itself, after its setup
    wdpid=$!
    wait $p; echo "wiprog exit $?"; cat /tmp/prog.out
    ;;
wi-prog-perp)
    wiprog perp ${iters:-10} 300 > /tmp/prog.out 2>&1 &
    p=$!
    watchdog &   # wiprog writes "MARK wi-start" itself, after its setup
    wdpid=$!
    wait $p; echo "wiprog exit $?"; cat /tmp/prog.out
    ;;
*)
    echo "unknown workload '$wl'"
    ;;
esac
