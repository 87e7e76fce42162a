#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Write a hand-made sbuml export stream (doc/snapshot-format.md), for tests
that feed the daemon what an attacker would.

usage: mkstream.py OUT MANIFEST-FILE [HEAD-JSON]
  The stream is: magic, a HEAD record, a MANI record holding the bytes of
  MANIFEST-FILE as they are, no chunks, and a correct END record.  The HEAD
  is {"format": "sbuml-export", "version": 1, "snapshot": "hostile",
  "id": SHA-256 of the manifest, "created": ..., "chunks": 0, "base": null}
  with the members of HEAD-JSON (an object) put over it: a member given as
  null stays null.
"""
import hashlib
import json
import struct
import sys


def record(kind, payload):
    return kind + b"\0\0\0\0" + struct.pack("<Q", len(payload)) + payload


def main():
    if len(sys.argv) not in (3, 4):
        sys.stderr.write(__doc__)
        sys.exit(2)
    manifest = open(sys.argv[2], "rb").read()
    head = {"format": "sbuml-export", "version": 1, "snapshot": "hostile",
            "id": hashlib.sha256(manifest).hexdigest(),
            "created": "2026-12-06T00:00:00Z", "chunks": 0, "base": None}
    if len(sys.argv) == 4:
        head.update(json.loads(sys.argv[3]))
    body = b"SBUMLXS1" + record(b"HEAD", json.dumps(head).encode()) + \
        record(b"MANI", manifest)
    body += record(b"END.", hashlib.sha256(body).digest())
    with open(sys.argv[1], "wb") as f:
        f.write(body)


if __name__ == "__main__":
    main()
