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

MB = 1024 * 1024
SIZES = {"720K": 737280, "1440K": 1474560, "2880K": 2949120}

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
    "seabios-int13": dict(guest="seabios", wl="int13",
                          drives=[("int13", "1440K", 7)]),
    "syslinux-memdisk": dict(guest="syslinux", wl="syslinux-memdisk",
                             drives=[("file", "1440K")],
                             # SYSLINUX prints these on COM2 (SERIAL 1); a marker is placed at the
                             # byte that completes the prefix, i.e. when that stage starts.
                             line_markers=[("SYSLINUX ", "ldlinux"),
                                           ("Loading memdisk...", "load-memdisk"),
                                           ("Loading payload.img...", "load-payload")]),
}

WORKLOADS = {
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


def dpkg_versions(pkgs):
    out = {}
    for p in pkgs:
        r = subprocess.run(["dpkg-query", "-W", "-f=${Version}", p], capture_output=True, text=True)
        out[p] = r.stdout.strip() if r.returncode == 0 else None
    return out


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
    a = ap.parse_args()

    rec = RECORDINGS[a.name]
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
    qemu = ["qemu-system-x86_64", "-machine", "pc", "-accel", "tcg", "-m", "256",
            "-display", "none", "-no-reboot", "-nic", "none",
            "-serial", "file:" + console,
            "-chardev", "socket,id=com2,path=%s,server=on,wait=off" % com2_path,
            "-serial", "chardev:com2",
            "-monitor", "none",
            "-qmp", "unix:%s,server=on,wait=off" % qmp_path,
            "-trace", "fdc_*", "-trace", "serial_write", "-D", log, "-msg", "timestamp=on"]
    for d in drives:
        qemu += ["-drive", "file=%s,format=raw,if=floppy,index=%d%s"
                 % (d["file"], d["index"], ",readonly=on" if d["ro"] else "")]
    if rec["guest"] == "linux":
        append = "console=ttyS0 quiet loglevel=1 panic=-1 wl=%s" % rec["wl"]
        qemu += ["-kernel", a.kernel, "-initrd", a.initrd, "-append", append]
    else:
        qemu += ["-boot", "a"]
    cmd = ["timeout", str(int(a.timeout)), "nice", "-n", "10"] + qemu

    media_events = []
    errors = []
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
                print("  [%7.3f] com2: %s" % (time.time() - t_start, text), flush=True)
                if not text.startswith("MARK "):
                    continue
                for act in actions.get(text[5:].strip(), []):
                    try:
                        if act[0] == "eject":
                            qmp.hmp("eject floppy%d" % act[1])
                            t = time.time()
                            media_events.append({"t": t, "media": {"drive": act[1], "action": "eject"}})
                        elif act[0] == "insert":
                            sp = spares[act[2]]
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
    rc = proc.wait()
    t_end = time.time()
    if th:
        th.join(timeout=2)
    print("qemu exit %d after %.1f s" % (rc, t_end - t_start), flush=True)
    if rc != 0:
        errors.append("qemu exit status %d (124 = timeout)" % rc)

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
    pkgs = ["qemu-system-x86", "qemu-system-data", "seabios", "busybox-static", "dosfstools",
            "nasm", "gcc", "libc6-dev", "cpio", "python3", "syslinux", "syslinux-common", "mtools"]
    if a.kernel_version:
        pkgs += ["linux-image-amd64", "linux-image-" + a.kernel_version]
    meta = {
        "name": a.name,
        "guest": rec["guest"],
        "guest_version": ({"kernel": a.kernel_version, "kernel_sha256": sha256_file(a.kernel),
                           "initrd_sha256": sha256_file(a.initrd), "bios": seabios_version()}
                          if rec["guest"] == "linux" else
                          {"bios": seabios_version(), "bootsector_sha256": sha256_file(a.bootsector)}
                          if rec["guest"] == "seabios" else
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
