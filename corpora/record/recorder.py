#!/usr/bin/env python3
"""Run one recording: start QEMU with FDC tracing, drive media changes over QMP,
then write the sidecar (markers + media events) and the metadata next to the log.

Called by record.sh after it has installed the packages and built the guest
artefacts (initramfs, boot sector).  Usage:
    recorder.py NAME --work DIR --raw DIR [--kernel K --initrd I] [--bootsector B]
"""
import argparse
import glob
import gzip
import hashlib
import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import streaminfo  # noqa: E402  (fdc-replay stream show of each migration stream)

MB = 1024 * 1024
SIZES = {"720K": 737280, "1440K": 1474560, "1722K": 82 * 2 * 21 * 512, "2880K": 2949120}

# Each recording: guest kind, workload name, drives, media actions.
# Drive image kinds: ("zero", size) blank, ("pattern", size, seed) deterministic
# bytes, ("fat", size, volid, label) host-made FAT file system, ("int13", size)
# the nasm boot program followed by a pattern.
RECORDINGS = {
    "linux-probe": dict(guest="linux", wl="probe",
                        drives=[("pattern", "1440K", 1)]),
    "linux-install": dict(guest="linux", wl="install",
                          drives=[("zero", "1440K")]),
    "linux-readscan": dict(guest="linux", wl="readscan",
                           drives=[("pattern", "1440K", 2)]),
    "linux-fdformat": dict(guest="linux", wl="fdformat",
                           drives=[("pattern", "1440K", 3)]),
    "linux-720k": dict(guest="linux", wl="720k",
                       drives=[("fat", "720K", "1d0c0720", "FDC720K")]),
    "linux-2880k": dict(guest="linux", wl="2880k",
                        drives=[("fat", "2880K", "1d0c2880", "FDC2880K")]),
    "linux-2drives": dict(guest="linux", wl="2drives",
                          drives=[("zero", "1440K"), ("pattern", "1440K", 4)]),
    "linux-mediachange": dict(guest="linux", wl="mediachange",
                              drives=[("pattern", "1440K", 5)],
                              spare=[("pattern", "1440K", 6)],
                              actions={"wait-eject": [("eject", 0), ("sleep", 2.0), ("go",)],
                                       "wait-insert": [("insert", 0, 0), ("sleep", 1.0), ("go",)]}),
    "linux-writeprotect": dict(guest="linux", wl="writeprotect",
                               drives=[("fat", "1440K", "1d0c1441", "FDCWP")], readonly=[0]),
    "linux-rawcmd": dict(guest="linux", wl="rawcmd", drives=[("pattern", "1440K", 10), ("pattern", "1440K", 11)],
                         mem=96, migrate=dict(seed=101, interval=(0.3, 1.5), after="probe")),
    "linux-rawcmd-hold": dict(guest="linux", wl="rawcmd-hold", drives=[("pattern", "1440K", 12)],
                              mem=96, migrate=dict(seed=102, interval=(0.05, 0.4), after="probe")),
    "linux-geom-1722": dict(guest="linux", wl="geom-1722", drives=[("zero", "1722K")],
                            mem=96, migrate=dict(seed=103, interval=(0.1, 0.5), after="probe")),
    "linux-geom-720": dict(guest="linux", wl="geom-720", drives=[("zero", "720K")],
                           mem=96, migrate=dict(seed=104, interval=(0.1, 0.5), after="probe")),
    "linux-opts-daring": dict(guest="linux", wl="opts-daring",
                              drives=[("zero", "1440K"), ("pattern", "1440K", 13)],
                              mem=96, migrate=dict(seed=105, interval=(0.1, 0.5), after="probe")),
    "linux-opts-nofifo": dict(guest="linux", wl="opts-nofifo",
                              drives=[("zero", "1440K"), ("pattern", "1440K", 14)],
                              mem=96, migrate=dict(seed=106, interval=(0.1, 0.5), after="probe")),
    "linux-opts-mix": dict(guest="linux", wl="opts-mix",
                           drives=[("zero", "1440K"), ("pattern", "1440K", 15)], mem=96),
    "linux-fdcprog": dict(guest="linux", wl="fdcprog", drives=[("pattern", "1440K", 16), ("pattern", "1440K", 17)],
                          mem=96, migrate=dict(seed=107, interval=(0.05, 0.5), after="fdcprog")),
    "linux-test": dict(guest="linux", wl="test", drives=[("pattern", "1440K", 20), ("pattern", "1440K", 21)],
                       mem=96),
    "seabios-int13": dict(guest="seabios", wl="int13",
                          drives=[("int13", "1440K", 7)]),
    "bochsbios-int13": dict(guest="bochsbios", wl="int13-bochs",
                            drives=[("int13", "1440K", 8)], mem=32,
                            migrate=dict(seed=108, interval=(0.02, 0.25), after="boot")),
    "syslinux-memdisk": dict(guest="syslinux", wl="syslinux-memdisk",
                             drives=[("file", "1440K")],
                             # SYSLINUX prints these on COM2 (SERIAL 1); a marker is placed at the
                             # byte that completes the prefix, i.e. when that stage starts.
                             line_markers=[("SYSLINUX ", "ldlinux"),
                                           ("Loading memdisk...", "load-memdisk"),
                                           ("Loading payload.img...", "load-payload")]),
}

WORKLOADS = {
    "rawcmd": "floppy.ko built with FDRAWCMD; fdrawcmd on both drives and heads: VERSION, DUMPREG, PART ID, SAVE, "
              "LOCK/UNLOCK, CONFIGURE, POWERDOWN, OPTION, RESTORE, DRIVE SPEC, SPECIFY, SENSE INTERRUPT, invalid "
              "opcodes, FORMAT AND WRITE; RECALIBRATE, SENSE DRIVE STATUS, SEEK, RELATIVE SEEK in/out past the ends, "
              "READ ID (0x4a) loops; READ DATA (MT, no MT, FM), READ TRACK, READ DELETED, VERIFY, SCAN EQUAL/LOW/HIGH, "
              "WRITE DATA, WRITE DELETED, FORMAT TRACK + write + read back (each checked against the block device or "
              "the data written); FDRESET x4; PERPENDICULAR MODE with OW on both drives; whole-disk reads; 3 s idle",
    "rawcmd-hold": "fdrawcmd READ ID (0x4a) loops (6 x 40), PERPENDICULAR MODE with OW on drive 0 and READ IDs, "
                   "8 FDRESETs with DUMPREG, a whole-disk read and idle with drive 0 perpendicular, clear; "
                   "QEMU migrations at short random intervals",
    "geom-1722": "a 1.72 MB medium (21 sectors, 82 cylinders) in a 1.44 MB drive: superformat hd sect=21 cyl=82 "
                 "(with its verify), setfdprm 1722/1440, mkfs.fat, copy 1.1 MB, sync, remount, verify, whole-disk read",
    "geom-720": "a 720 KB format (9 sectors, 250 kbit/s) on a 720K image in a 1.44 MB drive: superformat dd, "
                "setfdprm 720/1440, mkfs.fat, copy 361 KB, sync, remount, verify, whole-disk read",
    "opts-daring": "floppy.ko floppy=daring; two drives at once: background dd read of fd1 while a copy to fd0's "
                   "FAT runs, then a background dd write to fd1 while fd0's files are read and one deleted; verify",
    "opts-nofifo": "floppy.ko floppy=nofifo (FIFO off in CONFIGURE); the same two-drive concurrent workload as "
                   "opts-daring",
    "opts-mix": "floppy.ko floppy=\"daring two_fdc nofifo unexpected_interrupts slow all_drives 1,4,cmos 6,irq 2,dma\" "
                "(a second FDC probed at 0x370, slow mode); the same two-drive concurrent workload as opts-daring",
    "fdcprog": "no floppy.ko: a static C program (ioperm) drives the FDC: DOR resets each followed by a 500 ms pause "
               "before the 4 SENSE INTERRUPTs, VERSION, DUMPREG, RECALIBRATE/SEEK/relative seeks past both ends on "
               "both drives and heads, SENSE DRIVE STATUS, READ IDs (0x4a) held for the 20 ms result and a 4 s READ "
               "ID loop, PERPENDICULAR MODE with OW on both drives (kept across a reset), clear; QEMU migrations at "
               "random intervals and at every hold-* marker",
    "test": "ad-hoc experiment ($FDC_RECORD_WORK/test.sh); not a corpus recording",
    "probe": "boot, insmod floppy (controller probe), 4 s idle",
    "install": "mkfs.fat on a blank 1.44M disk, mount, copy 1.1 MB in 7 files, sync, umount, "
               "drop caches, mount ro, sha256sum -c, umount, 4 s idle",
    "readscan": "dd the whole 1.44M disk (bs=18432, one cylinder per read), 4 s idle",
    "fdformat": "static fdformat (FDFMTBEG/FDFMTTRK x160/FDFMTEND), then read back the whole disk, 4 s idle",
    "720k": "720K medium in a 1.44M drive: autodetect + whole-disk read, mount the FAT fs, copy 361 KB, "
            "sync, umount, mount ro, verify, 4 s idle",
    "2880k": "2.88M medium and drive: whole-disk read, mount, copy 2.2 MB, sync, umount, mount ro, verify, 4 s idle",
    "2drives": "two 1.44M drives: mkfs + copy 361 KB on fd0, dd fd0 -> fd1 (diskcopy), read both back, "
               "mount both, verify fd1, 4 s idle",
    "mediachange": "read whole disk A, host ejects (HMP eject floppy0), guest reads with no medium (fails), "
                   "host inserts disk B (HMP change floppy0 IMG raw), guest reads whole disk B, 4 s idle",
    "writeprotect": "write-protected 1.44M FAT medium (-drive readonly=on): whole-disk read, mount rw "
                    "(refused, busybox retries ro), list, write attempts via dd and fdformat (refused), 4 s idle",
    "int13": "nasm boot sector + stage 2 through SeaBIOS INT 13h: AH=00 reset, AH=08/15/16, read the whole "
             "disk one track per call, a two-head (MT) read, write + AH=04 verify + read back, AH=17/18 + "
             "AH=05 format of 2 tracks, write them, read back, 3 s idle (BIOS motor-off), ACPI poweroff",
    "int13-bochs": "the INT 13h program of seabios-int13 (seabios/int13.asm, same binary) under Debian's Bochs "
                   "BIOS (bochsbios, BIOS-bochs-latest, its own floppy driver) instead of SeaBIOS, QEMU with "
                   "-cpu qemu64,-apic; QEMU migrations at random intervals",
    "syslinux-memdisk": "SeaBIOS boots SYSLINUX 6.04 from a FAT12 1.44M floppy; ldlinux.sys loads ldlinux.c32 and "
                        "syslinux.cfg (SAY MARK config on COM2), then memdisk and a 720K payload image through "
                        "INT 13h; memdisk boots the payload from RAM, whose boot sector marks and powers off",
}

LINE_RE = re.compile(r"^(\d+)@(\d+\.\d+):(\S+) ?(.*)$")
SERIAL_RE = re.compile(r"addr 0x([0-9a-f]+) val 0x([0-9a-f]+)")


def pattern_bytes(size, seed):
    out = bytearray()
    i = 0
    while len(out) < size:
        out += hashlib.sha256(b"fdc-corpus-%d-%d" % (seed, i)).digest()
        i += 1
    return bytes(out[:size])


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def make_image(spec, path, bootsector, image=None):
    kind, size = spec[0], SIZES[spec[1]]
    if kind == "zero":
        data = bytes(size)
    elif kind == "pattern":
        data = pattern_bytes(size, spec[2])
    elif kind == "int13":
        boot = open(bootsector, "rb").read()
        data = boot + pattern_bytes(size - len(boot), spec[2])
    elif kind == "file":
        shutil.copy(image, path)
        return
    elif kind == "fat":
        if os.path.exists(path):
            os.unlink(path)
        subprocess.run(["mkfs.fat", "-C", "--invariant", "-i", spec[2], "-n", spec[3],
                        path, str(size // 1024)], check=True, stdout=subprocess.DEVNULL)
        return
    else:
        raise ValueError(kind)
    with open(path, "wb") as f:
        f.write(data)


class Qmp:
    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.connect(path)
        self.f = self.s.makefile("rwb")
        self.events = []  # (name, host time of the event) of every QMP event seen
        self._read()  # greeting
        self.cmd("qmp_capabilities")

    def _read(self):
        while True:
            line = self.f.readline()
            if not line:
                raise RuntimeError("QMP closed")
            msg = json.loads(line)
            if "event" not in msg:
                return msg
            ts = msg.get("timestamp") or {}
            self.events.append((msg["event"], ts.get("seconds", 0) + ts.get("microseconds", 0) / 1e6))

    def cmd(self, name, **args):
        req = {"execute": name}
        if args:
            req["arguments"] = args
        self.f.write(json.dumps(req).encode() + b"\n")
        self.f.flush()
        resp = self._read()
        if "error" in resp:
            raise RuntimeError("QMP %s: %s" % (name, resp["error"]))
        return resp["return"]

    def hmp(self, line):
        out = self.cmd("human-monitor-command", **{"command-line": line})
        if out.strip():
            raise RuntimeError("HMP %r: %s" % (line, out.strip()))
        return out


def connect_unix(path, timeout=20.0):
    end = time.time() + timeout
    while True:
        try:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(path)
            return s
        except OSError:
            s.close()
            if time.time() > end:
                raise
            time.sleep(0.05)


def parse_log(path, line_markers=()):
    """Return (fdc event count, markers [(t, label)], other counts).
    Markers: 'MARK <label>' lines written to a UART (time of the line's last
    byte), plus optional (prefix, label) pairs that fire when a line's text
    first equals the prefix (time of the byte completing it)."""
    fdc = 0
    markers = []
    counts = {}
    dlab = loop = False
    buf = bytearray()
    with open(path, errors="replace") as f:
        for line in f:
            m = LINE_RE.match(line.rstrip("\n"))
            if not m:
                continue
            t, ev, rest = float(m.group(2)), m.group(3), m.group(4)
            counts[ev] = counts.get(ev, 0) + 1
            if ev.startswith("fdc_ioport"):
                fdc += 1
            elif ev == "serial_write":
                sm = SERIAL_RE.search(rest)
                if not sm:
                    continue
                addr, val = int(sm.group(1), 16), int(sm.group(2), 16)
                if addr == 3:
                    dlab = bool(val & 0x80)
                elif addr == 4:
                    loop = bool(val & 0x10)
                elif addr == 0 and not dlab and not loop:
                    if val == 0x0A:
                        text = buf.decode("latin-1").strip("\r")
                        buf.clear()
                        if text.startswith("MARK "):
                            markers.append((t, text[5:].strip()))
                    else:
                        buf.append(val)
                        if len(buf) > 4096:
                            buf.clear()
                        if line_markers:
                            text = buf.decode("latin-1").strip("\r")
                            for prefix, label in line_markers:
                                if text == prefix:
                                    markers.append((t, label))
    return fdc, markers, counts


class LogCounter:
    """Counts the complete fdc_ioport lines QEMU has written to the trace log so far
    (QEMU writes the log line-buffered; reads only what was appended since the last call)."""

    def __init__(self, path):
        self.path = path
        self.pos = 0
        self.partial = b""
        self.count = 0
        self.last_t = None

    def update(self):
        try:
            with open(self.path, "rb") as f:
                f.seek(self.pos)
                data = f.read()
        except OSError:
            return self.count
        self.pos += len(data)
        data = self.partial + data
        lines = data.split(b"\n")
        self.partial = lines.pop()
        for line in lines:
            if b":fdc_ioport_" in line:
                self.count += 1
                m = LINE_RE.match(line.decode("latin-1"))
                if m:
                    self.last_t = float(m.group(2))
        return self.count


class Migrator:
    """Takes real QEMU migrations while the guest runs: at seeded random intervals after
    the marker `after`, and at once whenever the guest writes a marker that starts with
    "hold-".  Each one: QMP stop, migrate to exec:cat > FILE, poll query-migrate until
    completed, count the fdc_ioport lines of the log (the VM is stopped), cont."""

    def __init__(self, cfg, qmp, qmp_lock, proc, log, stream_dir, name, fdc_replay=None, keep_streams=False):
        import random
        self.fdc_replay = fdc_replay
        self.keep_streams = keep_streams
        self.cfg = cfg
        self.seed = cfg["seed"]
        self.rng = random.Random(cfg["seed"])
        self.qmp, self.lock, self.proc = qmp, qmp_lock, proc
        self.counter = LogCounter(log)
        self.dir = stream_dir
        self.name = name
        self.records = []
        self.errors = []
        self.requests = []
        self.cv = threading.Condition()
        self.started = False
        self.finished = False
        self.last_marker = None
        # FDC_MIGRATE_NO_STOP=1 (experiments only): migrate a running VM, as a plain QMP migrate does
        self.stop_first = cfg.get("stop_first", True) and not os.environ.get("FDC_MIGRATE_NO_STOP")

    def marker(self, label):
        with self.cv:
            self.last_marker = label
            if label == self.cfg.get("after"):
                self.started = True
            if label == "done":
                self.finished = True
            if self.started and not self.finished and label.startswith("hold-"):
                self.requests.append("hold:" + label)
            self.cv.notify()

    def run(self):
        while True:
            with self.cv:
                wait = self.rng.uniform(*self.cfg["interval"])
                end = time.time() + wait
                while not self.requests and time.time() < end and self.proc.poll() is None \
                        and not self.finished:
                    self.cv.wait(timeout=max(0.0, min(0.05, end - time.time())))
                if self.proc.poll() is not None or self.finished:
                    return
                if not self.started:
                    continue
                reason = self.requests.pop(0) if self.requests else "random"
                marker = self.last_marker
            if len(self.records) >= self.cfg.get("max", 100):
                return
            self.migrate(reason, marker)

    def migrate(self, reason, marker):
        idx = len(self.records)
        path = os.path.join(self.dir, "%s.%03d.mig" % (self.name, idx))
        rec = {"index": idx, "seed": self.seed, "reason": reason, "last_marker": marker,
               "stream": path, "stop_first": self.stop_first}
        try:
            with self.lock:
                n_events = len(self.qmp.events)
                if self.stop_first:
                    rec["t_stop_request"] = time.time()
                    self.qmp.cmd("stop")
                rec["t_before"] = time.time()
                rec["fdc_events_before"] = self.counter.update()
                self.qmp.cmd("migrate", uri="exec:cat > " + shlex.quote(path))
                while True:
                    st = self.qmp.cmd("query-migrate")
                    if st.get("status") in ("completed", "failed", "cancelled"):
                        break
                    time.sleep(0.002)
                rec["t_after"] = time.time()
                rec["status"] = st.get("status")
                rec["fdc_events_after"] = self.counter.update()
                rec["migrate_total_time_ms"] = st.get("total-time")
                rec["migrate_downtime_ms"] = st.get("downtime")
                rec["ram_transferred"] = (st.get("ram") or {}).get("transferred")
                self.qmp.cmd("cont")
                rec["t_cont"] = time.time()
                self.qmp.cmd("query-status")  # the RESUME event comes before this reply
                # QEMU's own STOP and RESUME event times (g_get_real_time, the log's clock):
                # the virtual clock stands still between them
                for ev, t in self.qmp.events[n_events:]:
                    if ev == "STOP" and "qmp_stop_t" not in rec:
                        rec["qmp_stop_t"] = t
                    elif ev == "RESUME":
                        rec["qmp_resume_t"] = t
        except Exception as e:  # noqa
            if self.proc.poll() is None:
                self.errors.append("migration %d: %r" % (idx, e))
            rec["error"] = repr(e)
            with self.cv:
                self.finished = True
        if os.path.exists(path):
            rec["stream_bytes"] = os.path.getsize(path)
            # what QEMU sent: the fdc section decoded by `fdc-replay stream show`;
            # the stream is then deleted unless --keep-streams (or the parse failed)
            rec.update(streaminfo.stream_fields(path, self.fdc_replay))
            if "stream_error" in rec:
                self.errors.append("migration %d: %s" % (idx, rec["stream_error"]))
            rec["stream_kept"] = self.keep_streams or "stream_error" in rec
            if not rec["stream_kept"]:
                os.unlink(path)
        self.records.append(rec)


def check_migrations(log, records):
    """From the log: the fdc_ioport lines before t_before and before t_after, and the
    timestamps of the neighbouring events, so that a migration whose window contains an
    FDC event (the VM was not stopped) shows."""
    times = []
    with open(log, errors="replace") as f:
        for line in f:
            if ":fdc_ioport_" not in line:
                continue
            m = LINE_RE.match(line.rstrip("\n"))
            if m:
                times.append(float(m.group(2)))
    import bisect
    for r in records:
        if "t_after" not in r:
            continue
        b = bisect.bisect_right(times, r["t_before"])
        a = bisect.bisect_right(times, r["t_after"])
        r["log_fdc_events_before"] = b
        r["log_fdc_events_in_window"] = a - b
        if "t_stop_request" in r:
            # events the guest made while QEMU was processing the stop command
            r["log_fdc_events_during_stop"] = b - bisect.bisect_right(times, r["t_stop_request"])
        r["log_prev_event_t"] = times[b - 1] if b > 0 else None
        r["log_next_event_t"] = times[a] if a < len(times) else None


def dpkg_versions(pkgs):
    out = {}
    for p in pkgs:
        r = subprocess.run(["dpkg-query", "-W", "-f=${Version}", p], capture_output=True, text=True)
        out[p] = r.stdout.strip() if r.returncode == 0 else None
    return out


BOCHS_BIOS = "/usr/share/bochs/BIOS-bochs-latest"


def bochsbios_version():
    data = open(os.path.realpath(BOCHS_BIOS), "rb").read()
    m = re.search(rb"\$Revision: [^$]*\$", data) or re.search(rb"Bochs BIOS[^\0]{0,60}", data)
    return {"file": os.path.realpath(BOCHS_BIOS), "package": dpkg_versions(["bochsbios"])["bochsbios"],
            "id": m.group(0).decode("latin-1") if m else None, "sha256": sha256_file(BOCHS_BIOS)}


def seabios_version():
    for cand in ["/usr/share/qemu/bios-256k.bin", "/usr/share/seabios/bios-256k.bin"]:
        if os.path.exists(cand):
            data = open(os.path.realpath(cand), "rb").read()
            m = re.search(rb"(\d+\.\d+\.\d+-debian-[0-9A-Za-z.+~-]+)", data)
            return {"file": os.path.realpath(cand), "version": m.group(1).decode() if m else None,
                    "sha256": sha256_file(cand)}
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("name")
    ap.add_argument("--work", required=True)
    ap.add_argument("--raw", required=True)
    ap.add_argument("--kernel")
    ap.add_argument("--initrd")
    ap.add_argument("--kernel-version")
    ap.add_argument("--bootsector")
    ap.add_argument("--image", help="prebuilt image for drive kind 'file'")
    ap.add_argument("--timeout", type=float, default=240)
    ap.add_argument("--compress", default="gzip", choices=["gzip", "none"])
    ap.add_argument("--no-migrate", dest="migrate", action="store_false",
                    help="do not take the recording's QEMU migrations")
    ap.add_argument("--quiet", action="store_true", help="do not echo COM2 lines")
    ap.add_argument("--fdc-replay", default=streaminfo.find_fdc_replay(),
                    help="the fdc-replay binary that parses each migration stream")
    ap.add_argument("--keep-streams", action="store_true",
                    default=bool(os.environ.get("FDC_KEEP_STREAMS")),
                    help="keep the migration streams in $FDC_RECORD_WORK/streams/NAME (default: "
                         "deleted once parsed; also FDC_KEEP_STREAMS=1)")
    a = ap.parse_args()

    rec = RECORDINGS[a.name]
    quiet = a.quiet
    w = os.path.join(a.work, a.name)
    shutil.rmtree(w, ignore_errors=True)
    os.makedirs(w)
    os.makedirs(a.raw, exist_ok=True)
    log = os.path.join(w, a.name + ".log")

    drives = []
    for i, spec in enumerate(rec["drives"]):
        img = os.path.join(w, "fd%d.img" % i)
        make_image(spec, img, a.bootsector, a.image)
        drives.append({"index": i, "spec": list(spec), "size": spec[1], "ro": i in rec.get("readonly", []),
                       "file": img,
                       "sha256_before": sha256_file(img)})
    spares = []
    for i, spec in enumerate(rec.get("spare", [])):
        img = os.path.join(w, "spare%d.img" % i)
        make_image(spec, img, a.bootsector, a.image)
        spares.append({"index": i, "spec": list(spec), "size": spec[1], "file": img,
                       "sha256_before": sha256_file(img)})

    qmp_path = os.path.join(w, "qmp.sock")
    com2_path = os.path.join(w, "com2.sock")
    console = os.path.join(w, "com1.txt")
    qemu = ["qemu-system-x86_64", "-machine", "pc", "-accel", "tcg", "-m", str(rec.get("mem", 256)),
            "-display", "none", "-no-reboot", "-nic", "none",
            "-serial", "file:" + console,
            "-chardev", "socket,id=com2,path=%s,server=on,wait=off" % com2_path,
            "-serial", "chardev:com2",
            "-monitor", "none",
            "-qmp", "unix:%s,server=on,wait=off" % qmp_path,
            "-trace", "fdc_*", "-trace", "serial_write", "-D", log, "-msg", "timestamp=on"]
    ram_file = None
    if rec.get("migrate") and a.migrate:
        # Guest RAM in a shared file and the x-ignore-shared capability: the migration stream
        # then carries no guest RAM pages (only the small ROM/firmware RAM blocks and every
        # device's state), about 1 MB instead of the RAM size.
        ram_dir = "/dev/shm" if os.path.isdir("/dev/shm") else w
        ram_file = os.path.join(ram_dir, "fdc-record-%s-%d.ram" % (a.name, os.getpid()))
        qemu[qemu.index("-m") + 1:qemu.index("-m") + 2] = [str(rec.get("mem", 256))]
        qemu += ["-object", "memory-backend-file,id=ram0,size=%dM,mem-path=%s,share=on"
                 % (rec.get("mem", 256), ram_file), "-machine", "memory-backend=ram0"]
    for d in drives:
        qemu += ["-drive", "file=%s,format=raw,if=floppy,index=%d%s"
                 % (d["file"], d["index"], ",readonly=on" if d["ro"] else "")]
    if rec["guest"] == "linux":
        append = "console=ttyS0 quiet loglevel=1 panic=-1 wl=%s" % rec["wl"]
        qemu += ["-kernel", a.kernel, "-initrd", a.initrd, "-append", append]
    elif rec["guest"] == "bochsbios":
        # Bochs BIOS waits for timer interrupts that never come with the local APIC on
        qemu += ["-bios", BOCHS_BIOS, "-cpu", "qemu64,-apic", "-boot", "a"]
    else:
        qemu += ["-boot", "a"]
    cmd = ["timeout", str(int(a.timeout)), "nice", "-n", "10"] + qemu

    media_events = []
    errors = []
    qmp_lock = threading.Lock()
    migrator = None
    print("recording %s: %s" % (a.name, shlex.join(cmd)), flush=True)
    t_start = time.time()
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL)
    qmp = com2 = None
    try:
        com2 = connect_unix(com2_path)
        end = time.time() + 20
        while not os.path.exists(qmp_path) and time.time() < end:
            time.sleep(0.05)
        qmp = Qmp(qmp_path)
    except Exception as e:  # noqa
        errors.append("connect: %r" % e)
    stream_dir = os.path.join(a.work, "streams", a.name)
    if rec.get("migrate") and a.migrate:
        shutil.rmtree(stream_dir, ignore_errors=True)
        os.makedirs(stream_dir)
        migrator = Migrator(rec["migrate"], qmp, qmp_lock, proc, log, stream_dir, a.name,
                            fdc_replay=a.fdc_replay, keep_streams=a.keep_streams)
        try:
            qmp.cmd("migrate-set-capabilities",
                    capabilities=[{"capability": "x-ignore-shared", "state": True}])
        except Exception as e:  # noqa
            errors.append("migrate-set-capabilities: %r" % e)

    def com2_reader():
        actions = rec.get("actions", {})
        buf = b""
        while True:
            try:
                data = com2.recv(4096)
            except OSError:
                return
            if not data:
                return
            buf += data
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                text = line.decode("latin-1").strip("\r")
                if not text.startswith("MARK hold-") and not quiet:
                    print("  [%7.3f] com2: %s" % (time.time() - t_start, text), flush=True)
                if not text.startswith("MARK "):
                    continue
                if migrator is not None:
                    migrator.marker(text[5:].strip())
                for act in actions.get(text[5:].strip(), []):
                    try:
                        if act[0] == "eject":
                            with qmp_lock:
                                qmp.hmp("eject floppy%d" % act[1])
                            t = time.time()
                            media_events.append({"t": t, "media": {"drive": act[1], "action": "eject"}})
                        elif act[0] == "insert":
                            sp = spares[act[2]]
                            with qmp_lock:
                                qmp.hmp("change floppy%d %s raw" % (act[1], sp["file"]))
                            t = time.time()
                            media_events.append({"t": t, "media": {"drive": act[1], "action": "insert",
                                                                   "size": sp["size"],
                                                                   "image_sha256": sp["sha256_before"]}})
                        elif act[0] == "sleep":
                            time.sleep(act[1])
                        elif act[0] == "go":
                            com2.sendall(b"go\n")
                        print("  [%7.3f] host: %s" % (time.time() - t_start, act), flush=True)
                    except Exception as e:  # noqa
                        errors.append("action %r: %r" % (act, e))
                        print("  action failed: %r" % e, flush=True)

    th = None
    if com2 is not None:
        th = threading.Thread(target=com2_reader, daemon=True)
        th.start()
    mth = None
    if migrator is not None and qmp is not None:
        mth = threading.Thread(target=migrator.run, daemon=True)
        mth.start()
    rc = proc.wait()
    if mth:
        mth.join(timeout=30)
    if ram_file and os.path.exists(ram_file):
        os.unlink(ram_file)
    t_end = time.time()
    if th:
        th.join(timeout=2)
    print("qemu exit %d after %.1f s" % (rc, t_end - t_start), flush=True)
    if rc != 0:
        errors.append("qemu exit status %d (124 = timeout)" % rc)

    if migrator is not None:
        errors += migrator.errors
        check_migrations(log, migrator.records)
        with open(os.path.join(a.raw, a.name + ".migrations.jsonl"), "w") as f:
            for r in migrator.records:
                r = dict(r)
                r["stream"] = os.path.relpath(r["stream"], a.work)
                f.write(json.dumps(r, sort_keys=True) + "\n")
        bad = [r["index"] for r in migrator.records
               if r.get("log_fdc_events_in_window") or r.get("status") != "completed"
               or r.get("fdc_events_before") != r.get("log_fdc_events_before")
               or r.get("fdc_events_after") != r.get("fdc_events_before")]
        print("migrations: %d taken, %d with a problem %s" % (len(migrator.records), len(bad), bad[:20]))
    fdc, markers, counts = parse_log(log, rec.get("line_markers", ()))
    events = [{"t": t, "marker": label} for t, label in markers] + media_events
    events.sort(key=lambda e: e["t"])
    side = os.path.join(a.raw, a.name + ".log.events.jsonl")
    with open(side, "w") as f:
        for e in events:
            f.write(json.dumps(e) + "\n")

    guest_out = open(console, errors="replace").read().splitlines() if os.path.exists(console) else []
    for d in drives:
        d["sha256_after"] = sha256_file(d["file"])
        d["file"] = os.path.basename(d["file"])
    for s in spares:
        s["sha256_after"] = sha256_file(s["file"])
        s["file"] = os.path.basename(s["file"])
    labels = [m[1] for m in markers]
    if "done" not in labels:
        errors.append("no 'done' marker: the workload did not finish")

    qv = subprocess.run(["qemu-system-x86_64", "--version"], capture_output=True, text=True).stdout
    pkgs = ["qemu-system-x86", "qemu-system-data", "seabios", "bochsbios", "busybox-static", "dosfstools",
            "nasm", "gcc", "libc6-dev", "cpio", "python3", "syslinux", "syslinux-common", "mtools"]
    if a.kernel_version:
        pkgs += ["linux-image-amd64", "linux-image-" + a.kernel_version, "linux-headers-" + a.kernel_version,
                 "linux-source-6.1", "fdutils"]
    meta = {
        "name": a.name,
        "guest": rec["guest"],
        "guest_version": ({"kernel": a.kernel_version, "kernel_sha256": sha256_file(a.kernel),
                           "initrd_sha256": sha256_file(a.initrd), "bios": seabios_version()}
                          if rec["guest"] == "linux" else
                          {"bios": seabios_version(), "bootsector_sha256": sha256_file(a.bootsector)}
                          if rec["guest"] == "seabios" else
                          {"bios": bochsbios_version(), "bootsector_sha256": sha256_file(a.bootsector)}
                          if rec["guest"] == "bochsbios" else
                          {"bios": seabios_version(), "syslinux": dpkg_versions(["syslinux", "syslinux-common"])}),
        "workload": rec["wl"],
        "workload_description": WORKLOADS[rec["wl"]],
        "drives": drives,
        "spare_media": spares,
        "qemu_version": qv.splitlines()[0] if qv else None,
        "recorded_with": "corpora/record/record.sh " + a.name,
        "recorder_command": cmd,
        "packages": dpkg_versions(pkgs),
        "host_time": {"start": t_start, "end": t_end, "seconds": round(t_end - t_start, 3)},
        "fdc_ioport_events": fdc,
        "fdc_ioport_reads": counts.get("fdc_ioport_read", 0),
        "fdc_ioport_writes": counts.get("fdc_ioport_write", 0),
        "trace_line_counts": counts,
        "markers": labels,
        "media_events": len(media_events),
        "migrations": (None if migrator is None else
                       {"file": a.name + ".migrations.jsonl", "count": len(migrator.records),
                        "seed": migrator.seed, "config": rec["migrate"],
                        "streams_dir": os.path.relpath(stream_dir, a.work) + " (under $FDC_RECORD_WORK, not committed)",
                        "streams_kept": sum(1 for r in migrator.records if r.get("stream_kept")),
                        "sent": {s: sum(1 for r in migrator.records if s in (r.get("fdc_sent") or []))
                                 for s in ["fdc/phase", "fdc/reset_sensei", "fdc/result_timer",
                                           "fdrive/media_changed", "fdrive/media_rate",
                                           "fdrive/perpendicular"]},
                        "stream_bytes_total": sum(r.get("stream_bytes", 0) for r in migrator.records)}),
        "log_file": a.name + ".log" + (".gz" if a.compress == "gzip" else ""),
        "log_uncompressed_bytes": os.path.getsize(log),
        "guest_output": guest_out,
        "errors": errors,
    }
    if a.compress == "gzip":
        dst = os.path.join(a.raw, a.name + ".log.gz")
        with open(log, "rb") as fi, gzip.GzipFile(dst, "wb", compresslevel=9, mtime=0) as fo:
            shutil.copyfileobj(fi, fo)
        meta["log_compressed_bytes"] = os.path.getsize(dst)
        stale = os.path.join(a.raw, a.name + ".log")
        if os.path.exists(stale):
            os.unlink(stale)
    else:
        shutil.copy(log, os.path.join(a.raw, a.name + ".log"))
    with open(os.path.join(a.raw, a.name + ".meta.json"), "w") as f:
        json.dump(meta, f, indent=1)
        f.write("\n")
    print("%s: %d fdc_ioport events, %d markers, %d media events, log %d bytes%s"
          % (a.name, fdc, len(markers), len(media_events), meta["log_uncompressed_bytes"],
             (", %d gz" % meta["log_compressed_bytes"]) if "log_compressed_bytes" in meta else ""))
    for e in errors:
        print("ERROR: " + e)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
