#!/usr/bin/env python3
"""The async frame size of every Swift async function in a binary, largest first (issue 21).

A suspended task keeps the frame (async context) of each function on its chain allocated, from
its task's allocator, until that function returns; a frame is as large as all the locals its
function keeps across any await. The size is in the function's "async function pointer" (symbol
suffix `Tu`): a 32-bit relative address, then the 32-bit context size. Functions inlined into
their callers have none (their locals are in the caller's frame).

    scripts/async_frames.py .build-release/release/orbiter [REGEX] [--most N]

REGEX filters the demangled names (e.g. 'AgentLoop|NodeRunner|Run\\.execute|Worker\\.').
Needs readelf, nm and swift-demangle (binutils, the Swift toolchain).
"""
import argparse
import re
import struct
import subprocess
import sys


def sections(path):
    out = subprocess.run(["readelf", "-SW", path], capture_output=True, text=True, check=True).stdout
    rows = []
    for line in out.splitlines():
        m = re.match(r"\s*\[\s*\d+\]\s+(\S+)\s+(\S+)\s+([0-9a-f]+)\s+([0-9a-f]+)\s+([0-9a-f]+)", line)
        if m and m.group(2) != "NOBITS":
            rows.append((int(m.group(3), 16), int(m.group(4), 16), int(m.group(5), 16)))
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("binary")
    ap.add_argument("regex", nargs="?", default="")
    ap.add_argument("--most", type=int, default=60, help="rows at the most")
    args = ap.parse_args()
    secs = sections(args.binary)
    with open(args.binary, "rb") as f:
        data = f.read()
    symbols = subprocess.run(["nm", "--defined-only", args.binary], capture_output=True, text=True, check=True).stdout
    found = []
    for line in symbols.splitlines():
        parts = line.split()
        if len(parts) != 3 or not parts[2].endswith("Tu"):
            continue
        addr = int(parts[0], 16)
        for start, offset, size in secs:
            if start <= addr < start + size:
                o = offset + addr - start
                found.append((struct.unpack("<iI", data[o:o + 8])[1], parts[2]))
                break
    names = subprocess.run(["swift-demangle", "--simplified"], input="\n".join(n for _, n in found),
                           capture_output=True, text=True, check=True).stdout.splitlines()
    rows = sorted(((size, name.removeprefix("async function pointer to ")) for (size, _), name in zip(found, names)),
                  key=lambda r: -r[0])
    shown = 0
    for size, name in rows:
        if args.regex and not re.search(args.regex, name):
            continue
        print(f"{size:7d}  {name[:200]}")
        shown += 1
        if shown >= args.most:
            break
    if not rows:
        sys.exit("async_frames: no async function pointers found (not a Swift binary, or stripped?)")


if __name__ == "__main__":
    main()
