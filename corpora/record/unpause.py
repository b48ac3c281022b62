#!/usr/bin/env python3
"""Write a copy of a recorded log (and its events sidecar) with the migration pauses taken
out of the timestamps, for experiments with replays that take time from the log.

    unpause.py corpora/raw/NAME OUTDIR      -> OUTDIR/NAME.log, OUTDIR/NAME.log.events.jsonl

QEMU's virtual clock stands still from a migration's STOP event to its RESUME event
(`qmp_stop_t`, `qmp_resume_t` in NAME.migrations.jsonl); the host timestamps of the log do
not.  Every timestamp at or after a RESUME is moved back by the sum of the pauses before it.
The committed logs are never changed."""
import gzip
import json
import os
import re
import sys

LINE = re.compile(r"^(\d+)@(\d+\.\d+):(.*)$")


def main():
    base, out = sys.argv[1], sys.argv[2]
    name = os.path.basename(base)
    pauses = []
    with open(base + ".migrations.jsonl") as f:
        for line in f:
            r = json.loads(line)
            if "qmp_stop_t" in r and "qmp_resume_t" in r:
                pauses.append((r["qmp_resume_t"], r["qmp_resume_t"] - r["qmp_stop_t"]))
    pauses.sort()

    def shift(t):
        return t - sum(d for resume, d in pauses if resume <= t)

    os.makedirs(out, exist_ok=True)
    with gzip.open(base + ".log.gz", "rt", errors="replace") as fi, \
            open(os.path.join(out, name + ".log"), "w") as fo:
        for line in fi:
            m = LINE.match(line)
            if m:
                line = "%s@%.6f:%s\n" % (m.group(1), shift(float(m.group(2))), m.group(3))
            fo.write(line)
    side = base + ".log.events.jsonl"
    if os.path.exists(side):
        with open(side) as fi, open(os.path.join(out, name + ".log.events.jsonl"), "w") as fo:
            for line in fi:
                e = json.loads(line)
                e["t"] = shift(e["t"])
                fo.write(json.dumps(e) + "\n")
    print("%s: %d pauses, %.3f s in all" % (name, len(pauses), sum(d for _, d in pauses)))


if __name__ == "__main__":
    main()
