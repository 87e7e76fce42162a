#!/usr/bin/python3
# SPDX-License-Identifier: MIT
# memfd-exec.py PHYSMEM CMD...: a launcher that materialises a capture's
# physmem in a memfd on fd 3 (data only: zero MiBs stay holes), as sbumld
# does from its chunk store, then execs CMD (sbuml_physmem_fd=3).
import os, sys
src, argv = sys.argv[1], sys.argv[2:]
size = os.path.getsize(src)
m = os.memfd_create('sbuml-physmem', 0)
os.ftruncate(m, size)
zero = bytes(1 << 20)
with open(src, 'rb') as f:
    off = 0
    while off < size:
        b = f.read(1 << 20)
        if not b:
            break
        if b != zero[:len(b)]:
            os.pwrite(m, b, off)
        off += len(b)
if m != 3:
    os.dup2(m, 3)
    os.close(m)
os.set_inheritable(3, True)
os.execvp(argv[0], argv)
