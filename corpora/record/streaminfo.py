"""The fdc section of a QEMU migration stream, as `fdc-replay stream show --format json` decodes
it, in the shape the corpus' NAME.migrations.jsonl records keep.

    fields = stream_fields(PATH)           # dict of the keys below, or {"stream_error": ...}
    find_fdc_replay()                      # the fdc-replay binary (env FDC_REPLAY, then target/)

Keys added to a migration record (all prefixed, nothing else changes):

  stream_format           "fdc-replay-stream/1" (the JSON format of `stream show`)
  stream_sha256           SHA-256 of the stream file (it is not committed)
  fdc_sent                the fdc subsections QEMU sent, distinct names in stream order
  fdc_subsections         every subsection record: {"name", "drive" (0/1, null for fdc/*), "value"}
  fdc_state               the decoded fdc section: registers, fifo (hex, 512 bytes), drives[]
                          with head/track/sect and the fdrive/* fields (null when not sent),
                          reset_sensei/result_timer/phase (null when not sent)
  fdc_reconstructed_phase the phase QEMU's post_load derives from the MSR (1 command, 2 data,
                          3 result)
  fdc_vmdesc_consistent   the vmdesc JSON lists exactly the subsections of the section
  stream_issues           what the parser reported (normally [])
"""
import hashlib
import json
import os
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def find_fdc_replay():
    cand = os.environ.get("FDC_REPLAY")
    if cand:
        return cand
    for p in (os.path.join(ROOT, "target", "release", "fdc-replay"),
              os.path.join(ROOT, "target", "debug", "fdc-replay")):
        if os.path.exists(p):
            return p
    return "fdc-replay"


def show(path, binary=None):
    """The whole `stream show --format json` document of PATH."""
    out = subprocess.run([binary or find_fdc_replay(), "stream", "show", "--format", "json", path],
                         capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError("stream show %s: exit %d: %s" % (path, out.returncode, out.stderr.strip()[-400:]))
    return json.loads(out.stdout)


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def fields_from_show(doc):
    fdc = doc.get("fdc")
    out = {"stream_format": doc.get("format"), "stream_issues": doc.get("issues", [])}
    if fdc is None:
        out.update(fdc_sent=None, fdc_subsections=None, fdc_state=None)
        return out
    out["fdc_sent"] = fdc["sent"]
    out["fdc_subsections"] = [{"name": s["name"], "drive": s["drive"], "value": s["value"]}
                              for s in fdc["subsections"]]
    out["fdc_state"] = fdc["state"]
    out["fdc_reconstructed_phase"] = fdc.get("reconstructed_phase")
    out["fdc_vmdesc_consistent"] = fdc.get("vmdesc_consistent")
    return out


def stream_fields(path, binary=None):
    try:
        doc = show(path, binary)
    except Exception as e:  # noqa
        return {"stream_error": str(e)}
    out = fields_from_show(doc)
    out["stream_sha256"] = sha256_file(path)
    return out


def sent_labels(rec):
    """['fdc/reset_sensei', 'fdrive/media_rate[0]', ...] of a record (drive in brackets)."""
    subs = rec.get("fdc_subsections") or []
    return [s["name"] + ("" if s["drive"] is None else "[%d]" % s["drive"]) for s in subs]
