#!/usr/bin/env bash
# Throughput of a fuzz target on one core: libFuzzer's own exec/s, from an empty corpus
# and from the committed seed corpus, for each build flavour given.
#
#   fuzz/execs.sh [TARGET] [SECONDS]          (default: fdc_pio, 30 s per run)
#
# Flavours (each builds into its own target dir so none replaces the campaign binary):
#   default   cargo fuzz run's defaults with -s none (debug assertions, trace-compares)
#   release   -O (no debug assertions)
#   ntc       -O --no-trace-compares
# FLAVOURS="default ntc" selects a subset. Runs are sequential, one process each; on a
# shared machine compare flavours within one invocation, not across invocations.
set -euo pipefail
cd "$(dirname "$0")"
TARGET=${1:-fdc_pio}
SECS=${2:-30}
FLAVOURS=${FLAVOURS:-"default release ntc"}
export CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS:-1}

flags() {
    case $1 in
        default) echo "-s none" ;;
        release) echo "-s none -O" ;;
        ntc) echo "-s none -O --no-trace-compares" ;;
        *) echo "unknown flavour $1" >&2; exit 2 ;;
    esac
}

printf '%-8s %-6s %10s %8s %6s\n' flavour corpus "exec/s" runs cov
for flavour in $FLAVOURS; do
    # shellcheck disable=SC2046
    cargo +nightly fuzz build $(flags "$flavour") --target-dir "target/execs-$flavour" "$TARGET" \
        >/dev/null 2>&1 || { echo "build ($flavour) failed" >&2; exit 1; }
    bin="target/execs-$flavour/x86_64-unknown-linux-gnu/release/$TARGET"
    for start in empty seeds; do
        work=$(mktemp -d)
        [ "$start" = seeds ] && cp "corpus/$TARGET"/* "$work/"
        log=$("$bin" "$work" -max_total_time="$SECS" -print_final_stats=1 2>&1 || true)
        rm -rf "$work"
        execs=$(echo "$log" | sed -n 's/^stat::average_exec_per_sec: *//p')
        runs=$(echo "$log" | sed -n 's/^stat::number_of_executed_units: *//p')
        cov=$(echo "$log" | grep -o 'cov: [0-9]*' | tail -1 | cut -d' ' -f2)
        printf '%-8s %-6s %10s %8s %6s\n' "$flavour" "$start" "$execs" "$runs" "$cov"
    done
done
