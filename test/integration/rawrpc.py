#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Send raw bytes (one line each) to sbumld and print each answer line.

usage: rawrpc.py SOCKET LINE...     LINE is sent as-is plus '\n'.
       rawrpc.py SOCKET --big N     sends a line of N bytes with no newline,
                                    prints the answer (if any) and whether the
                                    connection was closed.
"""
import socket
import sys


def connect(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(path)
    return s


def read_line(f):
    line = f.readline()
    return line.decode().rstrip("\n") if line else None


def main():
    path = sys.argv[1]
    s = connect(path)
    f = s.makefile("rb")
    if sys.argv[2] == "--big":
        n = int(sys.argv[3])
        chunk = b"[" * 65536
        sent = 0
        try:
            while sent < n:
                s.sendall(chunk)
                sent += len(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass
        print(read_line(f))
        print("closed" if f.readline() == b"" else "open")
        return
    for line in sys.argv[2:]:
        s.sendall(line.encode() + b"\n")
        if line.startswith("NOREPLY "):
            continue
    # Every line that expects an answer gets one; callers pass a final ping.
    for line in sys.argv[2:]:
        ans = read_line(f)
        if ans is None:
            break
        print(ans)
        if '"ping-final"' in ans:
            break


if __name__ == "__main__":
    main()
