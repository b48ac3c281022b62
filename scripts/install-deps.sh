#!/usr/bin/env bash
# Installs the Debian packages the tests and scripts need, from one list:
# scripts/debian-packages.txt (each package with the script or test that needs it).
#
#   bash scripts/install-deps.sh             # groups [rust] and [test]
#   bash scripts/install-deps.sh --browser   # + [browser] (chromium: replay/tests/report_html.rs)
#   bash scripts/install-deps.sh --record    # + [record]  (corpora/record/record.sh)
#   bash scripts/install-deps.sh --all       # every group
#   bash scripts/install-deps.sh --only rust # just the named group(s), comma-separated
#   bash scripts/install-deps.sh --list      # print the selected packages, install nothing
#   bash scripts/install-deps.sh --check     # exit 1, naming them, if any is missing
#
# Only missing packages (dpkg-query) are installed; `apt-get update` runs only then. As
# root it runs apt-get directly; otherwise with sudo when sudo exists, else it fails and
# names the missing packages.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
list=$here/debian-packages.txt

groups=(rust test)
mode=install
only_next=0
for arg in "$@"; do
    if [ "$only_next" = 1 ]; then IFS=, read -ra groups <<<"$arg"; only_next=0; continue; fi
    case $arg in
        --browser) groups+=(browser) ;;
        --record) groups+=(record) ;;
        --all) groups=(rust test browser record) ;;
        --only=*) IFS=, read -ra groups <<<"${arg#--only=}" ;;
        --only) only_next=1; continue ;;
        --list) mode=list ;;
        --check) mode=check ;;
        -h | --help) awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; exit 0 ;;
        *) echo "install-deps.sh: unknown argument $arg (see --help)" >&2; exit 2 ;;
    esac
done

# The packages of the selected groups, in list order, each once.
mapfile -t packages < <(awk -v sel=" ${groups[*]} " '
    { sub(/#.*/, ""); gsub(/^[ \t]+|[ \t]+$/, "") }
    /^\[.*\]$/ { group = substr($0, 2, length($0) - 2); next }
    $0 != "" && index(sel, " " group " ") && !seen[$1]++ { print $1 }
' "$list")
[ ${#packages[@]} -gt 0 ] || { echo "install-deps.sh: no packages in group(s) ${groups[*]} of $list" >&2; exit 1; }

if [ "$mode" = list ]; then
    printf '%s\n' "${packages[@]}"
    exit 0
fi

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q ' ok installed$' || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
    if [ "$mode" = check ]; then
        echo "install-deps.sh: missing Debian packages: ${missing[*]}" >&2
        exit 1
    fi
    if [ "$(id -u)" -eq 0 ]; then
        as_root=()
    elif command -v sudo >/dev/null 2>&1; then
        as_root=(sudo)
    else
        echo "install-deps.sh: missing Debian packages: ${missing[*]}" >&2
        echo "install-deps.sh: not root and no sudo: install them as root with" >&2
        echo "    apt-get update && apt-get install ${missing[*]}" >&2
        exit 1
    fi
    echo "install-deps.sh: installing ${missing[*]} with apt-get" >&2
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The oracle's version, as before (scripts/demo.sh shows it).
if [ "$mode" = install ] && command -v qemu-system-x86_64 >/dev/null 2>&1; then
    qemu-system-x86_64 --version | head -1 >&2
fi
