#!/bin/bash
# Build what the what-if harness boots (corpora/record/whatif/README.md):
#   $FDC_WHATIF_WORK/initramfs.cpio.gz   Debian's kernel modules, busybox, fdutils, the
#                                        FDRAWCMD floppy.ko, mark, wiprog, /wi files, wi.sh
#   $FDC_WHATIF_WORK/wi13.bin            the BIOS INT 13h loop (guest/wi13.asm)
#   target/release/fdc-replay            (stream show/drop/add), built when missing
# Needs the packages record.sh installs (it installs them when missing).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REC=$(cd "$HERE/.." && pwd)
ROOT=$(cd "$REC/../.." && pwd)
WORK=${FDC_WHATIF_WORK:-/tmp/fdc-whatif}
mkdir -p "$WORK"

need=()
for p in qemu-system-x86 seabios bochsbios linux-image-amd64 linux-headers-amd64 linux-source-6.1 fdutils make bc busybox-static dosfstools nasm cpio gcc libc6-dev python3 mtools; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y "${need[@]}" || { apt-get update && apt-get install -y "${need[@]}"; }
fi

KV=
for k in /boot/vmlinuz-*; do v=${k#/boot/vmlinuz-}; [ -d /lib/modules/$v ] && KV=$v; done
[ -n "$KV" ] || { echo "no kernel in /boot" >&2; exit 1; }
echo "$KV" > "$WORK/kernel-version"

d=$WORK/initramfs
rm -rf "$d"; mkdir -p "$d"/{bin,dev,proc,sys,tmp,mnt,modules,wi,etc,lib64,lib/x86_64-linux-gnu}
cp /bin/busybox "$d/bin/busybox"
for m in floppy fat vfat nls_cp437 nls_ascii nls_iso8859-1; do
    f=$(modinfo -k "$KV" -n "$m")
    case "$f" in
        *.ko) cp "$f" "$d/modules/$m.ko" ;;
        *.ko.xz) xz -dc "$f" > "$d/modules/$m.ko" ;;
        *.ko.zst) zstd -dc "$f" > "$d/modules/$m.ko" ;;
        *.ko.gz) gzip -dc "$f" > "$d/modules/$m.ko" ;;
    esac
done
"$REC/build-floppy-rawcmd.sh" "$KV" "$WORK/floppy-rawcmd" >/dev/null 2>"$WORK/floppy-rawcmd.err" || { cat "$WORK/floppy-rawcmd.err" >&2; exit 1; }
cp "$WORK/floppy-rawcmd/floppy.ko" "$d/modules/floppy-rawcmd.ko"
for f in /usr/bin/fdrawcmd /usr/bin/floppycontrol; do
    cp "$f" "$d/bin/"
    for lib in $(ldd "$f" | grep -o '/[^ ]*'); do cp -L "$lib" "$d$lib"; done
done
gcc -static -Os -o "$d/bin/mark" "$REC/guest/mark.c"
gcc -static -Os -Wall -o "$d/bin/wiprog" "$HERE/guest/wiprog.c"
cp "$HERE/guest/init.sh" "$d/init"; chmod 755 "$d/init"
cp "$HERE/guest/wi.sh" "$d/bin/wi.sh"
python3 "$HERE/whatif.py" files "$d/wi"
(cd "$d" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc --reproducible --quiet) | gzip -9n > "$WORK/initramfs.cpio.gz"
nasm -f bin -o "$WORK/wi13.bin" "$HERE/guest/wi13.asm"
if [ ! -x "$ROOT/target/release/fdc-replay" ]; then (cd "$ROOT" && nice cargo build --release -p fdc-replay); fi
echo "built: $WORK/initramfs.cpio.gz ($(stat -c %s "$WORK/initramfs.cpio.gz") bytes, kernel $KV), $WORK/wi13.bin"
