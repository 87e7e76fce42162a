/*
 * uringcheck [common options] [FILE]
 *
 * Sets up one io_uring (raw syscalls, no liburing) at the start and
 * keeps using it: every round submits a batch of a NOP, a WRITE of a
 * block of round-specific data to FILE (default uringcheck.dat in the
 * current directory) and then, linked after it, a READ of the same
 * block, and waits for the three completions.  Each completion must
 * carry its own user_data and result, and the data read must be the
 * data written.  A ring that stops completing (after a restore, say)
 * shows as "no completion" failures; the ring's head/tail counters
 * must keep moving in step.
 */
#include "check.h"

#include <fcntl.h>
#include <linux/io_uring.h>
#include <poll.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#define RING_ENTRIES 8
#define BLOCK 4096
#define SLOTS 16 /* blocks of the file used in turn */
#define WAIT_MS 5000

struct ring {
    int fd;
    unsigned sq_entries, cq_entries;
    _Atomic unsigned *sq_head, *sq_tail, *cq_head, *cq_tail;
    unsigned *sq_mask, *cq_mask, *sq_array;
    struct io_uring_sqe *sqes;
    struct io_uring_cqe *cqes;
};

enum { OP_NOP = 1, OP_WRITE, OP_READ };

static void *map_ring(int fd, size_t len, off_t off)
{
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, off);

    if (p == MAP_FAILED)
        check_die("mmap io_uring offset %#llx: %s", (unsigned long long)off, strerror(errno));
    return p;
}

static void ring_setup(struct ring *r)
{
    struct io_uring_params p;

    memset(&p, 0, sizeof(p));
    r->fd = (int)syscall(__NR_io_uring_setup, RING_ENTRIES, &p);
    if (r->fd < 0)
        check_die("io_uring_setup: %s", strerror(errno));
    size_t sq_len = p.sq_off.array + p.sq_entries * sizeof(unsigned);
    size_t cq_len = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
    char *sq = map_ring(r->fd, sq_len, IORING_OFF_SQ_RING);
    char *cq = map_ring(r->fd, cq_len, IORING_OFF_CQ_RING);
    r->sqes = map_ring(r->fd, p.sq_entries * sizeof(struct io_uring_sqe), IORING_OFF_SQES);
    r->sq_entries = p.sq_entries;
    r->cq_entries = p.cq_entries;
    r->sq_head = (_Atomic unsigned *)(sq + p.sq_off.head);
    r->sq_tail = (_Atomic unsigned *)(sq + p.sq_off.tail);
    r->sq_mask = (unsigned *)(sq + p.sq_off.ring_mask);
    r->sq_array = (unsigned *)(sq + p.sq_off.array);
    r->cq_head = (_Atomic unsigned *)(cq + p.cq_off.head);
    r->cq_tail = (_Atomic unsigned *)(cq + p.cq_off.tail);
    r->cq_mask = (unsigned *)(cq + p.cq_off.ring_mask);
    r->cqes = (struct io_uring_cqe *)(cq + p.cq_off.cqes);
}

static void queue_sqe(struct ring *r, uint8_t op, int fd, void *buf, unsigned len, uint64_t off,
                      uint64_t user_data, uint8_t flags)
{
    unsigned tail = atomic_load_explicit(r->sq_tail, memory_order_relaxed);
    unsigned idx = tail & *r->sq_mask;
    struct io_uring_sqe *sqe = &r->sqes[idx];

    memset(sqe, 0, sizeof(*sqe));
    sqe->opcode = op;
    sqe->fd = fd;
    sqe->flags = flags;
    sqe->addr = (uint64_t)(uintptr_t)buf;
    sqe->len = len;
    sqe->off = off;
    sqe->user_data = user_data;
    r->sq_array[idx] = idx;
    atomic_store_explicit(r->sq_tail, tail + 1, memory_order_release);
}

/* Submits what is queued and waits for `want` completions. */
static int ring_enter(struct ring *r, unsigned submit, unsigned want)
{
    long n = syscall(__NR_io_uring_enter, r->fd, submit, want, IORING_ENTER_GETEVENTS, NULL, 0);

    if (n < 0)
        return -errno;
    if ((unsigned)n != submit)
        check_fail("io_uring_enter submitted %ld of %u", n, submit);
    return 0;
}

/* Takes the next completion, if any; 1 when one was copied. */
static int reap_one(struct ring *r, struct io_uring_cqe *out)
{
    unsigned head = atomic_load_explicit(r->cq_head, memory_order_relaxed);

    if (head == atomic_load_explicit(r->cq_tail, memory_order_acquire))
        return 0;
    *out = r->cqes[head & *r->cq_mask];
    atomic_store_explicit(r->cq_head, head + 1, memory_order_release);
    return 1;
}

static void check_cqe(const struct io_uring_cqe *c, uint64_t round)
{
    uint64_t op = c->user_data & 0xff, from = c->user_data >> 8;
    int want = op == OP_NOP ? 0 : BLOCK;

    if (from != round)
        check_fail("completion for round %llu in round %llu", (unsigned long long)from,
                   (unsigned long long)round);
    else if (c->res != want)
        check_fail("round %llu op %llu: res %d (%s), want %d", (unsigned long long)round,
                   (unsigned long long)op, c->res, c->res < 0 ? strerror(-c->res) : "short",
                   want);
}

/* Collects the round's three completions, waiting for stragglers. */
static int collect(struct ring *r, uint64_t round)
{
    struct io_uring_cqe c;
    int got = 0;
    double give_up = check_now() + WAIT_MS / 1000.0;

    while (got < 3) {
        if (reap_one(r, &c)) {
            check_cqe(&c, round);
            got++;
            continue;
        }
        if (check_now() > give_up) {
            check_fail("round %llu: %d of 3 completions after %d ms", (unsigned long long)round,
                       got, WAIT_MS);
            return -1;
        }
        int e = ring_enter(r, 0, 1);
        if (e < 0 && e != -EINTR)
            check_fail("io_uring_enter wait: %s", strerror(-e));
    }
    return 0;
}

static void fill(unsigned char *buf, uint64_t round)
{
    for (size_t i = 0; i < BLOCK; i += 8) {
        uint64_t v = check_mix64(round * BLOCK + i);
        memcpy(buf + i, &v, 8);
    }
}

static int one_round(struct ring *r, int fd, uint64_t round)
{
    static unsigned char wbuf[BLOCK], rbuf[BLOCK];
    uint64_t off = (round % SLOTS) * BLOCK;

    fill(wbuf, round);
    memset(rbuf, 0, sizeof(rbuf));
    queue_sqe(r, IORING_OP_NOP, -1, NULL, 0, 0, round << 8 | OP_NOP, 0);
    queue_sqe(r, IORING_OP_WRITE, fd, wbuf, BLOCK, off, round << 8 | OP_WRITE, IOSQE_IO_LINK);
    queue_sqe(r, IORING_OP_READ, fd, rbuf, BLOCK, off, round << 8 | OP_READ, 0);
    int e = ring_enter(r, 3, 3);
    if (e < 0 && e != -EINTR) {
        check_fail("io_uring_enter submit: %s", strerror(-e));
        return -1;
    }
    if (collect(r, round) != 0)
        return -1;
    unsigned submitted = atomic_load(r->sq_head), completed = atomic_load(r->cq_tail);
    if (submitted != completed)
        check_fail("ring consumed %u submissions but posted %u completions", submitted, completed);
    if (memcmp(wbuf, rbuf, BLOCK) != 0)
        check_fail("round %llu: block read back differs from the block written",
                   (unsigned long long)round);
    return 0;
}

int main(int argc, char **argv)
{
    static struct ring r;
    int i = check_init("uringcheck", argc, argv);
    const char *path = i < argc ? argv[i] : "uringcheck.dat";
    char extra[96];

    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        check_die("open %s: %s", path, strerror(errno));
    ring_setup(&r);
    check_line("start", "pid=%d ring_fd=%d sq=%u cq=%u file=%s", (int)getpid(), r.fd,
               r.sq_entries, r.cq_entries, path);
    uint64_t rounds = 0;
    while (check_running()) {
        if (one_round(&r, fd, check.iteration + 1) == 0)
            rounds++;
        snprintf(extra, sizeof(extra), "rounds=%llu sq_head=%u cq_tail=%u",
                 (unsigned long long)rounds, atomic_load(r.sq_head), atomic_load(r.cq_tail));
        check_round_done(extra);
        check_sleep_ms(100);
    }
    snprintf(extra, sizeof(extra), "rounds=%llu", (unsigned long long)rounds);
    return check_finish(extra);
}
