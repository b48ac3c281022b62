#!/usr/bin/env bash
# The whole test suite: installs the missing Debian packages (scripts/install-deps.sh: QEMU,
# dosfstools, mtools, ... from scripts/debian-packages.txt), then runs every test of the workspace,
# including the conformance tests against real QEMU. Set FDC_SKIP_QEMU=1 to skip those
# explicitly (cargo then reports them as ignored; they fail, saying how to install QEMU,
# when it is missing otherwise).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${FDC_SKIP_QEMU:-}" != 1 ]; then
    bash scripts/install-deps.sh
fi
cargo test --workspace --release "$@"
if ! command -v chromium >/dev/null && [ -z "${FDC_CHROMIUM:-}" ]; then
    echo "note: replay/tests/report_html.rs was SKIPPED: chromium is not installed (bash scripts/install-deps.sh --browser)"
fi
# The canary features (historical QEMU flaws re-introduced, each detected by a panic).
for f in bug-venom bug-cve-2021-20196 bug-cve-2021-3507; do
    cargo test --release -q -p fdc --features "$f" --test canaries
done
# Regression replay of the recorded corpus against its baseline (corpora/baseline.json).
target/release/fdc-replay regress -q --baseline corpora/baseline.json corpora/traces
