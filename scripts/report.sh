#!/usr/bin/env bash
# The main job: the prevalent-state report over the recorded guest traces shipped in
# corpora/traces (imported from corpora/raw by scripts/import-corpora.sh). Extra arguments
# go to `fdc-replay report` (e.g. --format markdown|json|html, -o FILE, --shard K/N, -j 2).
set -euo pipefail
cd "$(dirname "$0")/.."
# The build's progress goes to standard error (the first build takes minutes; later ones
# print one line), so it is seen, and standard output holds only the report.
cargo build --release -p fdc-replay
exec target/release/fdc-replay report corpora/traces "$@"
