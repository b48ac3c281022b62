#!/usr/bin/env python3
"""Real-guest what-if experiments: migrate a running guest at a point where
QEMU sends subsection S, drop S from the real stream (or add a disagreeing fdc/phase), resume
the edited stream and the unedited control each on its own destination QEMU, and record what
the guest does.  See README.md next to this file.

    whatif.py list                      # the experiments and how many runs exist
    whatif.py run [FILTER...] [--runs N] [--force]
                                        # run what is missing (FILTER: substring of the
                                        # experiment name GUEST:SUBSECTION); resumable
    whatif.py classify                  # recompute class/evidence of every stored record
    whatif.py files DIR                 # the /wi files of the initramfs (build.sh)
"""
import argparse
import glob
import hashlib
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
REC = os.path.dirname(HERE)
ROOT = os.path.dirname(os.path.dirname(REC))
sys.path.insert(0, REC)
import recorder  # noqa: E402  (Qmp, connect_unix, make_image, pattern_bytes, sha256_file)
import streaminfo  # noqa: E402

SCHEMA = "fdc-whatif-real/1"
WORK = os.environ.get("FDC_WHATIF_WORK", "/tmp/fdc-whatif")
OUT = os.environ.get("FDC_WHATIF_OUT", os.path.join(ROOT, "corpora", "whatif", "runs"))
SHM = "/dev/shm" if os.path.isdir("/dev/shm") else WORK
RAW_SEED = 30          # the pattern image of the raw-command and wiprog guests (blk.sha)
BIOS_SEED = 31         # the pattern after wi13.bin on the BIOS guests' floppy
FAT_FILES = 20
FAT_FILE_BYTES = 32 * 1024
TRACK = 18 * 512

# ------------------------------------------------------------------ guests and experiments

LINUX_TIMEOUT = 150.0   # host seconds from cont to the end of a destination run
BIOS_TIMEOUT = 45.0
GUESTS = {
    "linux-fat": dict(kind="linux", wl="wi-fat", drives=[("fat", "1440K", "1d0cf001", "WIFAT")],
                      desc="Linux floppy.ko, host-made 1.44M FAT mounted rw: 20 x (32 KB file written with "
                           "dd conv=fsync, drop caches, an earlier file read back and compared), umount, "
                           "remount ro, verify every acknowledged file"),
    "linux-fat720": dict(kind="linux", wl="wi-fat", drives=[("fat", "720K", "1d0cf720", "WIFAT720")],
                         desc="the linux-fat workload on a host-made 720K FAT medium in a 1.44M drive "
                              "(250 kbit/s: media_rate 2)"),
    "linux-readid": dict(kind="linux", wl="wi-readid", drives=[("pattern", "1440K", RAW_SEED)],
                         desc="Linux floppy.ko with FDRAWCMD: 15 x fdrawcmd repeat=10 READ ID (0x4a) on "
                              "cylinder 3, then the whole disk through /dev/fd0 against its SHA-256"),
    "linux-perp": dict(kind="linux", wl="wi-perp", drives=[("pattern", "1440K", RAW_SEED)],
                       desc="Linux FDRAWCMD: PERPENDICULAR MODE 0x83 (OW, drive 0), then 10 x (WRITE DATA "
                            "of a track, READ DATA back and compare, a block-device track read against "
                            "its SHA-256, DUMPREG), PERPENDICULAR 0x80"),
    "linux-reset": dict(kind="linux", wl="wi-lreset", drives=[("pattern", "1440K", RAW_SEED)],
                        desc="Linux: 40 x (floppycontrol --resetnow 2, fdrawcmd DUMPREG): looking for "
                             "fdc/reset_sensei"),
    "prog-reset": dict(kind="linux", wl="wi-prog-reset", drives=[("pattern", "1440K", RAW_SEED)],
                       desc="wiprog reset 12 400 (no floppy.ko): DOR reset, 400 ms pause, 4 SENSE "
                            "INTERRUPTs checked, RECALIBRATE, SEEK, READ ID; on an error: reset, redo once"),
    "prog-readid": dict(kind="linux", wl="wi-prog-readid", drives=[("pattern", "1440K", RAW_SEED)],
                        desc="wiprog readid 40 30: READ ID, its result waited for up to 1 s, 30 ms pause; "
                             "on an error: reset, redo once"),
    "prog-perp": dict(kind="linux", wl="wi-prog-perp", drives=[("pattern", "1440K", RAW_SEED)],
                      desc="wiprog perp 10 300: PERPENDICULAR 0x83 (OW, drive 0) once, then 10 x (300 ms "
                           "pause, DUMPREG and SAVE logged, READ ID), PERPENDICULAR 0x80"),
    "seabios": dict(kind="seabios", drives=[("int13", "1440K", BIOS_SEED)], mem=32,
                    desc="SeaBIOS, wi13.bin: 48 x (AH=00, AH=03 write of a track, AH=02 read of another "
                         "track, AH=02 read back and compare; 3 tries per call), one BIOS tick between"),
    "bochsbios": dict(kind="bochsbios", drives=[("int13", "1440K", BIOS_SEED)], mem=32,
                      desc="the wi13.bin loop under Debian's Bochs BIOS (-cpu qemu64,-apic)"),
}

# trigger: ("marker", PREFIX, (delay range s)) migrate DELAY after a marker starting with
# PREFIX (the first at occurrence 1-3, then every next one); ("random", (first range),
# (retry range)) after "MARK wi-start"
T_FAT = ("random", (0.3, 5.0), (0.05, 0.3))
T_RAW = ("random", (0.3, 4.0), (0.02, 0.2))
T_BIOS = ("random", (0.05, 2.2), (0.01, 0.08))
EXPERIMENTS = [
    # guest, subsection, edit, trigger, runs, attempts
    ("prog-reset", "fdc/reset_sensei", "drop", ("marker", "hold-reset", (0.0, 0.3)), 10, 8),
    ("prog-readid", "fdc/result_timer", "drop", ("marker", "hold-readid", (0.0, 0.004)), 10, 12),
    ("prog-perp", "fdrive/perpendicular", "drop", ("marker", "hold-perp", (0.0, 0.25)), 10, 8),
    ("linux-readid", "fdc/result_timer", "drop", T_RAW, 10, 25),
    ("linux-perp", "fdrive/perpendicular", "drop", T_RAW, 10, 8),
    ("linux-fat", "fdrive/media_changed", "drop", T_FAT, 10, 8),
    ("linux-fat720", "fdrive/media_rate", "drop", T_FAT, 10, 8),
    ("linux-fat", "fdc/phase", "add", T_FAT, 10, 8),
    ("seabios", "fdrive/media_changed", "drop", T_BIOS, 10, 8),
    ("seabios", "fdrive/media_rate", "drop", T_BIOS, 10, 8),
    ("seabios", "fdc/result_timer", "drop", T_BIOS, 10, 40),
    ("seabios", "fdc/phase", "add", T_BIOS, 10, 8),
    ("bochsbios", "fdrive/media_changed", "drop", T_BIOS, 10, 8),
    ("bochsbios", "fdrive/media_rate", "drop", T_BIOS, 10, 8),
    ("bochsbios", "fdc/phase", "add", T_BIOS, 10, 8),
    # where the subsection may not be reachable: bounded searches (a run is made if found)
    ("linux-reset", "fdc/reset_sensei", "drop", ("random", (0.2, 1.0), (0.02, 0.15)), 3, 40),
    ("linux-fat", "fdc/reset_sensei", "drop", T_FAT, 2, 40),
    ("linux-fat", "fdc/result_timer", "drop", T_FAT, 2, 40),
    ("seabios", "fdc/reset_sensei", "drop", T_BIOS, 5, 40),
    ("bochsbios", "fdc/reset_sensei", "drop", T_BIOS, 5, 40),
    ("bochsbios", "fdc/result_timer", "drop", T_BIOS, 5, 40),
]


def slug(sub):
    return sub.replace("/", "-")


def exp_name(e):
    return "%s:%s%s" % (e[0], e[1], "" if e[2] == "drop" else "+" + e[2])


def run_id(e, k):
    return "%s.%s%s.%02d" % (e[0], slug(e[1]), "" if e[2] == "drop" else "-" + e[2], k)


def run_path(e, k):
    return os.path.join(OUT, e[0], run_id(e, k) + ".json")


# ------------------------------------------------------------------ files for the guests

def chain(tag, size):
    out = bytearray()
    i = 0
    while len(out) < size:
        out += hashlib.sha256(b"%s-%d" % (tag.encode(), i)).digest()
        i += 1
    return bytes(out[:size])


def fat_file(i):
    return chain("wi-f%d" % i, FAT_FILE_BYTES)


def raw_track(i):
    return chain("wi-p%d" % i, TRACK)


def make_files(d):
    os.makedirs(d, exist_ok=True)
    sums = []
    for i in range(1, FAT_FILES + 1):
        for name, data in (("f%d" % i, fat_file(i)), ("p%d" % i, raw_track(i))):
            with open(os.path.join(d, name), "wb") as f:
                f.write(data)
            sums.append("%s  %s\n" % (hashlib.sha256(data).hexdigest(), name))
    with open(os.path.join(d, "SHA256SUMS"), "w") as f:
        f.writelines(sums)
    img = recorder.pattern_bytes(recorder.SIZES["1440K"], RAW_SEED)
    with open(os.path.join(d, "blk.sha"), "w") as f:
        for t in range(160):
            f.write("%s  track%d\n" % (hashlib.sha256(img[t * TRACK:(t + 1) * TRACK]).hexdigest(), t))
        f.write("%s  disk\n" % hashlib.sha256(img).hexdigest())


# ------------------------------------------------------------------ QEMU

def build_paths():
    kv = open(os.path.join(WORK, "kernel-version")).read().strip()
    return {"kernel": "/boot/vmlinuz-" + kv, "initrd": os.path.join(WORK, "initramfs.cpio.gz"),
            "wi13": os.path.join(WORK, "wi13.bin"), "kv": kv}


def qemu_cmd(g, d, ram, imgs, paths, incoming):
    mem = g.get("mem", 96)
    cmd = ["nice", "-n", "10", "qemu-system-x86_64", "-machine", "pc", "-accel", "tcg", "-m", str(mem),
           "-display", "none", "-no-reboot", "-nic", "none",
           "-serial", "file:" + os.path.join(d, "com1.txt"),
           "-chardev", "socket,id=com2,path=%s,server=on,wait=off" % os.path.join(d, "com2.sock"),
           "-serial", "chardev:com2", "-monitor", "none",
           "-qmp", "unix:%s,server=on,wait=off" % os.path.join(d, "qmp.sock"),
           "-trace", "fdc_*", "-D", os.path.join(d, "fdc.log"), "-msg", "timestamp=on",
           "-object", "memory-backend-file,id=ram0,size=%dM,mem-path=%s,share=on" % (mem, ram),
           "-machine", "memory-backend=ram0"]
    for i, img in enumerate(imgs):
        cmd += ["-drive", "file=%s,format=raw,if=floppy,index=%d" % (img, i)]
    if g["kind"] == "linux":
        cmd += ["-kernel", paths["kernel"], "-initrd", paths["initrd"],
                "-append", "console=ttyS0 quiet loglevel=1 panic=-1 wl=%s wd=100" % g["wl"]]
    elif g["kind"] == "bochsbios":
        cmd += ["-bios", recorder.BOCHS_BIOS, "-cpu", "qemu64,-apic", "-boot", "a"]
    else:
        cmd += ["-boot", "a"]
    if incoming:
        cmd += ["-S", "-incoming", "defer"]
    return cmd


class Guest:
    """One QEMU process with QMP, COM2 markers (reader thread) and its files in D."""

    def __init__(self, cmd, d):
        self.d = d
        self.cmd = cmd
        self.markers = []            # (host time, label)
        self.cv = threading.Condition()
        self.err = open(os.path.join(d, "stderr.txt"), "w")
        self.t_start = time.time()
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=self.err, stderr=self.err)
        self.com2 = recorder.connect_unix(os.path.join(d, "com2.sock"))
        end = time.time() + 20
        while not os.path.exists(os.path.join(d, "qmp.sock")) and time.time() < end:
            time.sleep(0.02)
        while True:  # the socket file can exist a moment before QEMU listens on it
            try:
                self.qmp = recorder.Qmp(os.path.join(d, "qmp.sock"))
                break
            except ConnectionRefusedError:
                if time.time() > end:
                    raise
                time.sleep(0.05)
        self.qmp.cmd("migrate-set-capabilities", capabilities=[{"capability": "x-ignore-shared", "state": True}])
        self.th = threading.Thread(target=self._reader, daemon=True)
        self.th.start()

    def _reader(self):
        buf = b""
        while True:
            try:
                data = self.com2.recv(4096)
            except OSError:
                data = b""
            if not data:
                with self.cv:
                    self.markers.append((time.time(), "<eof>"))
                    self.cv.notify_all()
                return
            buf += data
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                text = line.decode("latin-1").strip("\r")
                if text.startswith("MARK "):
                    with self.cv:
                        self.markers.append((time.time(), text[5:].strip()))
                        self.cv.notify_all()

    def wait_marker(self, pred, start_index, timeout):
        """Index of the first marker at or after start_index matching pred, or None."""
        end = time.time() + timeout
        with self.cv:
            while True:
                for i in range(start_index, len(self.markers)):
                    if pred(self.markers[i][1]) or self.markers[i][1] == "<eof>":
                        return i if self.markers[i][1] != "<eof>" else None
                start_index = len(self.markers)
                left = end - time.time()
                if left <= 0 or self.proc.poll() is not None:
                    return None
                self.cv.wait(timeout=min(left, 0.05))

    def migrate(self, path, timeout=30):
        self.qmp.cmd("migrate", uri="exec:cat > " + path)
        end = time.time() + timeout
        while True:
            st = self.qmp.cmd("query-migrate")
            if st.get("status") in ("completed", "failed", "cancelled") or time.time() > end:
                return st
            time.sleep(0.003)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        for s in (self.com2,):
            try:
                s.close()
            except OSError:
                pass
        self.err.close()


def fdc_replay(*args):
    r = subprocess.run([streaminfo.find_fdc_replay()] + list(args), capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("fdc-replay %s: %s" % (" ".join(args), r.stderr.strip()[-400:]))
    return r.stdout


def state_summary(fields):
    """The point's fdc state in a few fields (the whole section is in the record too)."""
    st = fields.get("fdc_state") or {}
    keys = ["msr", "sra", "srb", "dor_vmstate", "dsr", "status0", "data_pos", "data_len", "data_dir",
            "data_state", "reset_sensei", "result_timer", "phase"]
    out = {k: st.get(k) for k in keys}
    out["reconstructed_phase"] = fields.get("fdc_reconstructed_phase")
    out["drives"] = st.get("drives")
    out["fifo_head"] = (st.get("fifo") or "")[:20]
    return out


# ------------------------------------------------------------------ one run

def trace_events(path, t0):
    """[(t - t0, 'r'|'w', reg, val)] of a destination's fdc log."""
    out = []
    if not os.path.exists(path):
        return out
    rx = re.compile(r"^\d+@(\d+\.\d+):fdc_ioport_(read|write) \w+ reg 0x([0-9a-f]+) val 0x([0-9a-f]+)")
    with open(path, errors="replace") as f:
        for line in f:
            m = rx.match(line)
            if m:
                out.append((float(m.group(1)) - t0, m.group(2)[0], int(m.group(3), 16), int(m.group(4), 16)))
    return out


def ev_text(e):
    return "%+.6f %s reg %d val 0x%02x" % (e[0], "read " if e[1] == "r" else "write", e[2], e[3])


def collapse(evs):
    out = []
    for e in evs:
        key = e[1:]
        if out and out[-1][0] == key:
            out[-1][1] += 1
        else:
            out.append([key, 1, e[0]])
    return out


def run_dest(g, role, d, stream, ram, imgs, paths, timeout):
    os.makedirs(d, exist_ok=True)
    res = {"role": role}
    res["loadavg_start"] = round(os.getloadavg()[0], 2)
    guest = Guest(qemu_cmd(g, d, ram, imgs, paths, incoming=True), d)
    try:
        guest.qmp.cmd("migrate-incoming", uri="exec:cat " + stream)
        end = time.time() + 60
        while True:
            st = guest.qmp.cmd("query-migrate")
            if st.get("status") in ("completed", "failed") or time.time() > end or guest.proc.poll() is not None:
                break
            time.sleep(0.01)
        res["incoming_status"] = st.get("status")
        if st.get("status") == "completed":
            # the state the destination loaded: migrate it out once before it runs
            loaded = os.path.join(d, "loaded.mig")
            st2 = guest.migrate(loaded)
            lf = streaminfo.stream_fields(loaded) if st2.get("status") == "completed" else {}
            res["loaded"] = {"sent": lf.get("fdc_sent"), "subsections": lf.get("fdc_subsections"),
                             "state": state_summary(lf) if lf.get("fdc_state") else None}
            res["_loaded_full"] = lf.get("fdc_state")
            with guest.cv:
                n0 = len(guest.markers)
            t_cont = time.time()
            guest.qmp.cmd("cont")
            res["_t_cont"] = t_cont
            try:
                rc = guest.proc.wait(timeout=timeout)
                res["timed_out"] = False
            except subprocess.TimeoutExpired:
                res["timed_out"] = True
                guest.proc.kill()
                rc = guest.proc.wait()
            t_end = time.time()
            res["loadavg_end"] = round(os.getloadavg()[0], 2)
            res["t_run_s"] = round(t_end - t_cont, 3)
            with guest.cv:
                ms = guest.markers[n0:]
            done = [t for t, l in ms if l == "done"]
            res["finished"] = bool(done)
            res["t_done_s"] = round(done[0] - t_cont, 3) if done else None
            labels = [l for t, l in ms if l != "<eof>"]
            res["markers"] = {"count": len(labels), "first": labels[:3], "last": labels[-3:]}
        else:
            guest.proc.kill()
            rc = guest.proc.wait()
            res["finished"] = False
            res["timed_out"] = False
        sig = -rc if rc is not None and rc < 0 else None
        res["exit"] = {"status": rc, "signal": signal.Signals(sig).name if sig else None}
    finally:
        guest.kill()
    err = open(os.path.join(d, "stderr.txt"), errors="replace").read().splitlines()
    res["stderr_tail"] = [l for l in err if l.strip()][-6:]
    com1 = os.path.join(d, "com1.txt")
    res["_com1"] = open(com1, errors="replace").read() if os.path.exists(com1) else ""
    res["_trace"] = trace_events(os.path.join(d, "fdc.log"), res.get("_t_cont", 0.0))
    return res


def parse_com1(kind, text):
    """(workload result lines, dmesg lines, watchdog?) from a destination's COM1."""
    lines = [l.rstrip("\r") for l in text.splitlines()]
    if kind != "linux":
        return [l for l in lines if l.strip()], [], False
    res, dm, part = [], [], None
    watchdog = False
    for l in lines:
        if l.startswith("RESULT-BEGIN") or l.startswith("WATCHDOG"):
            watchdog = watchdog or l.startswith("WATCHDOG")
            part = "res"
            res, dm = [], []   # the last report wins
            continue
        if l.startswith("DMESG-BEGIN"):
            part = "dm"
            continue
        if l.startswith("RESULT-END"):
            part = None
            continue
        if part == "res":
            res.append(l)
        elif part == "dm":
            dm.append(l)
    return res, dm, watchdog


DMESG_RX = re.compile(r"floppy|\bfd[01]\b|FDC|I/O error|blk_update|Buffer I/O|FAT-fs|end_request|timeout|reset|"
                      r"disk change|lost|error", re.I)
DMESG_BOOT = re.compile(r"loading out-of-tree module|module verification failed|Floppy drive\(s\)|FDC 0 is")


def norm(line):
    """A guest line without its timestamp and numbers that change from run to run."""
    line = re.sub(r"^\[\s*\d+\.\d+\]\s*", "", line)
    line = re.sub(r"after \d+\.\d+ ms", "after N ms", line)
    line = re.sub(r"(now|interrupt|diff|jiffies)=\d+", r"\1=N", line)
    return line


def fat_scan(data):
    """The root directory of a FAT12 image as DOS and as Linux read it: every short entry
    (name, long name if its LFN slots are intact, first cluster, size, whether a DOS reader,
    which stops at the first slot whose first byte is 0, sees it) and its data by the FAT chain."""
    bps = int.from_bytes(data[11:13], "little")
    spc = data[13]
    rsv = int.from_bytes(data[14:16], "little")
    nfat = data[16]
    nroot = int.from_bytes(data[17:19], "little")
    spf = int.from_bytes(data[22:24], "little")
    fat = data[rsv * bps:(rsv + spf) * bps]
    root = (rsv + nfat * spf) * bps
    first_data = root + nroot * 32
    def nxt(c):
        v = int.from_bytes(fat[c * 3 // 2:c * 3 // 2 + 2], "little")
        return (v >> 4) if c & 1 else (v & 0xfff)
    out, lfn, end_seen = [], [], False
    for i in range(nroot):
        e = data[root + i * 32:root + (i + 1) * 32]
        if e[0] == 0:
            end_seen = True
            lfn = []
            continue
        if e[0] == 0xE5:
            lfn = []
            continue
        if e[11] == 0x0F:
            part = (e[1:11] + e[14:26] + e[28:32]).decode("utf-16-le", "replace")
            lfn.insert(0, part.split("\x00")[0])
            continue
        if e[11] & 0x08:
            lfn = []
            continue
        name = e[0:8].decode("latin-1").rstrip() + ("." + e[8:11].decode("latin-1").rstrip()
                                                    if e[8:11].strip() else "")
        clus = int.from_bytes(e[26:28], "little")
        size = int.from_bytes(e[28:32], "little")
        body = bytearray()
        c, guard = clus, 0
        while 2 <= c < 0xff8 and len(body) < size and guard < 4096:
            off = first_data + (c - 2) * spc * bps
            body += data[off:off + spc * bps]
            c = nxt(c)
            guard += 1
        out.append({"short": name, "long": "".join(lfn) or None, "dos_visible": not end_seen,
                    "size": size, "data": bytes(body[:size])})
        lfn = []
    return out


def host_verify(g, imgs, guest_lines, paths, init_img_sha):
    """What the destination's disk image holds, checked on the host."""
    img = imgs[0]
    out = {"image_sha256": recorder.sha256_file(img)}
    wl = g.get("wl")
    if wl == "wi-fat":
        # every acknowledged file must be in the image's root directory under its name, with
        # its data, and visible to a DOS reader (mtools is one: `mdir` shown too)
        acked = [l.split()[1] for l in guest_lines if l.startswith("ACK ")]
        ents = fat_scan(open(img, "rb").read())
        by = {}
        for en in ents:
            by.setdefault((en["long"] or en["short"]).lower(), en)
        ok, bad, missing, no_lfn, dos_hidden = [], [], [], [], []
        for i in range(1, FAT_FILES + 1):
            f = "f%d" % i
            en = by.get(f)
            if en is None:
                if f in acked:
                    missing.append(f)
                continue
            if en["data"] != fat_file(i):
                bad.append(f)
                continue
            ok.append(f)
            if en["long"] is None and f in acked:
                no_lfn.append(f)
            if not en["dos_visible"] and f in acked:
                dos_hidden.append(f)
        env = dict(os.environ, MTOOLS_SKIP_CHECK="1")
        r = subprocess.run(["mdir", "-b", "-i", img, "::/"], capture_output=True, text=True, env=env)
        fs = subprocess.run(["fsck.fat", "-n", img], capture_output=True, text=True)
        out.update(acked=acked, files_ok=ok, acked_bad=[f for f in bad if f in acked], files_bad=bad,
                   acked_missing=missing, acked_without_long_name=sorted(set(no_lfn)),
                   acked_hidden_from_dos=dos_hidden,
                   mdir=sorted(x.strip().lstrip(":/").lower() for x in r.stdout.splitlines() if x.strip()),
                   fsck_rc=fs.returncode, fsck=[l for l in fs.stdout.splitlines() if l.strip()][-4:])
        out["ok"] = not missing and not out["acked_bad"] and not dos_hidden and not out["acked_without_long_name"]
    elif wl == "wi-perp":
        data = open(img, "rb").read()
        acked, bad = [], []
        for l in guest_lines:
            m = re.match(r"ACK w(\d+) c(\d+) h(\d+)", l)
            if m:
                i, c, h = map(int, m.groups())
                acked.append(i)
                off = (c * 2 + h) * TRACK
                if data[off:off + TRACK] != raw_track(i):
                    bad.append(i)
        out.update(acked=acked, acked_bad=bad, ok=not bad)
    elif g["kind"] in ("seabios", "bochsbios"):
        exp = bytearray(open(img + ".init", "rb").read())
        done = [int(l.split()[1], 16) for l in guest_lines if l.startswith("IT ") and "W=00/" in l]
        for it in done:
            c, h = 60 + it % 10, it & 1
            off = (c * 2 + h) * TRACK
            exp[off:off + TRACK] = bytes(((it * 13) + 7 * j) & 0xff for j in range(TRACK))
        data = open(img, "rb").read()
        diff = [t for t in range(160) if data[t * TRACK:(t + 1) * TRACK] != exp[t * TRACK:(t + 1) * TRACK]]
        out.update(acked_writes=len(done), tracks_differing_from_expected=diff, ok=not diff)
    else:
        out["unchanged"] = out["image_sha256"] == init_img_sha
        out["ok"] = out["unchanged"]
    return out


def do_run(e, k, paths, log=print):
    gname, sub, edit, trig, _, max_attempts = e
    g = GUESTS[gname]
    rid = run_id(e, k)
    seed = zlib.crc32(rid.encode()) & 0xffffffff
    rng = random.Random(seed)
    wd = os.path.join(WORK, "runs", rid)
    shutil.rmtree(wd, ignore_errors=True)
    os.makedirs(os.path.join(wd, "src"))
    rec = {"schema": SCHEMA, "id": rid, "guest": gname, "guest_kind": g["kind"], "workload": g.get("wl", "wi13"),
           "workload_description": g["desc"], "subsection": sub, "seed": seed,
           "trigger": {"kind": trig[0], "args": list(trig[1:])}, "max_attempts": max_attempts,
           "qemu": subprocess.run(["qemu-system-x86_64", "--version"], capture_output=True,
                                  text=True).stdout.splitlines()[0],
           "recorded_with": "corpora/record/whatif/whatif.py run %s" % exp_name(e),
           "t_recorded": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    # images
    imgs = []
    for i, spec in enumerate(g["drives"]):
        p = os.path.join(wd, "src", "fd%d.img" % i)
        recorder.make_image(spec, p, paths["wi13"])
        imgs.append(p)
    shutil.copy(imgs[0], imgs[0] + ".init")
    init_sha = recorder.sha256_file(imgs[0])
    rec["drives"] = [{"index": i, "spec": list(s), "sha256_before": init_sha if i == 0 else None}
                     for i, s in enumerate(g["drives"])]
    ram = os.path.join(SHM, "fdc-whatif-%s-src.ram" % rid)
    src = Guest(qemu_cmd(g, os.path.join(wd, "src"), ram, imgs, paths, incoming=False), os.path.join(wd, "src"))
    attempts = []
    point = None
    point_stream = os.path.join(wd, "point.mig")
    try:
        i0 = src.wait_marker(lambda l: l == "wi-start", 0, 200)
        if i0 is None:
            raise RuntimeError("no wi-start marker (guest did not start its workload)")
        t_start = src.markers[i0][0]
        idx = i0 + 1
        occ = rng.randint(1, 3)
        while len(attempts) < max_attempts:
            if trig[0] == "marker":
                j = idx - 1
                for _ in range(occ):
                    j = src.wait_marker(lambda l: l.startswith(trig[1]) or l in ("wi-end", "done"), j + 1, 120)
                    if j is None or src.markers[j][1] in ("wi-end", "done"):
                        break
                if j is None or src.markers[j][1] in ("wi-end", "done"):
                    break
                idx = j + 1
                occ = 1
                time.sleep(rng.uniform(*trig[2]))
            else:
                rnge = trig[1] if not attempts else trig[2]
                time.sleep(rng.uniform(*rnge))
            with src.cv:
                if any(l in ("wi-end", "done") for _, l in src.markers[i0:]):
                    break
                last = src.markers[-1][1]
            src.qmp.cmd("stop")
            t_stop = time.time()
            st = src.migrate(point_stream)
            f = streaminfo.stream_fields(point_stream) if st.get("status") == "completed" else {}
            sent = f.get("fdc_sent") or []
            att = {"t": round(t_stop - t_start, 3), "last_marker": last, "status": st.get("status"),
                   "sent": sent, "msr": (f.get("fdc_state") or {}).get("msr")}
            attempts.append(att)
            reached = st.get("status") == "completed" and (sub in sent if edit == "drop" else True)
            if reached:
                point = {"attempt": len(attempts), "t_since_wi_start": att["t"], "last_marker": last,
                         "sent": sent, "subsections": f.get("fdc_subsections"), "state": state_summary(f),
                         "stream_bytes": os.path.getsize(point_stream), "stream_sha256": f.get("stream_sha256"),
                         "_full": f.get("fdc_state")}
                break
            src.qmp.cmd("cont")
            with src.cv:
                idx = len(src.markers)
        rec["attempts"] = attempts
        rec["reached"] = point is not None
        if point is None:
            log("%s: %s not reached in %d attempts" % (rid, sub, len(attempts)))
            return finish(rec, None)
        # copies made while the source is stopped, then the source is killed
        copies = {}
        for role in ("control", "edited"):
            dd = os.path.join(wd, role)
            os.makedirs(dd)
            r = os.path.join(SHM, "fdc-whatif-%s-%s.ram" % (rid, role))
            shutil.copy(ram, r)
            ims = []
            for i, im in enumerate(imgs):
                p = os.path.join(dd, "fd%d.img" % i)
                shutil.copy(im, p)
                ims.append(p)
            shutil.copy(imgs[0] + ".init", ims[0] + ".init")
            copies[role] = (dd, r, ims)
    finally:
        src.kill()
        if os.path.exists(ram):
            os.unlink(ram)
    # the source's last FDC accesses before the point
    sev = trace_events(os.path.join(wd, "src", "fdc.log"), 0.0)
    if sev:
        tp = sev[-1][0]
        point["source_trace_tail"] = [ev_text((x[0] - tp,) + x[1:]) for x in sev[-8:]]
    if g.get("wl") == "wi-fat":
        # what the medium held at the point (the guest's dirty page cache is not on it)
        ents = fat_scan(open(imgs[0], "rb").read())
        want = {"f%d" % i: fat_file(i) for i in range(1, FAT_FILES + 1)}
        point["image"] = {
            "files": [(en["long"] or en["short"]).lower() for en in ents],
            "data_ok": [(en["long"] or en["short"]).lower() for en in ents
                        if want.get((en["long"] or en["short"]).lower()) == en["data"]],
            "without_long_name": [en["short"].lower() for en in ents if en["long"] is None],
            "hidden_from_dos": [(en["long"] or en["short"]).lower() for en in ents if not en["dos_visible"]]}
    src_com1 = open(os.path.join(wd, "src", "com1.txt"), errors="replace").read()
    # the edit
    edited = os.path.join(wd, "edited.mig")
    if edit == "drop":
        fdc_replay("stream", "drop", point_stream, "--subsection", sub, "-o", edited)
        rec["edit"] = {"op": "drop", "subsection": sub}
    else:
        rp = point["state"]["reconstructed_phase"]
        v = rng.choice([p for p in (1, 2, 3) if p != rp])
        fdc_replay("stream", "add", point_stream, "--subsection", "%s=%d" % (sub, v), "-o", edited)
        rec["edit"] = {"op": "add", "subsection": sub, "value": v, "reconstructed_phase": rp}
    ef = streaminfo.stream_fields(edited)
    rec["edit"]["edited_sent"] = ef.get("fdc_sent")
    rec["edit"]["edited_bytes"] = os.path.getsize(edited)
    rec["edit"]["ok"] = (sub not in (ef.get("fdc_sent") or [])) if edit == "drop" else \
        ((ef.get("fdc_state") or {}).get("phase") == rec["edit"]["value"])
    rec["point"] = point
    order = ["control", "edited"]
    rng.shuffle(order)
    rec["order"] = order
    timeout = LINUX_TIMEOUT if g["kind"] == "linux" else BIOS_TIMEOUT
    for role in order:
        dd, r, ims = copies[role]
        try:
            res = run_dest(g, role, dd, point_stream if role == "control" else edited, r, ims, paths, timeout)
        finally:
            if os.path.exists(r):
                os.unlink(r)
        com1 = res.pop("_com1")
        if g["kind"] != "linux":
            # the BIOS program prints as it goes: the lines before the point are in the source's COM1
            com1 = src_com1 + com1
        gl, dm, wdog = parse_com1(g["kind"], com1)
        res["guest_lines"] = gl[:150]
        res["watchdog_report"] = wdog
        dm = [l for l in dm if DMESG_RX.search(l) and not DMESG_BOOT.search(l)]
        keep = set(i for i, l in enumerate(dm) if re.search(r"lost|Buffer I/O|timeout|error \d+", l))
        keep |= set(range(max(0, len(dm) - 60), len(dm)))
        res["dmesg"] = [l for i, l in enumerate(dm) if i in keep][-120:]
        res["host_verify"] = host_verify(g, ims, gl, paths, init_sha)
        rec[role] = res
    return finish(rec, wd)


def finish(rec, wd):
    if rec.get("reached"):
        tr = {r: rec[r].pop("_trace") for r in ("control", "edited")}
        full = {r: rec[r].pop("_loaded_full", None) for r in ("control", "edited")}
        for r in ("control", "edited"):
            rec[r].pop("_t_cont", None)
            rec[r]["trace"] = {"events": len(tr[r]),
                               "excerpt": [ev_text(x) for x in tr[r][:30]]}
            # fields of the loaded state that differ from the point's (the source's) state
            pf = rec["point"].get("_full") or {}
            lf = full[r] or {}
            rec[r]["loaded_vs_point"] = diff_state(pf, lf)
        rec["point"].pop("_full", None)
        rec["trace_compare"] = compare_traces(tr["control"], tr["edited"])
    classify(rec)
    return rec


# what a field of a subsection that is not sent holds: its prevalent value (needed() false)
ABSENT = {"media_changed": "absent (1)", "perpendicular": "absent (0)", "reset_sensei": "absent (0)",
          "result_timer": "absent (timer not pending)", "phase": "absent (reconstructed from msr)"}


def diff_state(a, b, prefix=""):
    """{field: [source value, loaded value]}; null fields of absent subsections are shown as
    their prevalent value ('absent (1)')."""
    out = {}
    for k in sorted(set(a) | set(b)):
        va, vb = a.get(k), b.get(k)
        if isinstance(va, list) and isinstance(vb, list):
            for i, (x, y) in enumerate(zip(va, vb)):
                if isinstance(x, dict):
                    out.update(diff_state(x, y, "%s%s[%d]." % (prefix, k, i)))
                elif x != y:
                    out["%s%s[%d]" % (prefix, k, i)] = [x, y]
        elif va != vb:
            if k == "fifo":
                out[prefix + k] = ["...", "..."]
            else:
                out[prefix + k] = [ABSENT.get(k, va) if va is None else va, ABSENT.get(k, vb) if vb is None else vb]
    return out


def resets(evs):
    """Controller resets in a trace: DOR writes that clear nRESET, DSR writes with SWRESET."""
    return sum(1 for _, op, reg, val in evs if op == "w" and ((reg == 2 and not val & 0x04) or (reg == 4 and val & 0x80)))


def max_gap(evs):
    """(largest gap between two consecutive FDC accesses, time of the access after it)."""
    best = (0.0, None)
    evs = [(0.0,)] + list(evs)   # from the cont (t = 0) on
    for x, y in zip(evs, evs[1:]):
        if y[0] - x[0] > best[0]:
            best = (y[0] - x[0], y[0])
    return best


def compare_traces(ctl, edt):
    """How the destinations' FDC traces differ.  Consecutive repeats are collapsed, the two
    token lists aligned (difflib); 'value' differences are aligned reads of the same register
    that returned another value, 'structural' ones are accesses only one side made."""
    import difflib
    cc, ce = collapse(ctl), collapse(edt)
    ka, kb = [x[0] for x in cc], [x[0] for x in ce]
    out = {"control_events": len(ctl), "edited_events": len(edt),
           "control_collapsed": len(cc), "edited_collapsed": len(ce), "identical": ka == kb}

    def show(c, lo, hi):
        return ["%s%s" % (ev_text((x[2],) + x[0]), "" if x[1] == 1 else " x%d" % x[1]) for x in c[max(0, lo):hi]]
    value, struct = [], []
    if not out["identical"]:
        sm = difflib.SequenceMatcher(None, ka, kb, autojunk=False)
        for tag, i1, i2, j1, j2 in sm.get_opcodes():
            if tag == "equal":
                continue
            if tag == "replace" and i2 - i1 == j2 - j1 and all(
                    ka[i][0] == "r" and kb[j][0] == "r" and ka[i][1] == kb[j][1]
                    for i, j in zip(range(i1, i2), range(j1, j2))):
                value.append((i1, i2, j1, j2))
            else:
                struct.append((i1, i2, j1, j2))
        first = min(value + struct)
        out["first_difference"] = {"index": first[0],
                                   "control": show(cc, first[0] - 3, min(first[1], first[0] + 5) + 3),
                                   "edited": show(ce, first[2] - 3, min(first[3], first[2] + 5) + 3)}
    out["value_differences"] = len(value)
    out["value_examples"] = [{"control": show(cc, i1 - 4, min(i2, i1 + 4)), "edited": show(ce, j1 - 4, min(j2, j1 + 4))}
                             for i1, i2, j1, j2 in value[:3]]
    out["structural_differences"] = len(struct)
    out["structural_examples"] = [{"control": show(cc, i1 - 2, i2 + 1)[:8], "edited": show(ce, j1 - 2, j2 + 1)[:8]}
                                  for i1, i2, j1, j2 in struct[:2]]
    out["resets"] = {"control": resets(ctl), "edited": resets(edt)}
    gc, ge = max_gap(ctl), max_gap(edt)
    out["max_gap_s"] = {"control": round(gc[0], 3), "edited": round(ge[0], 3),
                        "edited_at_s": round(ge[1], 3) if ge[1] is not None else None}
    return out


# ------------------------------------------------------------------ classification

APP_ERR = re.compile(r"^(WRITE-ERR|READ-ERR|BLK-ERR|MOUNT-ERR|UMOUNT-ERR|REMOUNT-ERR|RESET-ERR|DISK BAD|"
                     r"VERIFY \S+ (BAD|MISSING))|^\s*FAILED it|^RID \d+ rc=[1-9]|^RID \d+ .*bad=[1-9]")
DRV_RETRY = re.compile(r"^\s*(ERR |RECOVERED|retry it)")
NOTE = re.compile(r"NOTE")


def bios_status(lines):
    """(ioerr, retries, cmperr, sum) from the WI13 line, or None."""
    for l in lines:
        m = re.match(r"WI13 iterations=(\w+) ioerr=(\w+) retries=(\w+) cmperr=(\w+) sum=(\w+)", l)
        if m:
            return {"iterations": int(m.group(1), 16), "ioerr": int(m.group(2), 16),
                    "retries": int(m.group(3), 16), "cmperr": int(m.group(4), 16), "sum": m.group(5)}
    return None


def outcome(rec, role):
    """Facts about one destination run used by the classification."""
    r = rec[role]
    f = {"exit_status": r["exit"]["status"], "signal": r["exit"]["signal"], "timed_out": r.get("timed_out"),
         "finished": r.get("finished"), "incoming": r.get("incoming_status")}
    gl = r.get("guest_lines", [])
    f["app_errors"] = [l for l in gl if APP_ERR.search(l)]
    f["driver_retries"] = [l for l in gl if DRV_RETRY.search(l)]
    f["notes"] = [l for l in gl if NOTE.search(l)]
    hv = r.get("host_verify", {})
    f["host_ok"] = hv.get("ok")
    if rec["guest_kind"] != "linux":
        b = bios_status(gl)
        f["bios"] = b
        if b:
            if b["ioerr"]:
                f["app_errors"].append("WI13 ioerr=%d" % b["ioerr"])
            if b["cmperr"]:
                f["app_errors"].append("WI13 cmperr=%d" % b["cmperr"])
            if b["retries"]:
                f["driver_retries"].append("WI13 retries=%d" % b["retries"])
    dm = [norm(l) for l in r.get("dmesg", []) if DMESG_RX.search(l) and not DMESG_BOOT.search(l)]
    f["dmesg"] = dm
    return f


def classify(rec):
    """The run's class, from the evidence (README.md): qemu_abort > hang > data_corruption >
    io_error > retry > value_only > invisible, the first that applies."""
    if not rec.get("reached"):
        rec["class"] = "not_reached"
        rec["evidence"] = ["%s not in any of %d streams taken (sent at the attempts: %s)" % (
            rec["subsection"], len(rec.get("attempts", [])),
            sorted({s for a in rec.get("attempts", []) for s in a["sent"]}))]
        return
    c, e = outcome(rec, "control"), outcome(rec, "edited")
    ev = []

    def normal(f):
        return (f["incoming"] == "completed" and f["finished"] and f["exit_status"] == 0 and not f["timed_out"]
                and not f["app_errors"] and f["host_ok"] is not False)

    rec["control_normal"] = normal(c) and not c["driver_retries"]
    if not rec["control_normal"]:
        ev.append("CONTROL NOT NORMAL: finished=%s exit=%s timed_out=%s app_errors=%s retries=%s host_ok=%s" % (
            c["finished"], c["exit_status"], c["timed_out"], c["app_errors"][:3], c["driver_retries"][:3],
            c["host_ok"]))
    new_dmesg = [l for l in e["dmesg"] if l not in c["dmesg"]]
    tc = rec.get("trace_compare", {})
    extra_resets = tc.get("resets", {}).get("edited", 0) - tc.get("resets", {}).get("control", 0)
    gap = tc.get("max_gap_s", {})
    # a pause counts only where the guest also did something else than the control: with the
    # same accesses it is the shared host running the guest slower
    stall = (gap.get("edited") or 0) - (gap.get("control") or 0) if tc.get("structural_differences") else 0.0
    ex = rec["edited"].get("trace", {}).get("excerpt", [])
    if e["signal"] or (e["exit_status"] not in (0, None) and not e["timed_out"]):
        cls = "qemu_abort"
        ev.append("edited destination exit status %s signal %s after %s s (control: exit %s)" % (
            e["exit_status"], e["signal"], rec["edited"].get("t_run_s"), c["exit_status"]))
        ev += ["stderr: " + l for l in rec["edited"]["stderr_tail"][-2:]]
        n = rec["edited"].get("trace", {}).get("events", 0)
        ev.append("the destination made %d FDC accesses; the last: %s" % (n, ex[-1] if ex and n <= len(ex) else
                                                                          "(beyond the excerpt)"))
    elif e["incoming"] != "completed":
        cls = "qemu_abort"
        ev.append("incoming migration %s" % e["incoming"])
        ev += ["stderr: " + l for l in rec["edited"]["stderr_tail"][-3:]]
    elif not e["finished"]:
        cls = "hang"
        ev.append("no 'done' marker within %.0f s after cont (control: done after %s s); markers after cont: %s"
                  % (rec["edited"]["t_run_s"], rec["control"].get("t_done_s"), rec["edited"]["markers"]))
        ev += ["guest: " + l for l in (e["app_errors"] + e["driver_retries"])[:4]]
        ev += ["dmesg: " + l for l in new_dmesg[:4]]
        if rec["edited"].get("watchdog_report"):
            ev.append("(the guest's watchdog printed the results above)")
        ev.append("destination FDC accesses: %d, the last %s" % (tc.get("edited_events", 0),
                                                                 (tc.get("first_difference") or {}).get("edited", [""])[-1:]))
    elif e["host_ok"] is False or any(re.search(r"VERIFY \S+ BAD|cmperr", l) for l in e["app_errors"]):
        cls = "data_corruption"
        hv = rec["edited"]["host_verify"]
        parts = ["%s %s" % (k.replace("_", " "), hv[k]) for k in
                 ("acked_missing", "acked_bad", "acked_hidden_from_dos", "acked_without_long_name",
                  "tracks_differing_from_expected") if hv.get(k)]
        if "mdir" in hv:
            parts.append("mdir lists %s" % hv["mdir"])
        if "acked" in hv:
            parts.insert(0, "%d acknowledged" % len(hv["acked"]))
        ev.append("host check of the destination's image: " + "; ".join(parts))
        ev += ["dmesg: " + l for l in new_dmesg if re.search(r"lost|Buffer I/O", l)][:2]
        ev += ["guest: " + l for l in e["app_errors"][:3]]
        ev += ["dmesg: " + l for l in new_dmesg if "lost" not in l][:2]
    elif len(e["app_errors"]) > len(c["app_errors"]):
        cls = "io_error"
        ev += ["guest: " + l for l in e["app_errors"][:4]]
        ev.append("guest: %d error lines (control %d)" % (len(e["app_errors"]), len(c["app_errors"])))
        ev += ["dmesg: " + l for l in new_dmesg[:4]]
    elif len(e["driver_retries"]) > len(c["driver_retries"]) or new_dmesg or extra_resets > 0 or stall > 1.0:
        cls = "retry"
        ev += ["guest: " + l for l in e["driver_retries"][:4]]
        ev += ["dmesg: " + l for l in new_dmesg[:5]]
        if extra_resets > 0:
            ev.append("writes asserting a controller reset (DOR nRESET clear, DSR SWRESET) in the destination "
                      "trace: %d (control %d)" % (
                tc["resets"]["edited"], tc["resets"]["control"]))
        if stall > 1.0:
            ev.append("longest pause between FDC accesses %.3f s, at +%s s (control %.3f s)" % (
                gap["edited"], gap.get("edited_at_s"), gap["control"]))
        if tc.get("structural_examples"):
            ev.append("first trace difference: control %s / edited %s" % (
                tc["structural_examples"][0]["control"][:4], tc["structural_examples"][0]["edited"][:4]))
    elif len(e["notes"]) > len(c["notes"]) or tc.get("value_differences"):
        cls = "value_only"
        ev += ["guest: " + l for l in e["notes"][:3]]
        if tc.get("value_differences"):
            x = tc["value_examples"][0]
            ev.append("%d aligned reads returned another value; first: control %s / edited %s" % (
                tc["value_differences"], x["control"][-2:], x["edited"][-2:]))
    else:
        cls = "invisible"
        ev.append("same outcome as the control; destination FDC traces %s (%d/%d accesses%s)" % (
            "identical" if tc.get("identical") else "with no differing read value",
            tc.get("control_events", 0), tc.get("edited_events", 0),
            "" if tc.get("identical") else ", %d places where one side made other accesses"
            % tc.get("structural_differences", 0)))
        if ex:
            ev.append("first destination accesses: %s" % ex[:3])
    ld = rec["edited"].get("loaded_vs_point") or {}
    if ld:
        ev.append("loaded by the edited destination, unlike the source ([source, destination]): %s" % ld)
    rec["class"] = cls
    rec["evidence"] = ev
    tcd, ted = rec["control"].get("t_done_s"), rec["edited"].get("t_done_s")
    rec["time"] = {"control_done_s": tcd, "edited_done_s": ted,
                   "lost_s": round(ted - tcd, 3) if tcd is not None and ted is not None else None,
                   "edited_run_s": rec["edited"].get("t_run_s"), "control_run_s": rec["control"].get("t_run_s")}


# ------------------------------------------------------------------ CLI

def write_record(path, rec):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(rec, f, indent=1, sort_keys=True)
        f.write("\n")
    os.replace(tmp, path)


def cmd_run(a):
    paths = build_paths()
    todo = []
    for e in EXPERIMENTS:
        if a.filter and not any(x in exp_name(e) for x in a.filter):
            continue
        n = a.runs if a.runs is not None else e[4]
        for k in range(1, n + 1):
            if a.force or not os.path.exists(run_path(e, k)):
                todo.append((e, k))
    print("%d runs to do" % len(todo), flush=True)
    for n, (e, k) in enumerate(todo):
        t0 = time.time()
        try:
            rec = do_run(e, k, paths)
        except Exception as ex:  # noqa
            print("%s: FAILED %r" % (run_id(e, k), ex), flush=True)
            import traceback
            traceback.print_exc()
            for f in glob.glob(os.path.join(SHM, "fdc-whatif-%s-*.ram" % run_id(e, k))):
                os.unlink(f)
            continue
        write_record(run_path(e, k), rec)
        if not a.keep:
            shutil.rmtree(os.path.join(WORK, "runs", run_id(e, k)), ignore_errors=True)
        print("[%d/%d] %s: %s%s (%.0f s) %s" % (n + 1, len(todo), rec["id"], rec["class"],
                                                "" if rec.get("control_normal", True) else " CONTROL-ABNORMAL",
                                                time.time() - t0, (rec.get("evidence") or [""])[0][:160]),
              flush=True)
    return 0


def cmd_classify(a):
    for p in sorted(glob.glob(os.path.join(OUT, "*", "*.json"))):
        rec = json.load(open(p))
        classify(rec)
        write_record(p, rec)
    return 0


def cmd_list(a):
    for e in EXPERIMENTS:
        have = sum(1 for k in range(1, e[4] + 1) if os.path.exists(run_path(e, k)))
        print("%-40s %2d/%2d  trigger %s, up to %d attempts" % (exp_name(e), have, e[4], e[3], e[5]))
    return 0


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("filter", nargs="*")
    r.add_argument("--runs", type=int)
    r.add_argument("--force", action="store_true")
    r.add_argument("--keep", action="store_true", help="keep the run's work directory (streams, logs, images)")
    sub.add_parser("list")
    sub.add_parser("classify")
    f = sub.add_parser("files")
    f.add_argument("dir")
    a = ap.parse_args()
    if a.cmd == "files":
        make_files(a.dir)
        return 0
    return {"run": cmd_run, "list": cmd_list, "classify": cmd_classify}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
