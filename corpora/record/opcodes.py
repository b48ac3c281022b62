#!/usr/bin/env python3
"""Which FDC commands each recording sends, and which commands of QEMU's decode table no
recording covers.  Reads corpora/raw/*.log.gz (or the logs given as arguments).

An opcode is a FIFO write (reg 5) made while the last MSR read showed CMDBUSY (bit 4)
clear: every recorded driver polls MSR before each command byte (Linux output_byte, the
BIOSes, fdcprog).  The decode follows QEMU 7.2's table (fdc/src/commands.rs)."""
import glob
import gzip
import os
import re
import sys

LINE = re.compile(r"^\d+@[\d.]+:fdc_ioport_(read|write) (?:read|write) reg 0x([0-9a-f]+) val 0x([0-9a-f]+)")


def decode(op):
    """The command QEMU 7.2 decodes for an opcode byte (first match wins)."""
    table = [
        (0x1f, 0x06, "READ DATA"), (0x3f, 0x05, "WRITE DATA"), (0xff, 0x0f, "SEEK"),
        (0xff, 0x08, "SENSE INTERRUPT"), (0xff, 0x07, "RECALIBRATE"), (0xbf, 0x0d, "FORMAT TRACK"),
        (0xbf, 0x02, "READ TRACK"), (0xff, 0x4e, "RESTORE"), (0xff, 0x2e, "SAVE"),
        (0x1f, 0x0c, "READ DELETED"), (0x1f, 0x11, "SCAN EQUAL"), (0x1f, 0x16, "VERIFY"),
        (0x1f, 0x19, "SCAN LOW OR EQUAL"), (0x1f, 0x1d, "SCAN HIGH OR EQUAL"),
        (0x3f, 0x09, "WRITE DELETED"), (0xbf, 0x0a, "READ ID"), (0xff, 0x03, "SPECIFY"),
        (0xff, 0x04, "SENSE DRIVE STATUS"), (0xff, 0x12, "PERPENDICULAR MODE"),
        (0xff, 0x13, "CONFIGURE"), (0xff, 0x17, "POWERDOWN MODE"), (0xff, 0x33, "OPTION"),
        (0xff, 0x8e, "DRIVE SPECIFICATION"), (0xff, 0x8f, "RELATIVE SEEK OUT"),
        (0xff, 0xcd, "FORMAT AND WRITE"), (0xff, 0xcf, "RELATIVE SEEK IN"), (0x7f, 0x14, "LOCK"),
        (0xff, 0x0e, "DUMPREG"), (0xff, 0x10, "VERSION"), (0xff, 0x18, "PART ID"),
        (0x1f, 0x05, "WRITE DATA"),
    ]
    for mask, val, name in table:
        if op & mask == val:
            return name
    return "invalid"


ALL = ["READ DATA", "WRITE DATA", "READ TRACK", "READ DELETED", "WRITE DELETED", "VERIFY", "SCAN EQUAL",
       "SCAN LOW OR EQUAL", "SCAN HIGH OR EQUAL", "FORMAT TRACK", "READ ID", "RECALIBRATE",
       "SENSE INTERRUPT", "SPECIFY", "SENSE DRIVE STATUS", "SEEK", "RELATIVE SEEK OUT", "RELATIVE SEEK IN",
       "DUMPREG", "VERSION", "PERPENDICULAR MODE", "CONFIGURE", "LOCK", "POWERDOWN MODE", "PART ID", "SAVE",
       "OPTION", "RESTORE", "DRIVE SPECIFICATION", "FORMAT AND WRITE", "invalid"]


def opcodes(path):
    counts = {}
    msr = 0x80
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", errors="replace") as f:
        for line in f:
            m = LINE.match(line)
            if not m:
                continue
            rw, reg, val = m.group(1), int(m.group(2), 16), int(m.group(3), 16)
            if rw == "read" and reg == 4:
                msr = val
            elif rw == "write" and reg == 5:
                if msr & 0xd0 == 0x80:  # RQM, host to FDC, not busy: a command byte
                    counts[val] = counts.get(val, 0) + 1
                msr = 0x90
    return counts


def main():
    paths = sys.argv[1:] or sorted(glob.glob(os.path.join(os.path.dirname(__file__), "..", "raw", "*.log.gz")))
    covered = set()
    for p in paths:
        c = opcodes(p)
        name = os.path.basename(p).split(".log")[0]
        covered |= {decode(op) for op in c}
        print("%s: %s" % (name, " ".join("%02x(%s)x%d" % (op, decode(op), n) for op, n in sorted(c.items()))))
    print("not covered by any recording: %s" % (", ".join(n for n in ALL if n not in covered) or "none"))


if __name__ == "__main__":
    main()
