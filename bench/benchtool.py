#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Small helpers for the sbuml benchmarks (standard library only).

  benchtool.py now
      wall clock in seconds (float), for t0 of a measurement
  benchtool.py waitline [--faults] TIMEOUT_S REGEX FILE...
      polls the files every 5 ms until each holds a line matching REGEX;
      prints, per file, the wall-clock time it was first seen; exit 1 on timeout.
      --faults (FILE is a machine's console.log): at that moment also read the
      page faults of the machine's processes: the line is then
      "<time> <kernel minflt> <kernel majflt> <helpers minflt> <helpers majflt>"
      (kernel: the pid in <machine dir>/uml/pid; helpers: every other process
      whose cwd is the machine dir: stubs, io thread), "-" where unreadable
  benchtool.py procsnap PID
      one line "minflt majflt cminflt cmajflt utime_ms stime_ms steal_ms
      physmem_rss_kib" for process PID (thread-group totals from
      /proc/PID/stat; cminflt/cmajflt: its reaped children), the host's steal
      time (/proc/stat, all CPUs) and the Rss of its largest shared file
      mapping (the UML kernel's view of its physmem file; /proc/PID/smaps;
      "-" if unreadable)
  benchtool.py memsample OUTFILE
      samples MemAvailable (/proc/meminfo) every 10 ms until SIGTERM/SIGINT,
      then writes "<start_kib> <min_kib> <peak_drop_kib> <samples>" to OUTFILE;
      OUTFILE.ready appears once it samples
  benchtool.py waithttp TIMEOUT_S URL TEXT
      until a GET of URL answers with a body holding TEXT: every 20 ms a new
      attempt (each may take 2 s: a SYN that found no address yet is not
      waited for), the first that succeeds wins; prints the wall-clock time
      it answered and how many attempts were started (fewer than one per
      20 ms: the poller itself was starved); proxies are never used; exit 1
      on timeout
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
import threading
import time
import urllib.request


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


def proc_stat(pid):
    """(minflt, cminflt, majflt, cmajflt, utime, stime) of /proc/PID/stat,
    times in clock ticks; comm may hold spaces and parentheses."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        rest = f.read().rsplit(b")", 1)[1].split()
    # rest[0] is field 3 (state): field N is rest[N - 3]
    return tuple(int(rest[n - 3]) for n in (10, 11, 12, 13, 14, 15))


def steal_ticks():
    with open("/proc/stat", "rb") as f:
        for line in f:
            if line.startswith(b"cpu "):
                return int(line.split()[8])
    raise RuntimeError("no cpu line in /proc/stat")


def physmem_rss_kib(pid):
    """Rss (KiB) of the shared file mapping with the most address space: a
    UML kernel's physmem file (every other shared mapping is far smaller)."""
    size, rss = {}, {}
    key = None
    try:
        f = open(f"/proc/{pid}/smaps", "rb")
    except OSError:
        return "-"
    with f:
        for line in f:
            head = line.split()
            if not head:
                continue
            if b"-" in head[0] and len(head) >= 5 and not head[0].endswith(b":"):
                key = None
                if head[1][3:4] == b"s" and head[4] != b"0":
                    key = (head[3], head[4])
                    lo, hi = (int(x, 16) for x in head[0].split(b"-"))
                    size[key] = size.get(key, 0) + hi - lo
            elif key is not None and head[0] == b"Rss:":
                rss[key] = rss.get(key, 0) + int(head[1])
    if not size:
        return 0
    return rss.get(max(size, key=size.get), 0)


def cmd_procsnap(pid):
    tick_ms = 1000.0 / os.sysconf("SC_CLK_TCK")
    minflt, cminflt, majflt, cmajflt, ut, st = proc_stat(pid)
    print(minflt, majflt, cminflt, cmajflt, round(ut * tick_ms),
          round(st * tick_ms), round(steal_ticks() * tick_ms), physmem_rss_kib(pid))


def machine_faults(console):
    """The page faults of a machine's processes right now, as a string:
    kernel minflt, majflt, helpers minflt, majflt ("-" where unknown)."""
    mdir = os.path.dirname(os.path.abspath(console))
    try:
        with open(os.path.join(mdir, "uml", "pid")) as f:
            kpid = int(f.read().split()[0])
        kmin, _, kmaj = proc_stat(kpid)[:3]
    except (OSError, ValueError, IndexError):
        return "- - - -"
    hmin = hmaj = 0
    for p in os.listdir("/proc"):
        if not p.isdigit() or int(p) == kpid:
            continue
        try:
            if os.readlink(f"/proc/{p}/cwd") != mdir:
                continue
            pmin, _, pmaj = proc_stat(p)[:3]
        except (OSError, ValueError, IndexError):
            continue
        hmin += pmin
        hmaj += pmaj
    return f"{kmin} {kmaj} {hmin} {hmaj}"


def cmd_waitline(timeout, regex, files, faults=False):
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
                found[f] = f"{now:.6f}"
                if faults:
                    found[f] += " " + machine_faults(f)
        if len(found) == len(files):
            break
        if time.time() > end:
            for f in files:
                print(found.get(f, "timeout"))
            return 1
        time.sleep(0.005)
    for f in files:
        print(found[f])
    return 0


def cmd_waithttp(timeout, url, text):
    end = time.time() + float(timeout)
    done = threading.Event()
    answered = []
    # straight to the guest, whatever *_proxy the environment names
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def attempt():
        try:
            with opener.open(url, timeout=2) as r:
                body = r.read().decode(errors="replace")
        except (OSError, ValueError):
            return
        if text in body and not done.is_set():
            answered.append(time.time())
            done.set()

    n = 0
    while not done.is_set() and time.time() < end:
        n += 1
        threading.Thread(target=attempt, daemon=True).start()
        done.wait(0.02)
    if not done.is_set():
        print(f"timeout {n}")
        return 1
    print(f"{min(answered):.6f} {n}")
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
    elif c == "waitline" and len(argv) >= 6 and argv[2] == "--faults":
        return cmd_waitline(argv[3], argv[4], argv[5:], faults=True)
    elif c == "waitline" and len(argv) >= 5:
        return cmd_waitline(argv[2], argv[3], argv[4:])
    elif c == "procsnap" and len(argv) == 3:
        cmd_procsnap(argv[2])
    elif c == "memsample" and len(argv) == 3:
        cmd_memsample(argv[2])
    elif c == "waithttp" and len(argv) == 5:
        return cmd_waithttp(argv[2], argv[3], argv[4])
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
