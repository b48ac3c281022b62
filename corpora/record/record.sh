#!/bin/bash
# Record real guests' FDC port I/O with Debian's QEMU.
#   corpora/record/record.sh NAME...   (or: all, or: list)
# Needs root on Debian 12 (installs its packages with apt-get).  Outputs go to
# corpora/raw/: NAME.log.gz, NAME.log.events.jsonl, NAME.meta.json.
# Scratch files (images, initramfs, uncompressed logs) go to $FDC_RECORD_WORK
# (default /tmp/fdc-record).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
RAW=${FDC_RECORD_RAW:-$ROOT/corpora/raw}
WORK=${FDC_RECORD_WORK:-/tmp/fdc-record}
ALL="linux-probe linux-install linux-readscan linux-fdformat linux-720k linux-2880k linux-2drives linux-mediachange linux-writeprotect seabios-int13 syslinux-memdisk linux-rawcmd linux-rawcmd-hold linux-geom-1722 linux-geom-720 linux-opts-daring linux-opts-nofifo linux-opts-mix linux-fdcprog bochsbios-int13"

if [ $# -eq 0 ]; then echo "usage: $0 NAME... | all | list" >&2; exit 2; fi
if [ "$1" = list ]; then echo $ALL | tr ' ' '\n'; exit 0; fi
names=("$@")
[ "$1" = all ] && names=($ALL)

ensure_packages() {
    local need=() p
    for p in qemu-system-x86 seabios bochsbios linux-image-amd64 linux-headers-amd64 linux-source-6.1 fdutils make bc busybox-static dosfstools nasm cpio gcc libc6-dev python3 gzip syslinux syslinux-common mtools; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || need+=("$p")
    done
    if [ ${#need[@]} -gt 0 ]; then
        echo "installing: ${need[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get install -y "${need[@]}" || { apt-get update && apt-get install -y "${need[@]}"; }
    fi
}

kernel_version() {  # newest installed kernel that has modules
    local k v best=
    for k in /boot/vmlinuz-*; do
        v=${k#/boot/vmlinuz-}
        [ -d /lib/modules/$v ] && best=$v
    done
    [ -n "$best" ] || { echo "no kernel found in /boot" >&2; exit 1; }
    echo "$best"
}

build_initramfs() {  # $1 kernel version -> $WORK/initramfs.cpio.gz
    local kv=$1 d=$WORK/initramfs m f lib
    rm -rf "$d"; mkdir -p "$d"/{bin,dev,proc,sys,tmp,mnt,mnt2,modules,payload,lib64,lib/x86_64-linux-gnu}
    cp /bin/busybox "$d/bin/busybox"
    for m in floppy fat vfat nls_cp437 nls_ascii nls_iso8859-1; do
        f=$(modinfo -k "$kv" -n "$m")
        case "$f" in
            *.ko) cp "$f" "$d/modules/$m.ko" ;;
            *.ko.xz) xz -dc "$f" > "$d/modules/$m.ko" ;;
            *.ko.zst) zstd -dc "$f" > "$d/modules/$m.ko" ;;
            *.ko.gz) gzip -dc "$f" > "$d/modules/$m.ko" ;;
            *) echo "module $m not found for $kv" >&2; exit 1 ;;
        esac
    done
    # dosfstools' mkfs.fat / fsck.fat with their shared libraries
    for f in /sbin/mkfs.fat /sbin/fsck.fat; do
        cp "$f" "$d/bin/"
        for lib in $(ldd "$f" | grep -o '/[^ ]*'); do
            cp -L "$lib" "$d$lib"
        done
    done
    # floppy.ko with FDRAWCMD (built from linux-source-6.1, see build-floppy-rawcmd.sh)
    "$HERE/build-floppy-rawcmd.sh" "$kv" "$WORK/floppy-rawcmd" >/dev/null 2>"$WORK/floppy-rawcmd.err" || { cat "$WORK/floppy-rawcmd.err" >&2; exit 1; }
    cp "$WORK/floppy-rawcmd/floppy.ko" "$d/modules/floppy-rawcmd.ko"
    # fdutils' binaries (they only need libc, copied above for dosfstools)
    for f in fdrawcmd superformat setfdprm getfdprm floppycontrol floppymeter; do
        cp "/usr/bin/$f" "$d/bin/"
        for lib in $(ldd "/usr/bin/$f" | grep -o '/[^ ]*'); do
            cp -L "$lib" "$d$lib"
        done
    done
    gcc -static -Os -o "$d/bin/mark" "$HERE/guest/mark.c"
    gcc -static -Os -o "$d/bin/fdformat" "$HERE/guest/fdformat.c"
    gcc -static -Os -Wall -o "$d/bin/fdcprog" "$HERE/guest/fdcprog.c"
    cp "$HERE/guest/init.sh" "$d/init"; chmod 755 "$d/init"
    cp "$HERE/guest/rawcmd.sh" "$d/bin/rawcmd.sh"
    mkdir -p "$d/etc"; cp /etc/mediaprm "$d/etc/mediaprm"   # setfdprm's named formats
    [ -f "$WORK/test.sh" ] && cp "$WORK/test.sh" "$d/bin/test.sh"   # wl=test: ad-hoc experiments
    python3 "$HERE/guest/payload.py" "$d/payload"
    (cd "$d" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc --reproducible --quiet) | gzip -9n > "$WORK/initramfs.cpio.gz"
}

build_bootsector() {
    nasm -f bin -o "$WORK/int13.bin" -l "$WORK/int13.lst" "$HERE/seabios/int13.asm"
}

build_syslinux() {  # FAT12 1.44M floppy: SYSLINUX + memdisk + 720K payload -> $WORK/syslinux/syslinux.img
    local d=$WORK/syslinux
    rm -rf "$d"; mkdir -p "$d"
    nasm -f bin -o "$d/markoff.bin" "$HERE/seabios/markoff.asm"
    dd if=/dev/zero of="$d/payload.img" bs=1024 count=720 status=none
    dd if="$d/markoff.bin" of="$d/payload.img" conv=notrunc status=none
    mkfs.fat -C --invariant -i 1d0c5151 -n SYSLINUX "$d/syslinux.img" 1440 >/dev/null
    export MTOOLS_SKIP_CHECK=1 SOURCE_DATE_EPOCH=1700000000
    syslinux --install "$d/syslinux.img"
    mcopy -m -i "$d/syslinux.img" /usr/lib/syslinux/memdisk "$d/payload.img" "$HERE/seabios/syslinux.cfg" ::/
    mdir -i "$d/syslinux.img" ::/
}

ensure_packages
renice -n 10 $$ >/dev/null   # builds and QEMU share the machine: run them niced
mkdir -p "$WORK" "$RAW"
need_linux=0; need_bios=0; need_syslinux=0
for n in "${names[@]}"; do
    case "$n" in linux-*) need_linux=1 ;; seabios-*|bochsbios-*) need_bios=1 ;; syslinux-*) need_syslinux=1 ;; *) echo "unknown recording $n" >&2; exit 2 ;; esac
done
KV=
if [ $need_linux = 1 ]; then KV=$(kernel_version); build_initramfs "$KV"; fi
if [ $need_bios = 1 ]; then build_bootsector; fi
if [ $need_syslinux = 1 ]; then build_syslinux; fi

# fdc-replay parses each migration stream (stream show) right after the migration
FDC_REPLAY=${FDC_REPLAY:-$ROOT/target/release/fdc-replay}
if [ ! -x "$FDC_REPLAY" ]; then (cd "$ROOT" && nice cargo build --release -p fdc-replay); fi
export FDC_REPLAY

status=0
for n in "${names[@]}"; do
    args=("$n" --work "$WORK" --raw "$RAW")
    case "$n" in
        linux-*) args+=(--kernel "/boot/vmlinuz-$KV" --initrd "$WORK/initramfs.cpio.gz" --kernel-version "$KV") ;;
        seabios-*|bochsbios-*) args+=(--bootsector "$WORK/int13.bin") ;;
        syslinux-*) args+=(--image "$WORK/syslinux/syslinux.img") ;;
    esac
    python3 "$HERE/recorder.py" "${args[@]}" || status=1
done
exit $status
