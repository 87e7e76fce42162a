#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Clients that try to use up sbumld's resources (039-limits.sh).

usage: limits.py SOCKET PID imports CONNS N
           CONNS connections each start N snapshot.import calls, each on a
           pipe passed with the request that nobody ever writes to.  Prints
           one JSON line {"deferred": a, "refused": r, "other": [...],
           "threads": t, "fds": f} (the daemon PID's threads and fds then),
           then closes the connections (keeping the pipes' write ends open)
           and waits until the daemon's thread and fd counts are back to
           what they were before; prints {"threads": t, "fds": f} again.
       limits.py SOCKET PID conns UID[,UID...] N
           For each UID, a process of that uid opens N connections and
           subscribes each to events.  Prints {"accepted": {uid: n},
           "refused": {uid: n}}; then checks that root can still connect
           and call daemon.ping on SERVER_ROOT_RESERVED connections, and
           prints {"root_pings": n}.
       limits.py SOCKET PID idle N
           Opens N idle connections and one events subscriber; waits until
           the daemon closed the idle ones, then calls daemon.ping on the
           subscriber.  Prints {"idle_closed": n, "subscriber_ping": ok}.
Every wait is bounded by --deadline seconds (default 60), polling for progress.
"""
import array
import json
import os
import select
import socket
import sys
import time

DEADLINE = 60.0


def connect(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    _bufs.pop(s.fileno(), None)
    return s


def call(s, method, params=None, ident=1, fds=()):
    req = {"jsonrpc": "2.0", "id": ident, "method": method}
    if params is not None:
        req["params"] = params
    data = (json.dumps(req) + "\n").encode()
    if fds:
        s.sendmsg([data], [(socket.SOL_SOCKET, socket.SCM_RIGHTS,
                            array.array("i", fds))])
    else:
        s.sendall(data)


_bufs = {}


def read_line(s, timeout):
    """One answer line, or None at end of file / timeout."""
    buf = _bufs.get(s.fileno(), b"")
    end = time.monotonic() + timeout
    while b"\n" not in buf:
        left = end - time.monotonic()
        if left <= 0:
            _bufs[s.fileno()] = buf
            return None
        r, _, _ = select.select([s], [], [], left)
        if not r:
            continue
        try:
            b = s.recv(65536)
        except ConnectionResetError:
            b = b""
        if not b:
            _bufs[s.fileno()] = b""
            return None
        buf += b
    line, buf = buf.split(b"\n", 1)
    _bufs[s.fileno()] = buf
    return json.loads(line)


def counts(pid):
    with open("/proc/%d/status" % pid) as f:
        threads = next(int(l.split()[1]) for l in f if l.startswith("Threads:"))
    return threads, len(os.listdir("/proc/%d/fd" % pid))


def wait_for(cond):
    end = time.monotonic() + DEADLINE
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.1)
    return cond()


def imports(path, pid, nconns, n):
    base = counts(pid)
    conns, writers = [], []
    deferred = refused = 0
    other = []
    for _ in range(nconns):
        s = connect(path)
        conns.append(s)
        for i in range(n):
            r, w = os.pipe()
            writers.append(w)
            call(s, "snapshot.import", {"fd": True, "snapshot": "silent%d" % len(writers)},
                 ident=i + 1, fds=[r])
            os.close(r)
    # Every refusal is answered at once; accepted imports wait on their
    # pipes.  Read all connections together until they have been silent
    # for 2 s (all refusals are in long before).
    while True:
        r, _, _ = select.select(conns, [], [], 2.0)
        if not r:
            break
        for s in r:
            ans = read_line(s, 2.0)
            if ans is None:
                other.append("end of file")
                conns.remove(s)
            elif ans.get("error", {}).get("code") == -32000:
                refused += 1
            else:
                other.append(ans)
            while ans is not None and b"\n" in _bufs.get(s.fileno(), b""):
                ans = read_line(s, 0)
                if ans.get("error", {}).get("code") == -32000:
                    refused += 1
                else:
                    other.append(ans)
    deferred = nconns * n - refused - len(other)
    alive = counts(pid)
    ping = connect(path)
    call(ping, "daemon.ping")
    pong = read_line(ping, DEADLINE)
    gc_during = None
    call(ping, "store.gc", ident=2)
    gc_during = read_line(ping, DEADLINE)
    ping.close()
    print(json.dumps({"base": base, "deferred": deferred, "refused": refused,
                      "other": other, "threads": alive[0], "fds": alive[1],
                      "ping": pong is not None and "result" in pong,
                      "gc_during": gc_during}), flush=True)
    for s in conns:
        s.close()
    ok = wait_for(lambda: counts(pid)[0] <= base[0] and counts(pid)[1] <= base[1])
    after = counts(pid)
    s = connect(path)
    call(s, "store.gc")
    gc = read_line(s, DEADLINE)
    print(json.dumps({"threads": after[0], "fds": after[1], "back": ok,
                      "gc_after": gc}), flush=True)
    for w in writers:
        os.close(w)


def hold_as(path, uid, n, wfd, rfd):
    """Child: become uid, open n subscribed connections, report, hold."""
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)
    held, accepted, refused = [], 0, 0
    for i in range(n):
        try:
            s = connect(path)
        except OSError:
            refused += 1
            continue
        try:
            call(s, "events.subscribe", ident=i + 1)
        except OSError:
            pass    # refused and closed before the request got there
        ans = read_line(s, DEADLINE)
        if ans is not None and "result" in ans:
            accepted += 1
            held.append(s)
        else:
            refused += 1
            s.close()
    os.write(wfd, (json.dumps([uid, accepted, refused]) + "\n").encode())
    os.read(rfd, 1)     # until the parent closes its end
    os._exit(0)


def conns(path, pid, uids, n):
    rel_r, rel_w = os.pipe()
    rep_r, rep_w = os.pipe()
    kids, result = [], {}
    for uid in uids:
        # One uid after the other: the counts per uid are then exact.
        k = os.fork()
        if k == 0:
            os.close(rel_w)
            os.close(rep_r)
            hold_as(path, uid, n, rep_w, rel_r)
        kids.append(k)
        line = b""
        while not line.endswith(b"\n"):
            line += os.read(rep_r, 1)
        uid_, acc, ref = json.loads(line)
        result[uid_] = (acc, ref)
    print(json.dumps({"accepted": {u: a for u, (a, r) in result.items()},
                      "refused": {u: r for u, (a, r) in result.items()}}),
          flush=True)
    roots, pings = [], 0
    for i in range(8):
        s = connect(path)
        roots.append(s)
        call(s, "daemon.ping", ident=i + 1)
        ans = read_line(s, DEADLINE)
        if ans is not None and "result" in ans:
            pings += 1
    print(json.dumps({"root_pings": pings}), flush=True)
    os.close(rel_w)
    for k in kids:
        os.waitpid(k, 0)


def idle(path, pid, n):
    idles = [connect(path) for _ in range(n)]
    sub = connect(path)
    call(sub, "events.subscribe")
    subscribed = read_line(sub, DEADLINE)

    def closed(s):
        r, _, _ = select.select([s], [], [], 0)
        if not r:
            return False
        try:
            return s.recv(1, socket.MSG_PEEK) == b""
        except ConnectionResetError:
            return True
    ok = wait_for(lambda: all(closed(s) for s in idles))
    n_closed = sum(1 for s in idles if closed(s))
    call(sub, "daemon.ping", ident=2)
    ans = read_line(sub, DEADLINE)
    print(json.dumps({"idle_closed": n_closed, "all": ok,
                      "subscribed": subscribed is not None and "result" in subscribed,
                      "subscriber_ping": ans is not None and "result" in ans}),
          flush=True)


def main(argv):
    global DEADLINE
    if len(argv) > 2 and argv[1] == "--deadline":
        DEADLINE = float(argv[2])
        argv = argv[:1] + argv[3:]
    if len(argv) < 4:
        sys.stderr.write(__doc__)
        return 2
    path, pid, what = argv[1], int(argv[2]), argv[3]
    if what == "imports":
        imports(path, pid, int(argv[4]), int(argv[5]))
    elif what == "conns":
        conns(path, pid, [int(u) for u in argv[4].split(",")], int(argv[5]))
    elif what == "idle":
        idle(path, pid, int(argv[4]))
    else:
        sys.stderr.write(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
