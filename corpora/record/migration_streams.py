#!/usr/bin/env python3
"""Add what QEMU sent to every recorded migration (the recorder side of `fdc-replay stream show`), and print
the table of what the corpus' migrations carried.

    migration_streams.py update [NAME...]   # parse $FDC_RECORD_WORK/streams/NAME/*.mig with
                                            # `fdc-replay stream show` and add the fdc_* keys
                                            # (corpora/record/streaminfo.py) to
                                            # corpora/raw/NAME.migrations.jsonl
    migration_streams.py table [--markdown] # per recording: migrations, and how many carried
                                            # each subsection (fdrive/*: either drive, and per
                                            # drive)

recorder.py does the update itself right after each migration (and deletes the stream unless
--keep-streams); `update` is for recordings made before it did.
"""
import argparse
import glob
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import streaminfo  # noqa: E402

RAW = os.path.join(streaminfo.ROOT, "corpora", "raw")
SUBS = ["fdc/phase", "fdc/reset_sensei", "fdc/result_timer", "fdrive/media_changed",
        "fdrive/media_rate", "fdrive/perpendicular"]


def load(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def update(names, work):
    files = sorted(glob.glob(os.path.join(RAW, "*.migrations.jsonl")))
    if names:
        files = [f for f in files if os.path.basename(f)[:-len(".migrations.jsonl")] in names]
    binary = streaminfo.find_fdc_replay()
    bad = 0
    for path in files:
        recs = load(path)
        n_ok = 0
        for r in recs:
            sp = os.path.join(work, r["stream"])
            if not os.path.exists(sp):
                if "fdc_sent" not in r:
                    print("%s: %d: stream %s missing" % (os.path.basename(path), r["index"], sp))
                    bad += 1
                continue
            add = streaminfo.stream_fields(sp, binary)
            if "stream_error" in add:
                print("%s: %d: %s" % (os.path.basename(path), r["index"], add["stream_error"]))
                bad += 1
            if "stream_bytes" in r and r["stream_bytes"] != os.path.getsize(sp):
                print("%s: %d: stream size %d, record says %d" % (os.path.basename(path), r["index"],
                                                                   os.path.getsize(sp), r["stream_bytes"]))
                bad += 1
            r.update(add)
            n_ok += "stream_error" not in add
        with open(path, "w") as f:
            for r in recs:
                f.write(json.dumps(r, sort_keys=True) + "\n")
        print("%s: %d migrations, %d streams parsed" % (os.path.basename(path), len(recs), n_ok))
    return 1 if bad else 0


def table(markdown):
    rows = []
    tot = {"n": 0, "rec": 0}
    for path in sorted(glob.glob(os.path.join(RAW, "*.migrations.jsonl"))):
        name = os.path.basename(path)[:-len(".migrations.jsonl")]
        recs = load(path)
        row = {"name": name, "n": len(recs), "parsed": sum(1 for r in recs if r.get("fdc_state") is not None)}
        for s in SUBS:
            row[s] = sum(1 for r in recs if s in (r.get("fdc_sent") or []))
            if s.startswith("fdrive/"):
                for d in (0, 1):
                    row["%s[%d]" % (s, d)] = sum(1 for r in recs if any(
                        x["name"] == s and x["drive"] == d for x in (r.get("fdc_subsections") or [])))
        rows.append(row)
        tot["n"] += row["n"]
        tot["rec"] += 1
    cols = ["migrations", "parsed"] + [s.split("/")[1] for s in SUBS]
    total = {"name": "total (%d recordings)" % tot["rec"], "n": tot["n"],
             "parsed": sum(r["parsed"] for r in rows)}
    for s in SUBS:
        total[s] = sum(r[s] for r in rows)
        if s.startswith("fdrive/"):
            for d in (0, 1):
                total["%s[%d]" % (s, d)] = sum(r["%s[%d]" % (s, d)] for r in rows)

    def cell(r, s):
        if not s.startswith("fdrive/"):
            return str(r[s])
        return "%d (%d/%d)" % (r[s], r[s + "[0]"], r[s + "[1]"])

    lines = []
    if markdown:
        lines.append("| recording | " + " | ".join(cols) + " |")
        lines.append("| --- |" + " ---: |" * len(cols))
        for r in rows + [total]:
            lines.append("| %s | %d | %d | %s |" % (r["name"], r["n"], r["parsed"],
                                                   " | ".join(cell(r, s) for s in SUBS)))
    else:
        vals = {r["name"]: [str(r["n"]), str(r["parsed"])] + [cell(r, s) for s in SUBS] for r in rows + [total]}
        w = [max(len(r["name"]) for r in rows + [total])] + \
            [max([len(c)] + [len(v[i]) for v in vals.values()]) + 2 for i, c in enumerate(cols)]
        lines.append("recording".ljust(w[0]) + "".join(c.rjust(w[i + 1]) for i, c in enumerate(cols)))
        for r in rows + [total]:
            lines.append(r["name"].ljust(w[0]) + "".join(v.rjust(w[i + 1]) for i, v in enumerate(vals[r["name"]])))
    lines.append("fdrive/* columns: migrations with the subsection for either drive (drive 0 / drive 1)")
    print("\n".join(lines))
    return 0


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    u = sub.add_parser("update")
    u.add_argument("names", nargs="*")
    u.add_argument("--work", default=os.environ.get("FDC_RECORD_WORK", "/tmp/fdc-record"))
    t = sub.add_parser("table")
    t.add_argument("--markdown", action="store_true")
    a = ap.parse_args()
    if a.cmd == "update":
        return update(a.names, a.work)
    return table(a.markdown)


if __name__ == "__main__":
    sys.exit(main())
