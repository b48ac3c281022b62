#!/usr/bin/env python3
"""Summary of the real-guest what-if runs in corpora/whatif/runs/ (schema in README.md).

    python3 corpora/whatif/summary.py                  # table per subsection and guest
    python3 corpora/whatif/summary.py --format markdown
    python3 corpora/whatif/summary.py --format json    # {"subsections": [{"name", "real": {"runs",
                                                       #   "classes"}, "by_guest": {...}}], ...}
    python3 corpora/whatif/summary.py --evidence       # the table, then 1-3 evidence lines per class
"""
import argparse
import glob
import json
import os
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
CLASSES = ["invisible", "value_only", "retry", "io_error", "data_corruption", "hang", "qemu_abort"]
SUBS = ["fdc/phase", "fdc/reset_sensei", "fdc/result_timer", "fdrive/media_changed", "fdrive/media_rate",
        "fdrive/perpendicular"]


def load(d):
    recs = []
    for p in sorted(glob.glob(os.path.join(d, "*", "*.json"))):
        with open(p) as f:
            recs.append(json.load(f))
    return recs


def group(recs):
    out = {}
    for r in recs:
        key = (r["subsection"], r["guest"], (r.get("edit") or {}).get("op", "drop") if r.get("reached") else "-")
        g = out.setdefault(key, {"edited": 0, "controls": 0, "controls_normal": 0, "not_reached": 0,
                                 "attempts_unreached": 0, "classes": {}, "lost": [], "evidence": {},
                                 "sent_seen": set(), "ids": []})
        g["ids"].append(r["id"])
        if not r.get("reached"):
            g["not_reached"] += 1
            g["attempts_unreached"] += len(r.get("attempts", []))
            for a in r.get("attempts", []):
                g["sent_seen"].update(a.get("sent", []))
            continue
        g["edited"] += 1
        g["controls"] += 1
        g["controls_normal"] += bool(r.get("control_normal"))
        g["classes"][r["class"]] = g["classes"].get(r["class"], 0) + 1
        if (r.get("time") or {}).get("lost_s") is not None:
            g["lost"].append(r["time"]["lost_s"])
        ev = g["evidence"].setdefault(r["class"], [])
        if len(ev) < 3:
            ev.append((r["id"], r.get("evidence", [])[:3]))
    return out


def real_json(recs):
    subs = []
    for s in SUBS:
        rs = [r for r in recs if r["subsection"] == s and r.get("reached")]
        un = [r for r in recs if r["subsection"] == s and not r.get("reached")]
        classes = {}
        for r in rs:
            classes[r["class"]] = classes.get(r["class"], 0) + 1
        by_guest = {}
        for r in rs:
            b = by_guest.setdefault(r["guest"], {"runs": 0, "classes": {}, "controls_normal": 0})
            b["runs"] += 1
            b["controls_normal"] += bool(r.get("control_normal"))
            b["classes"][r["class"]] = b["classes"].get(r["class"], 0) + 1
        unreached = {}
        for r in un:
            u = unreached.setdefault(r["guest"], {"searches": 0, "streams_taken": 0})
            u["searches"] += 1
            u["streams_taken"] += len(r.get("attempts", []))
        subs.append({"name": s, "real": {"runs": len(rs), "classes": classes,
                                         "controls_normal": sum(bool(r.get("control_normal")) for r in rs)},
                     "by_guest": by_guest, "not_reached": unreached})
    return {"format": "fdc-whatif-real-summary/1", "runs": len(recs), "subsections": subs}


def fmt_classes(c):
    return ", ".join("%s %d" % (k, c[k]) for k in CLASSES + sorted(set(c) - set(CLASSES)) if k in c) or "-"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", default=os.path.join(HERE, "runs"))
    ap.add_argument("--format", choices=["table", "markdown", "json"], default="table")
    ap.add_argument("--evidence", action="store_true")
    a = ap.parse_args()
    recs = load(a.dir)
    if a.format == "json":
        json.dump(real_json(recs), sys.stdout, indent=1, sort_keys=True)
        print()
        return 0
    g = group(recs)
    rows = []
    for (s, guest, op), v in sorted(g.items(), key=lambda kv: (SUBS.index(kv[0][0]) if kv[0][0] in SUBS else 99,
                                                               kv[0][1], kv[0][2])):
        if v["edited"]:
            lost = ("%+.2f" % statistics.median(v["lost"])) if v["lost"] else "-"
            lost_max = ("%+.1f" % max(v["lost"])) if v["lost"] else "-"
            rows.append([s + ("" if op in ("drop", "-") else " (%s)" % op), guest,
                         "%d/%d" % (v["edited"], v["controls"]), "%d" % v["controls_normal"],
                         fmt_classes(v["classes"]), lost, lost_max])
        if v["not_reached"]:
            rows.append([s, guest, "0/0", "-", "not reached: %d searches, %d streams, none with it (sent: %s)" % (
                v["not_reached"], v["attempts_unreached"], ", ".join(sorted(v["sent_seen"])) or "-"), "-", "-"])
    head = ["subsection", "guest", "edited/control", "controls normal", "classes", "lost s (median)", "max"]
    if a.format == "markdown":
        print("| " + " | ".join(head) + " |")
        print("|" + " --- |" * len(head))
        for r in rows:
            print("| " + " | ".join(r) + " |")
    else:
        w = [max(len(h), max((len(r[i]) for r in rows), default=0)) for i, h in enumerate(head)]
        print("  ".join(h.ljust(w[i]) for i, h in enumerate(head)))
        for r in rows:
            print("  ".join(c.ljust(w[i]) for i, c in enumerate(r)))
    if a.evidence:
        for (s, guest, op), v in sorted(g.items()):
            for cls, evs in sorted(v["evidence"].items()):
                print("\n%s on %s: %s" % (s, guest, cls))
                for rid, lines in evs[:2]:
                    print("  %s" % rid)
                    for l in lines:
                        print("    " + l[:300])
    return 0


if __name__ == "__main__":
    sys.exit(main())
