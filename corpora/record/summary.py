#!/usr/bin/env python3
"""Print a markdown table of the recordings in corpora/raw (from the .meta.json files)."""
import glob
import json
import os
import sys

raw = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "raw")
print("| recording | fdc_ioport events (reads/writes) | markers | media events | migrations | QEMU run | log | log.gz |")
print("| --- | --- | --- | --- | --- | --- | --- | --- |")
tot = 0
for p in sorted(glob.glob(os.path.join(raw, "*.meta.json"))):
    m = json.load(open(p))
    gz = m.get("log_compressed_bytes", 0)
    tot += gz
    mig = (m.get("migrations") or {}).get("count", 0)
    print("| %s | %d (%d/%d) | %d | %d | %d | %.1f s | %.0f KB | %.0f KB |" % (
        m["name"], m["fdc_ioport_events"], m["fdc_ioport_reads"], m["fdc_ioport_writes"],
        len(m["markers"]), m["media_events"], mig, m["host_time"]["seconds"],
        m["log_uncompressed_bytes"] / 1024, gz / 1024))
print("\nTotal compressed logs: %.0f KB" % (tot / 1024))
