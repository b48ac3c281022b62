#!/usr/bin/env bash
# Line coverage of fdc/src reached by the fuzz corpora: `cargo fuzz coverage` for fdc_pio
# and vmstate_load (the two targets that drive the model), then llvm-cov line counts of
# fdc/src per target and for their union.
#
#   fuzz/coverage.sh [-v]         (-v lists the uncovered line numbers per file)
#
# Corpus per target: fuzz/work/TARGET if a campaign left one (campaign.sh), else the
# committed seeds in fuzz/corpus/TARGET. Needs nightly, cargo-fuzz, llvm-tools
# (`rustup +nightly component add llvm-tools-preview`) and python3.
set -euo pipefail
cd "$(dirname "$0")"
verbose=${1:-}
export CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS:-1}
tools=$(rustc +nightly --print sysroot)/lib/rustlib/x86_64-unknown-linux-gnu/bin
[ -x "$tools/llvm-cov" ] || rustup +nightly component add llvm-tools-preview >/dev/null
bins=target/x86_64-unknown-linux-gnu/coverage/x86_64-unknown-linux-gnu/release
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for t in fdc_pio vmstate_load; do
    corpus=work/$t
    [ -d "$corpus" ] && [ -n "$(ls -A "$corpus")" ] || corpus=corpus/$t
    echo "$t: running $(ls "$corpus" | wc -l) inputs of $corpus" >&2
    cargo +nightly fuzz coverage "$t" "$corpus" >"$out/$t.log" 2>&1 \
        || { tail -20 "$out/$t.log" >&2; exit 1; }
    "$tools/llvm-cov" export -format=lcov "$bins/$t" -instr-profile="coverage/$t/coverage.profdata" \
        --ignore-filename-regex='(\.cargo|rustc|/replay/|/fuzz-targets/|/fuzz/)' >"$out/$t.lcov"
done
python3 - "$out" "$verbose" <<'PY'
import collections, sys
out, verbose = sys.argv[1], sys.argv[2] == "-v"
per = {}
for t in ("fdc_pio", "vmstate_load"):
    cov, cur = collections.defaultdict(dict), None
    for line in open(f"{out}/{t}.lcov"):
        if line.startswith("SF:"):
            cur = line[3:].strip()
        elif line.startswith("DA:"):
            n, c = line[3:].split(",")[:2]
            cov[cur][int(n)] = int(c)
    per[t] = cov
union = collections.defaultdict(dict)
for cov in per.values():
    for f, lines in cov.items():
        for n, c in lines.items():
            union[f][n] = union[f].get(n, 0) + c
def total(cov):
    lines = [c for f in cov.values() for c in f.values()]
    return sum(c > 0 for c in lines), len(lines)
for f in sorted(union):
    lines = union[f]
    hit = sum(c > 0 for c in lines.values())
    miss = sorted(n for n, c in lines.items() if c == 0)
    shown = miss if verbose else len(miss)
    print(f"  {f.split('/')[-1]:16} {hit:5}/{len(lines):<5} {100 * hit / len(lines):5.1f} %  uncovered: {shown}")
for name, cov in (("fdc_pio", per["fdc_pio"]), ("vmstate_load", per["vmstate_load"]), ("both", union)):
    hit, n = total(cov)
    print(f"fdc/src line coverage, {name:12}: {hit}/{n} = {100 * hit / n:.2f} %")
PY
