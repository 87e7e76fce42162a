#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Talk to sbumld directly over its Unix socket, standard library only.

The protocol (doc/rpc.md) is JSON-RPC 2.0, one JSON text per line.  The
daemon may send notifications (events) at any time once subscribed, so the
client keeps them aside while it waits for the answer to a call.

    sbuml_client.py [--socket PATH] ping
    sbuml_client.py boot demo [--mem 64] [--image /abs/root.img]
    sbuml_client.py list
    sbuml_client.py events [--count N]
    sbuml_client.py save-restore MACHINE SNAPSHOT-DIR NEW-MACHINE
    sbuml_client.py export SNAPSHOT FILE [--base PARENT]
    sbuml_client.py import FILE [SNAPSHOT]

export and import pass the open file to the daemon with the request
(SCM_RIGHTS, socket.send_fds), as sbumlctl does.
"""

import argparse
import collections
import itertools
import json
import os
import socket
import sys
import time

DEFAULT_SOCKET = "/run/sbuml/sbumld.sock"
# A save or restore is answered only when done: wait at least this long.
SNAPSHOT_TIMEOUT = 15 * 60.0


class RemoteError(Exception):
    """The daemon answered a call with an error object."""

    def __init__(self, error):
        self.code = error.get("code")
        self.message = error.get("message", "")
        self.data = error.get("data") or {}
        self.name = self.data.get("name", "")
        super().__init__(f"{self.name or self.code}: {self.message}")


class Client:
    """One connection to sbumld; one call at a time."""

    def __init__(self, path=None, timeout=300.0):
        path = path or os.environ.get("SBUML_SOCKET") or DEFAULT_SOCKET
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(path)
        self.timeout = timeout
        self.buf = b""
        self.events = collections.deque()   # notifications not yet read
        self.ids = itertools.count(1)

    def close(self):
        self.sock.close()

    def _read_message(self, deadline):
        """Return the next decoded line; raise TimeoutError or ConnectionError."""
        while b"\n" not in self.buf:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise TimeoutError("no message from sbumld in time")
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                raise TimeoutError("no message from sbumld in time") from None
            if not chunk:
                raise ConnectionError("sbumld closed the connection")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        if not line.strip():
            return self._read_message(deadline)
        return json.loads(line)

    def call(self, method, params=None, timeout=None, progress=None, fd=None):
        """Call method and return its result; raise RemoteError on an error.

        timeout overrides the client's for this call.  progress, if given,
        is called with the params of each job.progress notification that
        arrives before the answer (instead of queueing it).  fd, if given,
        is passed to the daemon with the request (for "fd": true).
        """
        req_id = next(self.ids)
        req = {"jsonrpc": "2.0", "id": req_id, "method": method}
        if params is not None:
            req["params"] = params
        line = json.dumps(req).encode() + b"\n"
        if fd is not None:
            # The descriptor rides with the first bytes of the line.
            sent = socket.send_fds(self.sock, [line], [fd])
            line = line[sent:]
        self.sock.sendall(line)
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            msg = self._read_message(deadline)
            if "id" not in msg:          # a notification
                if progress and msg.get("method") == "job.progress":
                    progress(msg.get("params") or {})
                else:                    # keep it for next_event()
                    self.events.append(msg)
                continue
            if msg["id"] is None and "error" in msg:
                raise RemoteError(msg["error"])   # e.g. LimitExceeded
            if msg["id"] != req_id:      # late answer to an earlier call
                continue
            if "error" in msg:
                raise RemoteError(msg["error"])
            return msg.get("result")

    def next_event(self, timeout=None):
        """Return (method, params) of the next notification."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.events:
            msg = self._read_message(deadline)
            if "id" not in msg:
                self.events.append(msg)
        msg = self.events.popleft()
        return msg["method"], msg.get("params")


def absolute_machine(arg):
    """Names pass through; paths become absolute (the daemon wants that)."""
    if "/" not in arg and not arg.startswith("."):
        return arg
    arg = arg.rstrip("/") or "/"
    parent, base = os.path.split(arg)
    return os.path.join(os.path.realpath(parent or "."), base)


def save_restore_demo(client, machine, snapshot_dir, new_machine):
    """Save machine to snapshot_dir (a new directory), then restore it as
    new_machine, paused, and resume it: the snapshot round trip.

    Returns (snapshot object, machine object of the restored machine).
    """
    def show(p):
        print(f'  {p.get("phase", "?"):10} {p.get("bytes", 0) / 1048576:8.1f} MiB written',
              file=sys.stderr)

    timeout = max(client.timeout, SNAPSHOT_TIMEOUT)
    snap = client.call("snapshot.save",
                       {"machine": absolute_machine(machine),
                        "snapshot": absolute_machine(snapshot_dir)},
                       timeout=timeout, progress=show)
    pause_ms = snap.get("timings", {}).get("pause_us", 0) / 1000
    captured = sum(snap.get("sizes", {}).values()) / 1048576
    print(f'saved {snap["path"]}: paused for {pause_ms:.1f} ms, {captured:.1f} MiB captured')

    info = client.call("snapshot.info", {"snapshot": snap["path"]}, timeout=timeout)
    print(f'checked: {info["snapshot"]} ({info["state"]} when saved)')

    m = client.call("snapshot.restore",
                    {"snapshot": snap["path"], "machine": absolute_machine(new_machine),
                     "continue": False}, timeout=timeout)
    print(f'restored {m["machine"]}: {m["state"]}')
    m = client.call("machine.resume", {"machine": m["machine"]})
    print(f'{m["machine"]}: {m["state"]}')
    return snap, m


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--socket")
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("ping")
    sub.add_parser("list")
    boot = sub.add_parser("boot")
    boot.add_argument("machine")
    boot.add_argument("--mem", type=int)
    boot.add_argument("--image")
    ev = sub.add_parser("events")
    ev.add_argument("--count", type=int, default=0)
    sr = sub.add_parser("save-restore", help="save MACHINE, restore it as NEW-MACHINE")
    sr.add_argument("machine")
    sr.add_argument("snapshot_dir")
    sr.add_argument("new_machine")
    ex = sub.add_parser("export", help="write SNAPSHOT as an export stream to FILE")
    ex.add_argument("snapshot")
    ex.add_argument("file")
    ex.add_argument("--base")
    im = sub.add_parser("import", help="add the snapshot of the export stream FILE")
    im.add_argument("file")
    im.add_argument("snapshot", nargs="?")
    args = ap.parse_args()

    try:
        client = Client(args.socket)
    except OSError as e:
        print(f"cannot connect to sbumld: {e}", file=sys.stderr)
        return 3
    try:
        if args.cmd == "ping":
            print(client.call("daemon.ping"))
        elif args.cmd == "list":
            for m in client.call("machine.list")["machines"]:
                print(f'{m["machine"]:20} {m["state"]:8} {m.get("pid", "-")!s:>7} {m["dir"]}')
        elif args.cmd == "boot":
            params = {"machine": absolute_machine(args.machine)}
            if args.mem:
                params["mem_mb"] = args.mem
            if args.image:
                params["image"] = os.path.abspath(args.image)
            m = client.call("machine.boot", params)
            print(f'{m["machine"]}: {m["state"]} (pid {m.get("pid")})')
        elif args.cmd == "events":
            client.call("events.subscribe")
            seen = 0
            while not args.count or seen < args.count:
                method, params = client.next_event()
                print(method, json.dumps(params), flush=True)
                seen += 1
        elif args.cmd == "save-restore":
            save_restore_demo(client, args.machine, args.snapshot_dir, args.new_machine)
        elif args.cmd == "export":
            params = {"snapshot": absolute_machine(args.snapshot), "fd": True}
            if args.base:
                params["base"] = absolute_machine(args.base)
            with open(args.file, "wb") as f:
                r = client.call("snapshot.export", params, fd=f.fileno(),
                                timeout=max(client.timeout, SNAPSHOT_TIMEOUT))
            print(f'exported {r["snapshot"]}: {r["bytes"]} bytes, {r["chunks"]} chunks')
        elif args.cmd == "import":
            params = {"fd": True}
            if args.snapshot:
                params["snapshot"] = absolute_machine(args.snapshot)
            with open(args.file, "rb") as f:
                r = client.call("snapshot.import", params, fd=f.fileno(),
                                timeout=max(client.timeout, SNAPSHOT_TIMEOUT))
            print(f'imported {r["snapshot"]} (id {r["id"][:12]}): {r["new_chunks"]} new chunks')
    except RemoteError as e:
        print(f"{args.cmd}: {e}", file=sys.stderr)
        return 1
    except (OSError, ValueError, TimeoutError) as e:
        print(f"{args.cmd}: {e}", file=sys.stderr)
        return 4
    finally:
        client.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
