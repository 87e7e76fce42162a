/*
 * pipecheck [common options]
 *
 * A forked producer streams numbered records through a pipe to the
 * parent.  Each record carries its sequence number, a value derived from
 * it and the running FNV-1a checksum of all values so far; the consumer
 * recomputes both.  Writes come in bursts of varying size, sometimes
 * larger than the pipe buffer, so the producer also blocks in write(2).
 * Lost, duplicated, reordered or corrupted data, a dead producer or a
 * stalled pipe are reported.
 */
#include "check.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>

#define RECORD_MAGIC 0x5342554d4c504950ULL /* "SBUMLPIP" */
#define MAX_BURST 768                      /* records; 24 KiB > pipe buffer */
#define STALL_POLLS 50                     /* empty 100 ms polls = stalled */

struct record {
    uint64_t magic;
    uint64_t seq;
    uint64_t value;
    uint64_t checksum; /* over the values of records 1..seq */
};

static uint64_t record_value(uint64_t seq)
{
    return check_mix64(seq ^ RECORD_MAGIC);
}

static uint64_t checksum_step(uint64_t sum, uint64_t value)
{
    return check_fnv1a(sum, &value, sizeof(value));
}

/* Child: writes bursts until stopped or the parent goes away. */
static void producer(int fd, pid_t parent)
{
    static struct record burst[MAX_BURST];
    uint64_t seq = 0, sum = CHECK_FNV_BASIS, round = 0;

    while (!check_stop_requested && getppid() == parent) {
        round++;
        /* Mostly small bursts, every 16th one bigger than the pipe. */
        size_t n = (round % 16 == 0) ? MAX_BURST : 1 + check_mix64(round) % 64;
        for (size_t i = 0; i < n; i++) {
            seq++;
            burst[i].magic = RECORD_MAGIC;
            burst[i].seq = seq;
            burst[i].value = record_value(seq);
            sum = checksum_step(sum, burst[i].value);
            burst[i].checksum = sum;
        }
        const char *p = (const char *)burst;
        size_t left = n * sizeof(struct record);
        while (left > 0) {
            ssize_t w = write(fd, p, left);
            if (w < 0) {
                if (errno == EINTR && !check_stop_requested)
                    continue;
                _exit(errno == EINTR ? 0 : 2);
            }
            p += w;
            left -= (size_t)w;
        }
        check_sleep_ms(20);
    }
    _exit(0);
}

struct consumer {
    uint64_t expect_seq; /* next sequence number */
    uint64_t sum;
    uint64_t records;
    unsigned char buf[64 * 1024];
    size_t have; /* bytes buffered, less than one record after parsing */
};

static void check_record(struct consumer *c, const struct record *r)
{
    if (r->magic != RECORD_MAGIC || r->seq != c->expect_seq) {
        check_fail("record %llu: magic %016llx seq %llu (stream out of sync)",
                   (unsigned long long)c->expect_seq, (unsigned long long)r->magic,
                   (unsigned long long)r->seq);
        /* Resynchronise on the producer's numbering. */
        c->expect_seq = r->seq;
        c->sum = r->checksum;
        c->expect_seq++;
        return;
    }
    uint64_t want = record_value(r->seq);
    if (r->value != want)
        check_fail("record %llu: value %016llx want %016llx", (unsigned long long)r->seq,
                   (unsigned long long)r->value, (unsigned long long)want);
    c->sum = checksum_step(c->sum, r->value);
    if (r->checksum != c->sum) {
        check_fail("record %llu: checksum %016llx want %016llx", (unsigned long long)r->seq,
                   (unsigned long long)r->checksum, (unsigned long long)c->sum);
        c->sum = r->checksum;
    }
    c->expect_seq++;
    c->records++;
}

/* Reads what is available and checks every complete record.
 * Returns bytes read, 0 on EOF, -1 on EINTR. */
static ssize_t consume(struct consumer *c, int fd)
{
    ssize_t n = read(fd, c->buf + c->have, sizeof(c->buf) - c->have);

    if (n < 0) {
        if (errno == EINTR)
            return -1;
        check_die("read pipe: %s", strerror(errno));
    }
    c->have += (size_t)n;
    size_t off = 0;
    while (c->have - off >= sizeof(struct record)) {
        struct record r;
        memcpy(&r, c->buf + off, sizeof(r));
        check_record(c, &r);
        off += sizeof(r);
    }
    memmove(c->buf, c->buf + off, c->have - off);
    c->have -= off;
    return n;
}

static void reap_producer(pid_t pid, int *alive)
{
    int status;
    pid_t r = waitpid(pid, &status, WNOHANG);

    if (r < 0 && errno != EINTR)
        check_die("waitpid: %s", strerror(errno));
    if (r == pid) {
        *alive = 0;
        /* A stop signal sent to the whole process group reaches the
         * producer too; ours was already handled when waitpid returned. */
        if (!check_stop_requested)
            check_fail("producer exited (status %#x)", status);
    }
}

int main(int argc, char **argv)
{
    static struct consumer c = { .expect_seq = 1, .sum = CHECK_FNV_BASIS };
    int fds[2], alive = 1, empty_polls = 0;
    char extra[96];

    check_init("pipecheck", argc, argv);
    if (pipe(fds) != 0)
        check_die("pipe: %s", strerror(errno));
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0)
        check_die("fork: %s", strerror(errno));
    if (pid == 0) {
        close(fds[0]);
        producer(fds[1], parent);
    }
    close(fds[1]);
    check_line("start", "pid=%d producer=%d", (int)parent, (int)pid);

    double next_round = check_now() + 0.1;
    while (check_running() && alive) {
        struct pollfd pfd = { .fd = fds[0], .events = POLLIN };
        int pr = poll(&pfd, 1, 100);
        if (pr < 0 && errno != EINTR)
            check_die("poll: %s", strerror(errno));
        if (pr > 0) {
            ssize_t n = consume(&c, fds[0]);
            if (n == 0) {
                if (!check_stop_requested)
                    check_fail("producer closed the pipe after %llu records",
                               (unsigned long long)c.records);
                break;
            }
            if (n > 0)
                empty_polls = 0;
        } else if (pr == 0 && ++empty_polls == STALL_POLLS) {
            check_fail("no data for %d polls, last record %llu", STALL_POLLS,
                       (unsigned long long)c.records);
        }
        if (check_now() >= next_round) {
            next_round = check_now() + 0.1;
            reap_producer(pid, &alive);
            snprintf(extra, sizeof(extra), "records=%llu", (unsigned long long)c.records);
            check_round_done(extra);
        }
    }
    if (alive) {
        kill(pid, SIGTERM);
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
            ;
    }
    snprintf(extra, sizeof(extra), "records=%llu", (unsigned long long)c.records);
    return check_finish(extra);
}
