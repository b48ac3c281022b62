#!/usr/bin/env bash
# The main job until the replay report lands: drive real QEMU's floppy controller port by
# port and print what its migration stream contains, next to what the model predicts.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cargo run --release -q -p fdc-replay -- oracle "$@"
