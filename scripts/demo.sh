#!/usr/bin/env bash
# A demo of the oracle: drive real QEMU's floppy controller port by port (the built-in demo
# script of `fdc-replay oracle`, or the SCRIPT given as argument) and print every access, the
# IRQ line and, at each `migrate`, the subsections QEMU's migration stream carries. The same
# script on the model: `bash scripts/demo.sh --machine model`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cargo run --release -q -p fdc-replay -- oracle "$@"
