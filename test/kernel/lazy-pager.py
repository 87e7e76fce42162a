#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A small pager for the lazy restore of an sbuml capture (test only).

    lazy-pager.py --capture DIR --log FILE [--rate MIB_PER_S] [--die-after N]
                  [--cluster KIB] -- <restore command line...>

Makes an empty memfd of the capture's physmem size, a seqpacket socket pair
and opens /dev/userfaultfd, then execs the restore command line with the
memfd at fd 3, the device at fd 4 and its end of the socket at fd 5 (so
the command line must say sbuml_physmem_fd=3 sbuml_uffd_dev=4
sbuml_pager=5). The process keeps its pid (it becomes the kernel); the
pager itself is a detached grandchild that writes its pid in the log.

Protocol (doc/kernel.md, section 5): the kernel sends one message, a
40-byte header ("SBUMLPGR", version, nvmas, physmem_size, page_size, pid,
flags) and nvmas (start, end, file offset) triples of its physmem
mappings, with its userfaultfd attached. The pager answers missing faults
with UFFDIO_COPY of the cluster around the faulting address from
<capture>/physmem, copies every data page of the capture in the background
at --rate MiB/s, sends 16-byte records (type, 0, value): PROGRESS (1) now
and then and DONE (2) once every data page is in, then serves faults (the
holes) until the kernel closes the socket. --die-after N: exit without
DONE after serving N faults (the kernel must end with status 97);
--die-on-helper-fault: exit at the first fault of the ubd io thread (a
host pread into guest memory waiting in the host kernel), unserved.
"""
import argparse
import ctypes
import fcntl
import mmap
import os
import select
import socket
import struct
import sys
import time

UFFDIO_COPY = 0xC028AA03
UFFDIO_WAKE = 0x8010AA02
UFFD_EVENT_PAGEFAULT = 0x12
PAGE = 4096
HELLO = struct.Struct('<8sIIQQiI')
VMA = struct.Struct('<QQQ')
MSG = struct.Struct('<IIQ')
PROGRESS, DONE = 1, 2


def physmem_size(cap):
    try:
        with open(os.path.join(cap, 'DONE')) as f:
            for line in f:
                if line.startswith('physmem_size='):
                    return int(line.split('=', 1)[1])
    except OSError:
        pass
    return os.path.getsize(os.path.join(cap, 'physmem'))


def launch(args):
    size = physmem_size(args.capture)
    mfd = os.memfd_create('sbuml-physmem', 0)
    os.ftruncate(mfd, size)
    dev = os.open('/dev/userfaultfd', os.O_RDWR | os.O_CLOEXEC)
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    mid = os.fork()
    if mid == 0:
        if os.fork():
            os._exit(0)
        # the pager: a grandchild, so that the launcher keeps its pid
        os.close(mfd)
        os.close(dev)
        theirs.close()
        os.setsid()
        try:
            pager(args, ours)
        except BaseException as e:   # log whatever ends the pager
            with open(args.log, 'a') as f:
                f.write('error %r\n' % (e,))
            os._exit(2)
        os._exit(0)
    os.waitpid(mid, 0)
    ours.close()
    for fd, want in ((mfd, 3), (dev, 4), (theirs.detach(), 5)):
        if fd != want:
            os.dup2(fd, want)
    os.closerange(6, 1 << 16)
    for fd in (3, 4, 5):
        os.set_inheritable(fd, True)
    os.execvp(args.argv[0], args.argv)


class Pager:
    def __init__(self, args, sock, log):
        self.args, self.sock, self.log = args, sock, log
        self.t0 = time.monotonic()
        self.faults = self.fault_pages = self.bg_pages = 0
        self.helper_faults = 0
        self.first_fault = None
        self.copy = bytearray(40)
        self.rng = bytearray(16)

    def say(self, what, **kv):
        t = time.monotonic() - self.t0
        self.log.write('%s t_ms=%d %s\n' % (what, t * 1000,
                       ' '.join('%s=%s' % i for i in kv.items())))
        self.log.flush()

    def hello(self):
        data, fds, _, _ = socket.recv_fds(self.sock, 1 << 20, 1)
        magic, ver, nvmas, size, page, pid, _ = HELLO.unpack_from(data)
        if magic != b'SBUMLPGR' or ver != 1 or len(fds) != 1 or page != PAGE:
            raise RuntimeError('bad hello %r %d %d' % (magic, ver, len(fds)))
        self.uffd = fds[0]
        self.kpid = pid
        fl = fcntl.fcntl(self.uffd, fcntl.F_GETFL)
        fcntl.fcntl(self.uffd, fcntl.F_SETFL, fl | os.O_NONBLOCK)
        self.vmas = sorted((VMA.unpack_from(data, HELLO.size + i * VMA.size)
                            for i in range(nvmas)), key=lambda v: v[0])
        self.size = size
        # the snapshot, mapped here: UFFDIO_COPY copies from our memory
        path = os.path.join(self.args.capture, 'physmem')
        fd = os.open(path, os.O_RDONLY)
        libc = ctypes.CDLL(None, use_errno=True)
        libc.mmap.restype = ctypes.c_void_p
        libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int,
                              ctypes.c_int, ctypes.c_int, ctypes.c_long]
        self.src = libc.mmap(None, size, mmap.PROT_READ, mmap.MAP_PRIVATE, fd, 0)
        if self.src in (None, ctypes.c_void_p(-1).value):
            raise OSError(ctypes.get_errno(), 'mmap ' + path)
        # every data extent of the snapshot under a mapping: the fill's
        # work, as (address, file offset, pages), lowest address first
        self.filled = bytearray(size // PAGE)
        self.want = bytearray(size // PAGE)
        self.todo = []
        for start, end, off in sorted(self.vmas, key=lambda v: v[0] - v[1]):
            pos, stop = off, off + end - start
            while pos < stop:
                try:
                    d = os.lseek(fd, pos, os.SEEK_DATA)
                except OSError:
                    break
                if d >= stop:
                    break
                h = min(os.lseek(fd, d, os.SEEK_HOLE), stop)
                p0, p1 = d // PAGE, (h + PAGE - 1) // PAGE
                self.want[p0:p1] = b'\1' * (p1 - p0)
                self.todo.append((start + p0 * PAGE - off, p0 * PAGE, p1 - p0))
                pos = h
        os.close(fd)
        self.todo.reverse()     # pop() takes the first one
        self.total = self.want.count(1)
        self.left = self.total
        self.say('hello', pid=pid, nvmas=nvmas, physmem_size=size,
                 total=self.total, pager_pid=os.getpid())

    def find(self, addr):
        for start, end, off in self.vmas:
            if start <= addr < end:
                return start, end, off
        return None

    def mark(self, off, n):
        for p in range(off // PAGE, off // PAGE + n):
            if not self.filled[p]:
                self.filled[p] = 1
                self.left -= self.want[p]

    def put(self, dst, off, length):
        """UFFDIO_COPY; the bytes copied before a page that exists already."""
        done = 0
        while done < length:
            struct.pack_into('<QQQQq', self.copy, 0, dst + done,
                             self.src + off + done, length - done, 0, 0)
            try:
                fcntl.ioctl(self.uffd, UFFDIO_COPY, self.copy, True)
                return length
            except OSError as e:
                n = max(struct.unpack_from('<q', self.copy, 32)[0], 0)
                done += n
                if e.errno == 17:       # EEXIST: that page is there already
                    return done
                if e.errno != 11:       # EAGAIN: the mm changed, go on
                    raise
        return done

    def fill(self, dst, off, npages):
        """Fill npages from dst/off on, stepping over pages that exist."""
        pos = copied = 0
        while pos < npages:
            if self.filled[off // PAGE + pos]:
                pos += 1
                continue
            c = self.put(dst + pos * PAGE, off + pos * PAGE,
                         (npages - pos) * PAGE) // PAGE
            self.mark(off + pos * PAGE, c)
            copied += c
            pos += c
            if pos < npages:        # EEXIST at pos
                self.mark(off + pos * PAGE, 1)
                pos += 1
        return copied

    def serve(self):
        n = 0
        while True:
            try:
                raw = os.read(self.uffd, 32 * 16)
            except BlockingIOError:
                return n
            for i in range(0, len(raw), 32):
                ev, _, _, _, flags, addr, tid = struct.unpack_from('<BBHIQQI4x', raw, i)
                if ev != UFFD_EVENT_PAGEFAULT:
                    continue
                if tid != self.kpid:
                    # not the kernel process: its ubd io thread
                    self.helper_faults += 1
                    if self.args.die_on_helper_fault:
                        self.say('dying', cause='helper-fault', tid=tid,
                                 addr=hex(addr), left=self.left)
                        os._exit(3)
                self.fault(addr & ~(PAGE - 1))
                n += 1

    def fault(self, addr):
        if self.first_fault is None:
            self.first_fault = time.monotonic() - self.t0
            self.say('first_fault', addr=hex(addr))
        v = self.find(addr)
        if v is None:
            self.say('error', cause='fault-outside-the-mappings', addr=hex(addr))
            return
        start, end, off = v
        cl = self.args.cluster * 1024
        lo = max(start, addr & ~(cl - 1))
        hi = min(end, lo + cl)
        self.fault_pages += self.fill(lo, off + lo - start, (hi - lo) // PAGE)
        # the faulting page may have been there already: wake it anyway
        struct.pack_into('<QQ', self.rng, 0, addr, PAGE)
        fcntl.ioctl(self.uffd, UFFDIO_WAKE, bytes(self.rng))
        self.faults += 1
        if self.args.die_after and self.faults >= self.args.die_after:
            self.say('dying', faults=self.faults, left=self.left)
            os._exit(3)

    def send(self, typ, value):
        self.sock.send(MSG.pack(typ, 0, value))

    def run(self):
        self.hello()
        poll = select.poll()
        poll.register(self.uffd, select.POLLIN)
        poll.register(self.sock.fileno(), select.POLLIN)
        rate = self.args.rate * (1 << 20) / PAGE       # pages per second
        chunk = 16
        budget, last = 0.0, time.monotonic()
        next_report = 0.0
        done_sent = False
        while True:
            now = time.monotonic()
            budget = min(budget + (now - last) * rate, 4 * chunk + rate / 10)
            last = now
            wait = 50 if (self.args.hold and os.path.exists(self.args.hold)) else \
                0 if (self.todo and budget >= chunk) else \
                (int(1000 * (chunk - budget) / rate) + 1 if self.todo else 1000)
            for fd, ev in poll.poll(wait):
                if fd == self.uffd:
                    self.serve()
                elif ev & (select.POLLIN | select.POLLHUP | select.POLLERR):
                    if not self.sock.recv(64):
                        self.say('eof', done=int(done_sent), faults=self.faults,
                                 left=self.left)
                        return
            # --hold FILE: no background fill while FILE exists (the test's
            # checks during the fill must not race a fill that is done)
            held = self.args.hold and os.path.exists(self.args.hold)
            if held:
                budget = 0.0
            while self.todo and budget >= chunk:
                dst, off, n = self.todo.pop()
                if n > chunk:
                    self.todo.append((dst + chunk * PAGE, off + chunk * PAGE, n - chunk))
                    n = chunk
                self.bg_pages += self.fill(dst, off, n)
                budget -= n
                self.serve()
            if now >= next_report:
                next_report = now + 0.5
                self.say('progress', filled=self.total - self.left,
                         total=self.total, faults=self.faults,
                         fault_pages=self.fault_pages, bg_pages=self.bg_pages,
                         helper_faults=self.helper_faults)
                if not done_sent:
                    self.send(PROGRESS, self.total - self.left)
            if not self.todo and not done_sent:
                done_sent = True
                self.say('done', filled=self.total - self.left,
                         total=self.total, faults=self.faults,
                         fault_pages=self.fault_pages, bg_pages=self.bg_pages,
                         helper_faults=self.helper_faults, first_fault_ms=int(1000 * (self.first_fault or 0)))
                self.send(DONE, self.total - self.left)


def pager(args, sock):
    with open(args.log, 'a') as log:
        Pager(args, sock, log).run()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--capture', required=True)
    ap.add_argument('--log', required=True)
    ap.add_argument('--rate', type=float, default=64.0, help='MiB/s in the background')
    ap.add_argument('--cluster', type=int, default=64, help='KiB filled per fault')
    ap.add_argument('--die-after', type=int, default=0)
    ap.add_argument('--hold', default='',
                    help='no background fill while this file exists')
    ap.add_argument('--die-on-helper-fault', action='store_true',
                    help='exit, leaving it unserved, at the first fault of a '
                    'thread other than the kernel process (the ubd io thread '
                    'reading the disk into guest memory)')
    ap.add_argument('argv', nargs='+')
    args = ap.parse_args()
    launch(args)


if __name__ == '__main__':
    sys.exit(main())
