#!/usr/bin/env bash
# Canaries: run fdc_pio with each feature that re-introduces a historical QEMU flaw in the
# model, from an empty corpus, with 5 seeds, and print the median time to the first crash.
#
#   fuzz/canaries.sh [FEATURE...]       (default: all three; needs nightly and cargo-fuzz)
#
# Environment: LIMIT (seconds per run, default 120), SEEDS (default "1 2 3 4 5"),
# TARGET (default fdc_pio). Each feature builds into its own target dir so that the
# campaign binary is not replaced. Runs are one process each (one core).
set -euo pipefail
cd "$(dirname "$0")"
LIMIT=${LIMIT:-120}
SEEDS=${SEEDS:-"1 2 3 4 5"}
TARGET=${TARGET:-fdc_pio}
FEATURES=("$@")
[ ${#FEATURES[@]} -gt 0 ] || FEATURES=(bug-venom bug-cve-2021-20196 bug-cve-2021-3507)
export CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS:-1}

median() { sort -g | awk '{a[NR]=$1} END {if (NR % 2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }

summary=()
for feature in "${FEATURES[@]}"; do
    tdir="target/canary-$feature"
    cargo +nightly fuzz build -s none --target-dir "$tdir" "$TARGET" --features "$feature" >/dev/null 2>&1 \
        || { echo "build with $feature failed" >&2; exit 1; }
    times=()
    found=0
    for seed in $SEEDS; do
        work=$(mktemp -d)
        art="$work/art/"
        mkdir -p "$art" "$work/corpus"
        start=$(date +%s.%N)
        set +e
        cargo +nightly fuzz run -s none --target-dir "$tdir" "$TARGET" --features "$feature" "$work/corpus" -- \
            -seed="$seed" -max_total_time="$LIMIT" -artifact_prefix="$art" -print_final_stats=0 \
            >"$work/log" 2>&1
        set -e
        end=$(date +%s.%N)
        crash=$(ls "$art" 2>/dev/null | head -1)
        if [ -n "$crash" ] && ! grep -q "VENOM\|CVE-20" "$work/log"; then
            # A crash that is not the canary's is a finding of its own: keep it, count the
            # run as not found.
            mkdir -p "artifacts/canary-$feature"
            cp "$art/$crash" "artifacts/canary-$feature/other-seed-$seed-$crash"
            printf '%-20s seed %s: OTHER crash (not the canary), kept in artifacts/canary-%s: %s\n' \
                "$feature" "$seed" "$feature" "$(grep -m1 -A1 'panicked at' "$work/log" | tail -1 | cut -c1-160)"
            crash=""
            end=$(echo "$start + $LIMIT" | bc)
        fi
        if [ -n "$crash" ]; then
            t=$(echo "$end - $start" | bc)
            found=$((found + 1))
            msg=$(grep -m1 -o "panicked at.*\|CVE-[0-9-]*[^\"]*\|VENOM[^\"]*" "$work/log" | head -1 | cut -c1-120)
            printf '%-20s seed %s: crash after %6.1f s  (%s)\n' "$feature" "$seed" "$t" "$msg"
            mkdir -p "artifacts/canary-$feature"
            cp "$art/$crash" "artifacts/canary-$feature/seed-$seed-$crash"
        else
            t=$LIMIT
            printf '%-20s seed %s: no crash within %s s\n' "$feature" "$seed" "$LIMIT"
        fi
        times+=("$t")
        rm -rf "$work"
    done
    med=$(printf '%s\n' "${times[@]}" | median)
    summary+=("$(printf '%-20s found %d/%d  median %6.1f s' "$feature" "$found" "$(echo $SEEDS | wc -w)" "$med")")
done
echo
echo "median time to first crash (wall clock including libFuzzer start-up; runs without a crash count as ${LIMIT} s):"
printf '  %s\n' "${summary[@]}"
