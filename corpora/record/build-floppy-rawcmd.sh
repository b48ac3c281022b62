#!/bin/bash
# Build floppy.ko with raw commands (FDRAWCMD) for the installed Debian kernel.
#   corpora/record/build-floppy-rawcmd.sh KERNEL_VERSION OUT_DIR
# Debian's 6.1 kernel is built with "# CONFIG_BLK_DEV_FD_RAWCMD is not set", so fdrawcmd
# and superformat get EOPNOTSUPP. This compiles drivers/block/floppy.c of Debian's
# linux-source-6.1 (the same source package version as the kernel image) as an external
# module against the matching linux-headers: the headers' own configuration (identical to
# /boot/config-KV) plus CONFIG_BLK_DEV_FD_RAWCMD=y, the headers' Module.symvers (symbol
# CRCs), hence the same vermagic. Output: OUT_DIR/floppy.ko (never committed).
# Nothing else in the kernel depends on BLK_DEV_FD_RAWCMD (drivers/block/Kconfig): the only
# user is the #ifdef in floppy.c.
set -euo pipefail
kv=$1 out=$2
hdr=/usr/src/linux-headers-$kv
src_tar=/usr/src/linux-source-6.1.tar.xz
[ -d "$hdr" ] || { echo "missing $hdr (apt-get install linux-headers-$kv)" >&2; exit 1; }
[ -f "$src_tar" ] || { echo "missing $src_tar (apt-get install linux-source-6.1)" >&2; exit 1; }
img_v=$(dpkg-query -W -f='${Version}' "linux-image-$kv")
src_v=$(dpkg-query -W -f='${Version}' linux-source-6.1)
hdr_v=$(dpkg-query -W -f='${Version}' "linux-headers-$kv")
if [ "$img_v" != "$src_v" ] || [ "$img_v" != "$hdr_v" ]; then
    echo "version mismatch: linux-image-$kv $img_v, linux-source-6.1 $src_v, linux-headers-$kv $hdr_v" >&2
    exit 1
fi
grep -q '^# CONFIG_BLK_DEV_FD_RAWCMD is not set' "/boot/config-$kv" || echo "note: /boot/config-$kv already sets RAWCMD?" >&2
# The headers' .config is /boot/config-KV plus build-only strings (BUILD_SALT, signing key).
if diff "/boot/config-$kv" "$hdr/.config" | grep -q '^<'; then
    echo "headers' .config lacks lines of /boot/config-$kv" >&2; exit 1
fi
stamp="$kv $img_v $(sha256sum "$0" | cut -c1-16)"
if [ -f "$out/floppy.ko" ] && [ "$(cat "$out/stamp" 2>/dev/null)" = "$stamp" ]; then
    echo "up to date: $out/floppy.ko"; exit 0
fi
b=$out/build
rm -rf "$b"; mkdir -p "$b"
tar -xJf "$src_tar" -C "$b" --strip-components=3 linux-source-6.1/drivers/block/floppy.c
# The one configuration change, exactly as Kconfig would write it into autoconf.h for =y.
cat > "$b/Kbuild" <<'KB'
obj-m := floppy.o
ccflags-y := -DCONFIG_BLK_DEV_FD_RAWCMD=1
KB
nice -n 10 make -s -C "$hdr" M="$b" modules
ref=$(modinfo -F vermagic "/lib/modules/$kv/kernel/drivers/block/floppy.ko"*)
got=$(modinfo -F vermagic "$b/floppy.ko")
[ "$ref" = "$got" ] || { echo "vermagic mismatch: '$got' vs '$ref'" >&2; exit 1; }
strip --strip-debug "$b/floppy.ko"
cp "$b/floppy.ko" "$out/floppy.ko"
echo "$stamp" > "$out/stamp"
echo "built $out/floppy.ko ($(stat -c %s "$out/floppy.ko") bytes, vermagic '$got', source $src_v)"
