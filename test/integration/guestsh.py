#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Drive a shell on a machine's console through the real CLI.

    guestsh.py [--limit S] ACTION ...
    guestsh.py login  ATTACH...             wait for a login prompt, log in as root
    guestsh.py run    CMD ATTACH...         run CMD in the console's shell, print
                                            its output, exit with its status

ATTACH is the command that attaches to the console (the real
`sbumlctl --socket S console NAME --attach`), given as the remaining
arguments.  Each call attaches, acts, and detaches by closing the
attach command's stdin after Ctrl-]; the shell on the console lives on between calls
(and across a save and a restore).

A command's output is framed by markers the shell computes
(`$((...))`), so the echo of the typed line never matches them.  The
waits are for progress: a limit (default 600 s) is a safety net only.
"""
import os
import re
import select
import subprocess
import sys
import time


class Console:
    def __init__(self, argv, limit):
        self.limit = limit
        self.buf = b""
        self.before = b""
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, bufsize=0)

    def send(self, text):
        self.proc.stdin.write(text.encode())
        self.proc.stdin.flush()

    def expect(self, pattern, poke=None):
        """Read until PATTERN (bytes regex) matches; return the match.
        POKE, if given, is sent every few seconds of silence (a newline
        to make a prompt appear)."""
        rx = re.compile(pattern)
        end = time.monotonic() + self.limit
        quiet = 0
        while True:
            m = rx.search(self.buf)
            if m:
                self.before = self.buf[:m.start()]
                self.buf = self.buf[m.end():]
                return m
            left = end - time.monotonic()
            if left <= 0:
                raise TimeoutError("no %r in console output; last: %r"
                                   % (pattern, self.buf[-400:]))
            r, _, _ = select.select([self.proc.stdout], [], [], min(left, 2))
            if not r:
                quiet += 1
                if poke is not None and quiet % 2 == 0:
                    self.send(poke)
                continue
            quiet = 0
            data = os.read(self.proc.stdout.fileno(), 65536)
            if not data:
                raise EOFError("console stream ended; last: %r"
                               % self.buf[-400:])
            self.buf += data

    def drain(self, quiet=1.0, most=3.0):
        """Forget what the attach replayed: read until QUIET seconds pass
        without output, or MOST seconds in all (a guest may print all the
        time: boot messages, services writing to the console)."""
        end = time.monotonic() + most
        while True:
            left = end - time.monotonic()
            if left <= 0:
                break
            r, _, _ = select.select([self.proc.stdout], [], [], min(quiet, left))
            if not r:
                break
            if not os.read(self.proc.stdout.fileno(), 65536):
                raise EOFError("console stream ended")
        self.buf = b""

    def close(self):
        # Ctrl-] detaches; the client's output would go on past our EOF.
        try:
            self.proc.stdin.write(b"\x1d")
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def login(con):
    # Either a login prompt, or a shell already logged in from before:
    # answer only to what the guest prints after our newline.
    con.drain()
    con.send("\n")
    m = con.expect(rb"(login: |# )", poke="\n")
    if m.group(1) == b"login: ":
        con.send("root\n")
    # Make the prompt plain and quiet so the markers are easy to find.
    n = int.from_bytes(os.urandom(3), "big")
    con.send("stty -echo 2>/dev/null; PS1='# '; echo SBUML_L$((%d+1))IN\n" % n)
    con.expect(b"SBUML_L%dIN" % (n + 1))


def main():
    args = sys.argv[1:]
    limit = 600.0
    if len(args) >= 2 and args[0] == "--limit":
        limit = float(args[1])
        args = args[2:]
    if not args:
        sys.exit(__doc__)
    action = args.pop(0)
    if action == "login":
        con = Console(args, limit)
        try:
            login(con)
        finally:
            con.close()
        return 0
    if action == "run":
        cmd = args.pop(0)
        con = Console(args, limit)
        try:
            con.drain(0.3)
            # A fresh nonce: an attach may replay earlier output.
            n = int.from_bytes(os.urandom(3), "big")
            con.send("stty -echo 2>/dev/null; echo; echo SBUML_B$((%d+1)); %s; "
                     "echo SBUML_E$?_$((%d+2))\n" % (n, cmd, n))
            con.expect(b"SBUML_B%d\r?\n" % (n + 1))
            m = con.expect(b"SBUML_E(\\d+)_%d" % (n + 2))
            out = con.before.replace(b"\r", b"")
        finally:
            con.close()
        sys.stdout.write(out.decode(errors="replace"))
        return int(m.group(1))
    sys.exit("unknown action %r" % action)


if __name__ == "__main__":
    sys.exit(main())
