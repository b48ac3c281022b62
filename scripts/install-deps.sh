#!/usr/bin/env bash
# Installs what the tests and the oracle need on a fresh Debian 12 machine with Rust:
# Debian's QEMU (the oracle every conformance test compares against).
set -euo pipefail
if ! command -v qemu-system-x86_64 >/dev/null 2>&1; then
    if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
    echo "installing qemu-system-x86 (the oracle) with apt-get" >&2
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq qemu-system-x86 >/dev/null
fi
qemu-system-x86_64 --version | head -1 >&2
