#!/usr/bin/env bash
# Re-imports the recorded guest logs of corpora/raw (QEMU -trace logs, their
# LOG.events.jsonl sidecars, the NAME.migrations.jsonl migration records and the recorders'
# NAME.meta.json) into corpora/traces/*.fdctrace.
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
    # The QEMU migrations the recorder took (header records; their pauses leave the times).
    [ -f "corpora/raw/$name.migrations.jsonl" ] && cp "corpora/raw/$name.migrations.jsonl" "$work/$name.migrations.jsonl"
    # Drives, guest and workload from the recorder's metadata.
    mapfile -t args < <(python3 - "corpora/raw/$name.meta.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
labels = {"1440K": "1.44M", "2880K": "2.88M", "720K": "720K", "1200K": "1.2M", "360K": "360K",
          "1722K": "1.72M"}
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
    # From inside the scratch directory, so that the header's `source` is `NAME.log` and a
    # re-import is byte-identical (the scratch directory's name changes every run).
    top=$PWD
    (cd "$work" && "$top/$bin" import qemu-log "$name.log" -o "$top/$out/$name.fdctrace" --quiet "${args[@]}")
done
echo "imported $(ls "$out"/*.fdctrace | wc -l) traces into $out"
# The manifest: one entry per recorded trace, from the recorders' metadata.
FDC_REPLAY="$bin" python3 - corpora/raw "$out" > corpora/manifest.json <<'PY'
import json, os, sys, glob
raw, out = sys.argv[1], sys.argv[2]
entries = []
def migrations_sent(path):
    # The real QEMU migrations taken mid-run and, per subsection, in how many of them
    # QEMU sent it (fdrive/* counted once per migration); null without migrations.
    if not os.path.exists(path):
        return None
    sent, n = {}, 0
    for line in open(path):
        if line.strip():
            n += 1
            for s in json.loads(line)["fdc_sent"]:
                sent[s] = sent.get(s, 0) + 1
    return {"count": n, "sent": dict(sorted(sent.items()))}
for meta in sorted(glob.glob(os.path.join(raw, "*.meta.json"))):
    m = json.load(open(meta))
    name = m["name"]
    trace = os.path.join(out, name + ".fdctrace")
    entries.append({
        "trace": trace,
        "guest": m.get("guest"),
        "guest_version": m.get("guest_version"),
        "workload": m.get("workload"),
        "description": m.get("workload_description"),
        "provenance": "recorded",
        "media": [{"drive": d["index"], "size": d.get("size"), "read_only": d.get("ro", False),
                   "sha256_before": d.get("sha256_before")} for d in m.get("drives", [])],
        "fdc_events": m.get("fdc_ioport_events"),
        "markers": m.get("markers"),
        "media_events": m.get("media_events"),
        "qemu_migrations": migrations_sent(os.path.join(raw, name + ".migrations.jsonl")),
        "trace_bytes": os.path.getsize(trace) if os.path.exists(trace) else None,
        "qemu_version": m.get("qemu_version"),
        "recorder": m.get("recorded_with"),
        "recorder_command": m.get("recorder_command"),
        "packages": m.get("packages"),
    })
# Driver-model traces (recorded by `fdc-replay record-driver-model` against real QEMU).
import subprocess
for trace in sorted(glob.glob(os.path.join(out, "windows2000-*.fdctrace"))):
    workload = os.path.basename(trace)[len("windows2000-"):-len(".fdctrace")]
    first = subprocess.run([os.environ["FDC_REPLAY"], "check", trace], capture_output=True, text=True).stdout.split("\n")[0]
    events = int(first.split(" events")[0].split()[-1]) if " events" in first else None
    entries.append({
        "trace": trace, "guest": "windows", "guest_version": "2000 (driver model of fdc.sys/flpydisk.sys)",
        "workload": workload, "provenance": "driver-model",
        "media": "1.44 MB FAT images made with mkfs.fat (see replay/src/drivermodel/)",
        "fdc_events": events, "trace_bytes": os.path.getsize(trace), "qemu_version": "7.2 (Debian qemu-system-x86)",
        "recorder": f"fdc-replay record-driver-model --workload {workload} -o {trace}",
    })
print(json.dumps({"traces": entries}, indent=1))
PY
echo "wrote corpora/manifest.json"
