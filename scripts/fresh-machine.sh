#!/usr/bin/env bash
# Checks the README's promise: its first code block's commands (`bash scripts/report.sh`,
# `bash scripts/test.sh`) work on a fresh Debian 12 machine with Rust installed.
#
#   sudo bash scripts/fresh-machine.sh [--keep] [COMMIT]      (default: HEAD)
#
# Steps (each timed):
#   debootstrap   a clean Debian 12 root (`debootstrap bookworm`, from the Debian mirror of
#                 this machine's /etc/apt/sources.list*); later runs unpack the cached copy
#   rust          the host's Rust toolchain, mounted read-only at its own path ($RUSTUP_HOME,
#                 $CARGO_HOME/bin), plus what "Rust installed" implies on Debian: the [rust]
#                 group of scripts/debian-packages.txt (C linker, CA certificates), installed
#                 in the root with this script's `scripts/install-deps.sh --only rust`; the host's own
#                 CA certificates (/usr/local/share/ca-certificates) and resolv.conf go in
#                 too, so that crates.io is reached as from the host
#   clone         `git clone` of COMMIT into /root/fdc-prevalent (uncommitted files stay out)
#   build         cargo build --release --workspace --all-targets (so that the timings of
#                 the README commands are theirs; they still run their own cargo commands)
#   README        each command of the README's first code block, exactly as written there,
#                 run with bash from the clone's top directory; all are run, and the script
#                 fails if any fails
#
# Needs root (debootstrap, chroot, mount); installs the host's debootstrap if missing.
# Cache (outside the repository): $FDC_FRESH_CACHE, default ~/.cache/fdc-fresh-machine:
#   bookworm-ARCH-VARIANT.root.tar  the pristine root right after debootstrap (every run
#                                   starts from a new copy; delete it to debootstrap again)
#   apt-archives/                   .debs apt downloaded inside the root (bind-mounted
#                                   at its /var/cache/apt/archives; installs still happen)
#   run/                            this run's root (deleted after a passing run, kept
#                                   after a failing one or with --keep; the next run
#                                   deletes it)
#   logs/                           each step's output of the last run
# Environment: FDC_FRESH_VARIANT (debootstrap --variant; default: Debian's default set,
# priorities required + important, as on a fresh install).
# Mounts (/proc, /sys, /dev, the toolchain, the apt cache) are undone on exit, Ctrl-C too.
{ # One compound command: bash parses all of it before running, so that editing this file
  # during a run does not change the run.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
keep=0
rev=HEAD
for arg in "$@"; do
    case $arg in
        --keep) keep=1 ;;
        -h | --help) awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; exit 0 ;;
        -*) echo "fresh-machine.sh: unknown option $arg (see --help)" >&2; exit 2 ;;
        *) rev=$arg ;;
    esac
done
die() { echo "fresh-machine.sh: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || die "needs root (debootstrap, chroot and mount): sudo bash $0 $*"

cache=${FDC_FRESH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/fdc-fresh-machine}
mkdir -p "$cache/apt-archives/partial"
cache=$(realpath "$cache")
case $cache/ in "$repo"/*) die "the cache $cache must be outside the repository";; esac
variant=${FDC_FRESH_VARIANT:-}
arch=$(dpkg --print-architecture)
pristine=$cache/bookworm-$arch-${variant:-default}.root.tar
root=$cache/run
logs=$cache/logs
apt_cache=$cache/apt-archives
dest=/root/fdc-prevalent
exec 9>"$cache/lock"
flock -n 9 || die "another fresh-machine.sh run holds $cache/lock"
renice -n 10 $$ >/dev/null   # the machine is shared: everything below runs niced

# ---- timings -------------------------------------------------------------------------
names=() secs=() results=()
now() { date +%s.%N; }
summary() {
    [ ${#names[@]} -gt 0 ] || return 0
    echo
    echo "fresh-machine.sh timings (commit ${commit:-?}):"
    local i
    for i in "${!names[@]}"; do
        printf '  %-44s %8.1f s  %s\n' "${names[$i]}" "${secs[$i]}" "${results[$i]}"
    done
}
# step NAME LOGFILE CMD...: runs CMD (errexit on, in the background so that Ctrl-C or a
# TERM reaches the trap at once), output to the terminal and to LOGFILE, timed.
step_pid= step_name= step_t0=
step() {
    local name=$1 log=$2 t0 rc=0
    shift 2
    echo
    echo "==== $name"
    t0=$(now)
    step_name=$name step_t0=$t0
    ( "$@" 2>&1 | tee "$log" ) &
    step_pid=$!
    wait "$step_pid" || rc=$?
    step_pid=
    names+=("$name")
    secs+=("$(echo "$(now) $t0" | awk '{print $1 - $2}')")
    if [ "$rc" -eq 0 ]; then results+=(ok); else results+=("FAILED (exit $rc, log $log)"); fi
    echo "==== $name: ${secs[-1]} s, ${results[-1]}"
    return "$rc"
}

# ---- mounts and cleanup --------------------------------------------------------------
mounts_under() {  # mount points at or below $1, deepest first
    awk -v r="$1" '$5 == r || index($5, r "/") == 1 { print $5 }' /proc/self/mountinfo |
        awk '{ print gsub("/", "/"), $0 }' | sort -rn | cut -d' ' -f2-
}
descendants() {  # the pids of $1's descendants
    awk '{ sub(/^.*\) /, ""); print FILENAME, $2 }' /proc/[0-9]*/stat 2>/dev/null |
        awk -v top="$1" '{ sub("/proc/", "", $1); sub("/stat", "", $1); kids[$2] = kids[$2] " " $1 }
            END { n = split(kids[top], q, " "); for (i = 1; i <= n; i++) { print q[i]
                  m = split(kids[q[i]], more, " "); for (j = 1; j <= m; j++) q[++n] = more[j] } }'
}
kill_pids() {  # TERM, then KILL after 2 s, the given pids
    [ $# -gt 0 ] || return 0
    kill -TERM "$@" 2>/dev/null || true
    local i p alive
    for i in 1 2 3 4; do
        alive=()
        for p in "$@"; do kill -0 "$p" 2>/dev/null && alive+=("$p"); done
        [ ${#alive[@]} -gt 0 ] || return 0
        sleep 0.5
    done
    kill -KILL "${alive[@]}" 2>/dev/null || true
}
kill_step() {  # the running step (e.g. on Ctrl-C) and everything it started
    [ -n "$step_pid" ] || return 0
    names+=("$step_name")
    secs+=("$(echo "$(now) $step_t0" | awk '{print $1 - $2}')")
    results+=("INTERRUPTED")
    local pids
    mapfile -t pids < <(descendants "$step_pid")
    kill_pids "$step_pid" "${pids[@]}"
    wait "$step_pid" 2>/dev/null || true
}
kill_root_processes() {  # processes left running inside $root (QEMU, cargo, ...), by pid
    local p pids=()
    for p in /proc/[0-9]*; do
        [ "$(readlink "$p/root" 2>/dev/null)" = "$root" ] && pids+=("${p#/proc/}")
    done
    kill_pids "${pids[@]}"
}
unmount_all() {
    [ -d "$root" ] || return 0
    kill_root_processes
    local m
    for m in $(mounts_under "$root"); do
        umount "$m" 2>/dev/null || umount -l "$m" || echo "fresh-machine.sh: cannot unmount $m" >&2
    done
}
remove_dir() {  # rm -rf of a root, refused while anything is mounted below it
    [ -z "$(mounts_under "$1")" ] || die "still mounted below $1: $(mounts_under "$1" | tr '\n' ' ')"
    rm -rf --one-file-system "$1"
}
remove_root() {
    unmount_all
    remove_dir "$root"
}
status=1
on_exit() {
    local rc=$?
    trap - EXIT INT TERM
    kill_step
    unmount_all
    if [ "$rc" -eq 0 ] && [ "$status" -eq 0 ] && [ "$keep" = 0 ]; then
        remove_root
    elif [ -d "$root" ]; then
        echo "fresh-machine.sh: the root is kept in $root (the next run deletes it)" >&2
    fi
    summary
    exit "$rc"
}
trap on_exit EXIT
trap 'echo "fresh-machine.sh: interrupted" >&2; exit 130' INT
trap 'exit 143' TERM

# ---- what to test ----------------------------------------------------------------------
commit=$(git -C "$repo" rev-parse --verify "$rev^{commit}") || die "no commit $rev in $repo"
if [ "$rev" = HEAD ] && [ -n "$(git -C "$repo" status --porcelain)" ]; then
    echo "fresh-machine.sh: note: uncommitted changes in $repo are not tested (commit $commit is)" >&2
fi
# The README's first code block, read from the commit under test: one command a line.
mapfile -t commands < <(git -C "$repo" show "$commit:README.md" | awk '
    /^```/ { if (inside) exit; inside = 1; next }
    inside && $0 !~ /^[ \t]*(#|$)/ { print }')
[ ${#commands[@]} -gt 0 ] || die "no commands in the first code block of README.md at $commit"

# ---- the host's Rust toolchain -----------------------------------------------------------
command -v rustup >/dev/null 2>&1 || die "rustup not found: the host's Rust toolchain is mounted into the root"
rustup_home=$(rustup show home)
toolchain_cargo=$(rustup which cargo)   # fails when no toolchain is installed
cargo_bin=$(dirname "$(command -v rustup)")
cargo_home=${CARGO_HOME:-$(dirname "$cargo_bin")}
case $toolchain_cargo in "$rustup_home"/*) ;; *) die "cargo $toolchain_cargo is not under RUSTUP_HOME $rustup_home";; esac

# ---- the Debian mirror of this machine -------------------------------------------------------
apt_sources() {  # "URI SUITE COMPONENTS..." for every deb entry of the apt sources
    local f
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] || continue
        sed -e 's/#.*//' -e 's/\[[^]]*\]//' "$f" | awk '$1 == "deb" && NF >= 3 { $1 = ""; print substr($0, 2) }'
    done
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        awk '
            function flush() {
                if (types ~ /(^| )deb( |$)/ && enabled != "no")
                    for (i = 1; i <= nu; i++) for (j = 1; j <= ns; j++) print u[i], s[j], comps
                types = ""; enabled = ""; comps = ""; nu = ns = 0
            }
            /^[ \t]*#/ { next }
            /^[ \t]*$/ { flush(); next }
            { key = tolower($1); sub(/:$/, "", key); $1 = ""; val = substr($0, 2) }
            key == "types" { types = val }
            key == "enabled" { enabled = tolower(val) }
            key == "uris" { nu = split(val, u, " ") }
            key == "suites" { ns = split(val, s, " ") }
            key == "components" { comps = val }
            END { flush() }' "$f"
    done
}
mapfile -t debian_sources < <(apt_sources | awk '$2 ~ /^bookworm(-updates|-security|\/updates)?$/')
mirror=$(printf '%s\n' "${debian_sources[@]}" | awk '$2 == "bookworm" { print $1; exit }')
[ -n "$mirror" ] || die "no 'bookworm' entry in /etc/apt/sources.list*: cannot tell which Debian mirror to use"

echo "commit:    $commit"
echo "commands:  $(printf '[%s] ' "${commands[@]}")"
echo "mirror:    $mirror ($(printf '%s\n' "${debian_sources[@]}" | awk '{print $2}' | tr '\n' ' '))"
echo "toolchain: $toolchain_cargo (RUSTUP_HOME $rustup_home, CARGO_HOME $cargo_home)"
echo "cache:     $cache"

# ---- debootstrap (or the cached pristine root) -----------------------------------------------
remove_root
mkdir -p "$logs"
rm -f "$logs"/*.log
debootstrap_root() {
    if ! command -v debootstrap >/dev/null 2>&1; then
        echo "installing debootstrap on the host"
        DEBIAN_FRONTEND=noninteractive apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
    fi
    local tmp=$cache/debootstrap.tmp
    remove_dir "$tmp"
    debootstrap ${variant:+--variant="$variant"} --arch="$arch" bookworm "$tmp" "$mirror"
    rm -f "$tmp"/var/cache/apt/archives/*.deb
    tar --numeric-owner --xattrs -C "$tmp" -cf "$pristine.part" .
    mv "$pristine.part" "$pristine"
    mv "$tmp" "$root"
}
unpack_root() {
    mkdir -p "$root"
    tar --numeric-owner --xattrs -C "$root" -xpf "$pristine"
}
if [ -f "$pristine" ]; then
    step "debootstrap (cached $(basename "$pristine"))" "$logs/1-debootstrap.log" unpack_root
else
    step "debootstrap bookworm (download)" "$logs/1-debootstrap.log" debootstrap_root
fi

# ---- the root's setup: apt sources, DNS, no services, mounts ------------------------------------
printf 'deb %s\n' "${debian_sources[@]}" > "$root/etc/apt/sources.list"
cp -L /etc/resolv.conf "$root/etc/resolv.conf"
cp -L /etc/hosts "$root/etc/hosts" 2>/dev/null || true
# The host's locally added CA certificates (a TLS-inspecting proxy's, say), as DNS: the
# root is on the host's network. ca-certificates (group [rust]) adds them to its store.
if [ -d /usr/local/share/ca-certificates ]; then
    cp -rL /usr/local/share/ca-certificates/. "$root/usr/local/share/ca-certificates/"
fi
printf '#!/bin/sh\nexit 101\n' > "$root/usr/sbin/policy-rc.d"   # apt starts no daemons in a chroot
chmod 755 "$root/usr/sbin/policy-rc.d"
bind_ro() {  # bind_ro SRC: SRC mounted read-only at the same path inside the root
    mkdir -p "$root$1"
    mount --bind "$1" "$root$1"
    mount -o remount,bind,ro "$root$1"
}
mount -t proc proc "$root/proc"
mount -t sysfs -o ro sysfs "$root/sys"
mount --rbind /dev "$root/dev"
mount --make-rslave "$root/dev"
mount --bind "$apt_cache" "$root/var/cache/apt/archives"
bind_ro "$rustup_home"
bind_ro "$cargo_bin"
mkdir -p "$root$cargo_home"   # writable: cargo's registry cache, in the root
# Cargo configuration of the host (a registry mirror, say), never its credentials.
for f in config.toml config; do
    [ -f "$cargo_home/$f" ] && cp "$cargo_home/$f" "$root$cargo_home/$f"
done

in_root() {  # in_root DIR CMD: CMD with bash in DIR inside the root, in a clean environment
    local dir=$1
    shift
    local env=(HOME=/root USER=root LOGNAME=root LANG=C.UTF-8 TERM="${TERM:-dumb}"
        PATH="$cargo_bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
        RUSTUP_HOME="$rustup_home" CARGO_HOME="$cargo_home")
    local v
    for v in http_proxy https_proxy no_proxy HTTP_PROXY HTTPS_PROXY NO_PROXY; do
        [ -n "${!v:-}" ] && env+=("$v=${!v}")
    done
    chroot "$root" /usr/bin/env -i "${env[@]}" /bin/bash -c "cd $dir && $*"
}

# ---- the repository, Rust, the build ------------------------------------------------------------
clone() {
    git clone -q --no-checkout "$repo" "$root$dest"
    git -C "$root$dest" cat-file -e "$commit^{commit}" 2>/dev/null || git -C "$root$dest" fetch -q "$repo" "$commit"
    git -C "$root$dest" checkout -q -B fresh-machine "$commit"
    git -C "$root$dest" log -1 --format='%H %s'
}
step "clone $commit" "$logs/2-clone.log" clone
# This script's own install-deps.sh and list (not the commit's, which may predate them).
mkdir -p "$root/tmp/fresh-machine"
cp "$repo/scripts/install-deps.sh" "$repo/scripts/debian-packages.txt" "$root/tmp/fresh-machine/"
step "rust: install-deps.sh --only rust" "$logs/3-rust.log" \
    in_root /tmp/fresh-machine 'bash install-deps.sh --only rust && update-ca-certificates >/dev/null &&
        cd / && rm -r /tmp/fresh-machine && cargo --version && rustc --version'
status=0
step "build (cargo build --release --workspace --all-targets)" "$logs/4-build.log" \
    in_root "$dest" 'cargo build --release --workspace --all-targets' || status=1

# ---- the README's commands --------------------------------------------------------------------------
i=5
for c in "${commands[@]}"; do
    label=${c%%#*}
    step "README: ${label%"${label##*[! ]}"}" "$logs/$i-readme.log" in_root "$dest" "$c" || status=1
    i=$((i + 1))
done
[ "$status" -eq 0 ] || die "failed inside the clean root (logs in $logs)"
echo
echo "fresh-machine.sh: every README command passed in a clean Debian 12 root"
exit 0
}
