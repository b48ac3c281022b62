#!/usr/bin/env bash
# Re-imports the recorded guest logs of corpora/raw (QEMU -trace logs, their
# LOG.events.jsonl sidecars and the recorders' NAME.meta.json) into corpora/traces/*.fdctrace.
# Run it after recording (corpora/record/record.sh); then `fdc-replay regress --update`.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p fdc-replay
bin=target/release/fdc-replay
out=corpora/traces
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$out"
for gz in corpora/raw/*.log.gz; do
    name=$(basename "$gz" .log.gz)
    zcat "$gz" > "$work/$name.log"
    [ -f "corpora/raw/$name.log.events.jsonl" ] && cp "corpora/raw/$name.log.events.jsonl" "$work/$name.log.events.jsonl"
    # Drives, guest and workload from the recorder's metadata.
    mapfile -t args < <(python3 - "corpora/raw/$name.meta.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
labels = {"1440K": "1.44M", "2880K": "2.88M", "720K": "720K", "1200K": "1.2M", "360K": "360K"}
seen = set()
for d in m.get("drives", []):
    size = d.get("size")
    spec = labels.get(size, size) if size else "empty"
    if d.get("ro"):
        spec += ",ro"
    print("--drive"); print(f"{d['index']}={spec}")
    seen.add(d["index"])
if 1 not in seen:
    print("--drive"); print("1=none")
print("--guest"); print(m.get("guest", "unknown"))
if m.get("guest_version"):
    print("--guest-version"); print(str(m["guest_version"]))
print("--workload"); print(m.get("workload", "unknown"))
print("--provenance"); print("recorded")
PY
)
    "$bin" import qemu-log "$work/$name.log" -o "$out/$name.fdctrace" --quiet "${args[@]}"
done
echo "imported $(ls "$out"/*.fdctrace | wc -l) traces into $out"
