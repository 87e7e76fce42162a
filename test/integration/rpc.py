#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Minimal JSON-RPC 2.0 client for sbumld (Python stdlib only).

usage: rpc.py [--timeout S] SOCKET METHOD [JSON-PARAMS]
           Call METHOD; print the result as JSON and exit 0, or print the
           error object and exit 1 (2 for a transport/usage problem).
       rpc.py [--timeout S] SOCKET --events N
           Subscribe to events and print the next N notifications, one JSON
           object per line ({"method": ..., "params": ...}), then exit 0;
           exit 1 if the timeout (default 60 s) passes first.

--timeout S bounds the whole call (default 120 s: a boot may take 60 s).
"""
import json
import socket
import sys
import time


def usage():
    sys.stderr.write(__doc__)
    sys.exit(2)


class Conn:
    """One connection: send requests, read newline-framed JSON lines."""

    def __init__(self, path, deadline):
        self.deadline = deadline
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.remaining())
        self.sock.connect(path)
        self.buf = b""
        self.next_id = 1

    def remaining(self):
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("timed out")
        return left

    def send(self, method, params=None):
        req = {"jsonrpc": "2.0", "id": self.next_id, "method": method}
        self.next_id += 1
        if params is not None:
            req["params"] = params
        self.sock.sendall(json.dumps(req).encode() + b"\n")
        return req["id"]

    def read(self):
        while b"\n" not in self.buf:
            self.sock.settimeout(self.remaining())
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("connection closed by sbumld")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def call(self, method, params=None):
        """Return the response to this call; notifications are skipped."""
        rid = self.send(method, params)
        while True:
            msg = self.read()
            if msg.get("id") == rid:
                return msg


def main(argv):
    timeout = None
    while argv and argv[0].startswith("--timeout"):
        if argv[0] == "--timeout" and len(argv) > 1:
            timeout = float(argv[1])
            argv = argv[2:]
        elif argv[0].startswith("--timeout="):
            timeout = float(argv[0].split("=", 1)[1])
            argv = argv[1:]
        else:
            usage()
    if len(argv) < 2:
        usage()
    path = argv[0]
    try:
        if argv[1] == "--events":
            if len(argv) != 3:
                usage()
            count = int(argv[2])
            conn = Conn(path, time.monotonic() + (timeout or 60))
            resp = conn.call("events.subscribe")
            if "error" in resp:
                print(json.dumps(resp["error"]))
                return 1
            sys.stdout.flush()
            seen = 0
            while seen < count:
                msg = conn.read()
                if "id" in msg:
                    continue
                print(json.dumps({"method": msg.get("method"),
                                  "params": msg.get("params")}))
                sys.stdout.flush()
                seen += 1
            return 0
        method = argv[1]
        params = None
        if len(argv) > 2:
            params = json.loads(argv[2])
        if len(argv) > 3:
            usage()
        conn = Conn(path, time.monotonic() + (timeout or 120))
        resp = conn.call(method, params)
    except (OSError, ValueError, TimeoutError, ConnectionError) as e:
        sys.stderr.write("rpc.py: %s\n" % e)
        return 2
    if "error" in resp:
        print(json.dumps(resp["error"], indent=2))
        return 1
    print(json.dumps(resp.get("result"), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
