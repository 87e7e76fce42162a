#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Small helpers for the sbuml benchmarks (standard library only).

  benchtool.py now
      wall clock in seconds (float), for t0 of a measurement
  benchtool.py waitline TIMEOUT_S REGEX FILE...
      polls the files every 5 ms until each holds a line matching REGEX;
      prints, per file, the wall-clock time it was first seen; exit 1 on timeout
  benchtool.py memsample OUTFILE
      samples MemAvailable (/proc/meminfo) every 10 ms until SIGTERM/SIGINT,
      then writes "<start_kib> <min_kib> <peak_drop_kib> <samples>" to OUTFILE;
      OUTFILE.ready appears once it samples
  benchtool.py json FILE KEY[.KEY...]...
      prints the value of each dotted key of the JSON object in FILE, one a line
  benchtool.py dataextent FILE
      bytes of data (not holes) in FILE, found with SEEK_DATA/SEEK_HOLE
  benchtool.py storesizes MANIFEST STOREDIR
      for a version 2 manifest: "<logical_bytes> <kernel_only_bytes>
      <kernel_chunks>": the sum of files[].size, and the compressed bytes in
      STOREDIR (packs/*.idx, or loose chunks/) of the distinct kernel chunks
      that none of its files uses
"""
import json
import os
import re
import signal
import sys
import time


def memavailable_kib():
    with open("/proc/meminfo", "rb") as f:
        for line in f:
            if line.startswith(b"MemAvailable:"):
                return int(line.split()[1])
    raise RuntimeError("no MemAvailable in /proc/meminfo")


def cmd_memsample(out):
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    start = low = memavailable_kib()
    n = 1
    open(out + ".ready", "w").close()
    while not stop:
        time.sleep(0.01)
        v = memavailable_kib()
        n += 1
        low = min(low, v)
    with open(out + ".tmp", "w") as f:
        f.write(f"{start} {low} {start - low} {n}\n")
    os.rename(out + ".tmp", out)


def cmd_waitline(timeout, regex, files):
    rx = re.compile(regex.encode())
    end = time.time() + float(timeout)
    found = {}
    offsets = {f: 0 for f in files}
    tails = {f: b"" for f in files}
    while len(found) < len(files):
        for f in files:
            if f in found:
                continue
            try:
                with open(f, "rb") as fh:
                    fh.seek(offsets[f])
                    data = fh.read()
            except FileNotFoundError:
                continue
            if not data:
                continue
            now = time.time()
            offsets[f] += len(data)
            buf = tails[f] + data
            lines = buf.split(b"\n")
            tails[f] = lines.pop()  # incomplete last line
            if any(rx.search(l) for l in lines):
                found[f] = now
        if len(found) == len(files):
            break
        if time.time() > end:
            for f in files:
                print(f"{found[f]:.6f}" if f in found else "timeout")
            return 1
        time.sleep(0.005)
    for f in files:
        print(f"{found[f]:.6f}")
    return 0


def cmd_json(path, keys):
    with open(path) as f:
        obj = json.load(f)
    for k in keys:
        v = obj
        for part in k.split("."):
            v = v.get(part) if isinstance(v, dict) else None
        print("" if v is None else v)


def cmd_dataextent(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        off = total = 0
        while off < size:
            try:
                d = os.lseek(fd, off, os.SEEK_DATA)
            except OSError:
                break
            h = os.lseek(fd, d, os.SEEK_HOLE)
            total += h - d
            off = h
        print(total)
    finally:
        os.close(fd)


def pack_sizes(storedir):
    """hash hex -> frame length, from every packs/*.idx (48-byte entries
    after a 16-byte header: hash, u64 offset, u32 length, u32 0)."""
    import glob
    import struct
    sizes = {}
    for idx in glob.glob(os.path.join(storedir, "packs", "*.idx")):
        with open(idx, "rb") as f:
            b = f.read()
        for o in range(16, len(b) - 47, 48):
            sizes.setdefault(b[o:o + 32].hex(), struct.unpack_from("<I", b, o + 40)[0])
    return sizes


def cmd_storesizes(manifest, storedir):
    with open(manifest) as f:
        m = json.load(f)
    logical = sum(int(f["size"]) for f in m.get("files", []))
    used = {c for f in m.get("files", []) for c in f.get("chunks", [])
            if isinstance(c, str)}
    kchunks = {c for c in m.get("kernel", {}).get("chunks", [])
               if isinstance(c, str)}
    kbytes = 0
    packed = pack_sizes(storedir)
    for c in kchunks - used:
        if c in packed:
            kbytes += packed[c]
            continue
        try:
            kbytes += os.stat(os.path.join(storedir, "chunks", c[:2], c + ".zst")).st_size
        except FileNotFoundError:
            pass
    print(logical, kbytes, len(kchunks))


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    c = argv[1]
    if c == "now":
        print(f"{time.time():.6f}")
    elif c == "waitline" and len(argv) >= 5:
        return cmd_waitline(argv[2], argv[3], argv[4:])
    elif c == "memsample" and len(argv) == 3:
        cmd_memsample(argv[2])
    elif c == "json" and len(argv) >= 4:
        cmd_json(argv[2], argv[3:])
    elif c == "dataextent" and len(argv) == 3:
        cmd_dataextent(argv[2])
    elif c == "storesizes" and len(argv) == 4:
        cmd_storesizes(argv[2], argv[3])
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
