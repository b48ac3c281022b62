#!/usr/bin/env bash
# A fuzzing campaign bounded by CPU time, not wall clock: on a shared machine
# libFuzzer's -max_total_time (wall clock) says little about how much fuzzing was done.
#
#   fuzz/campaign.sh TARGET CPU_MINUTES [extra libFuzzer args...]
#
# One libFuzzer process (one core), built as `cargo fuzz run -s none TARGET` builds it
# (debug assertions and overflow checks on). The corpus is fuzz/work/TARGET (created from
# the committed seeds if missing); crashes land in fuzz/artifacts/TARGET/. The log is
# fuzz/work/TARGET.log; the last lines report CPU time, runs and crashes.
set -euo pipefail
cd "$(dirname "$0")"
TARGET=${1:?target}
MINUTES=${2:?CPU minutes}
shift 2
export CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS:-1}
cargo +nightly fuzz build -s none "$TARGET" >/dev/null 2>&1 || { echo "build failed" >&2; exit 1; }
bin="target/x86_64-unknown-linux-gnu/release/$TARGET"
corpus="work/$TARGET"
log="work/$TARGET.log"
mkdir -p "$corpus" "artifacts/$TARGET"
[ -n "$(ls -A "$corpus")" ] || cp "corpus/$TARGET"/* "$corpus/"
limit=$((MINUTES * 60))
"$bin" "$corpus" -artifact_prefix="artifacts/$TARGET/" -print_final_stats=1 \
    -max_total_time=$((limit * 20)) "$@" >"$log" 2>&1 &
pid=$!
ticks=$(getconf CLK_TCK)
cpu() { awk -v t="$ticks" '{print int(($14 + $15) / t)}' "/proc/$1/stat" 2>/dev/null || echo 0; }
start=$(date +%s)
used=0
while kill -0 "$pid" 2>/dev/null; do
    used=$(cpu "$pid")
    [ "$used" -ge "$limit" ] && kill -INT "$pid" && break
    sleep 10
done
wait "$pid" 2>/dev/null || true
crashes=$(find "artifacts/$TARGET" -type f -newer "$bin" | wc -l)
summary=$(
    echo "campaign $TARGET: ${used} CPU-s in $(($(date +%s) - start)) s wall"
    grep -E '^#[0-9]+[[:space:]]+(pulse|NEW|REDUCE|DONE)' "$log" | tail -1 || true
    grep '^stat::' "$log" || true
    echo "crash artifacts since the build: $crashes"
)
echo "$summary" | tee -a "$log"
