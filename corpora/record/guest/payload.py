#!/usr/bin/env python3
"""Write the deterministic files that the Linux workloads copy to floppies,
their SHA256SUMS, and the per-medium file lists set-720 / set-1440 / set-2880."""
import hashlib
import os
import sys

FILES = [("a.bin", 300000), ("b.bin", 260000), ("c.bin", 200000), ("d.bin", 180000),
         ("e.bin", 120000), ("f.txt", 40000), ("g.txt", 1200), ("h.bin", 700000), ("i.bin", 400000)]
SETS = {"set-720": "c.bin e.bin f.txt g.txt",               # 361,200 bytes
        "set-1440": "a.bin b.bin c.bin d.bin e.bin f.txt g.txt",  # 1,101,200 bytes
        "set-2880": "a.bin b.bin c.bin d.bin e.bin f.txt g.txt h.bin i.bin"}  # 2,201,200 bytes


def content(name, size):
    out = bytearray()
    i = 0
    if name.endswith(".txt"):
        while len(out) < size:
            out += b"%s line %06d: the quick brown fox jumps over the lazy floppy controller\n" % (name.encode(), i)
            i += 1
    else:
        while len(out) < size:
            out += hashlib.sha256(b"%s-%d" % (name.encode(), i)).digest()
            i += 1
    return bytes(out[:size])


def main(d):
    os.makedirs(d, exist_ok=True)
    sums = []
    for name, size in FILES:
        data = content(name, size)
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)
        sums.append("%s  %s\n" % (hashlib.sha256(data).hexdigest(), name))
    with open(os.path.join(d, "SHA256SUMS"), "w") as f:
        f.writelines(sums)
    for s, names in SETS.items():
        with open(os.path.join(d, s), "w") as f:
            f.write("\n".join(names.split()) + "\n")


if __name__ == "__main__":
    main(sys.argv[1])
