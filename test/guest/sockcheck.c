/*
 * sockcheck [common options]
 *
 * Ping-pong between this process and a forked echo server over two
 * channels: a unix stream socket pair and a TCP connection on
 * 127.0.0.1 (loopback must be up).  Every round each channel carries
 * one message with a sequence number and a payload of varying length
 * derived from it; the server checks the message and echoes it back,
 * and the client checks the echo.  Lost, corrupted or out-of-order
 * data, a dead server or a stalled channel (50 empty 100 ms waits) are
 * reported.
 */
#include "check.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>

#define MSG_MAGIC 0x5342554d4c534f4bULL /* "SBUMLSOK" */
#define MAX_PAYLOAD 2048
#define STALL_WAITS 50

enum { CH_UNIX, CH_TCP, CH_COUNT };
static const char *const channel_name[CH_COUNT] = { "unix", "tcp" };

struct msg {
    uint64_t magic;
    uint64_t seq;
    uint32_t channel;
    uint32_t len; /* payload bytes that follow */
    unsigned char payload[MAX_PAYLOAD];
};

#define MSG_HEADER (offsetof(struct msg, payload))

static void fill_msg(struct msg *m, uint32_t channel, uint64_t seq)
{
    m->magic = MSG_MAGIC;
    m->seq = seq;
    m->channel = channel;
    m->len = (uint32_t)(check_mix64(seq * 2 + channel) % (MAX_PAYLOAD + 1));
    for (uint32_t i = 0; i < m->len; i++)
        m->payload[i] = (unsigned char)(check_mix64(seq ^ ((uint64_t)i << 32) ^ channel) >> 24);
}

/* Returns NULL if `got` is the message for (channel, seq), else why not. */
static const char *msg_mismatch(const struct msg *got, uint32_t channel, uint64_t seq)
{
    static struct msg want;

    fill_msg(&want, channel, seq);
    if (got->magic != MSG_MAGIC)
        return "bad magic";
    if (got->seq != seq)
        return "wrong sequence number";
    if (got->channel != channel || got->len != want.len)
        return "wrong header";
    if (memcmp(got->payload, want.payload, want.len) != 0)
        return "payload corrupted";
    return NULL;
}

static int write_full(int fd, const void *buf, size_t len)
{
    const char *p = buf;

    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR && !check_stop_requested)
                continue;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/*
 * Reads exactly len bytes.  The socket has a 100 ms receive timeout;
 * timeouts are counted (not wall time, which may jump across a save)
 * and reported once as a stall.  Returns -1 on EOF, error or stop.
 */
static int read_full(int fd, void *buf, size_t len, const char *what)
{
    char *p = buf;
    int waits = 0;

    while (len > 0) {
        ssize_t n = read(fd, p, len);
        if (n == 0)
            return -1;
        if (n < 0) {
            if (check_stop_requested)
                return -1;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                if (++waits == STALL_WAITS)
                    check_fail("%s: no data for %d waits", what, STALL_WAITS);
                continue;
            }
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int read_msg(int fd, struct msg *m, const char *what)
{
    if (read_full(fd, m, MSG_HEADER, what) != 0)
        return -1;
    if (m->len > MAX_PAYLOAD) {
        check_fail("%s: payload length %u out of range", what, m->len);
        return -1;
    }
    return read_full(fd, m->payload, m->len, what);
}

static void set_timeouts(int fd)
{
    struct timeval tv = { 0, 100 * 1000 };

    if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0)
        check_die("SO_RCVTIMEO: %s", strerror(errno));
}

/* Server side: checks and echoes one message from fd. */
static int serve_one(int fd, uint32_t channel, uint64_t *expect)
{
    static struct msg m;

    if (read_msg(fd, &m, channel_name[channel]) != 0)
        return -1;
    const char *why = msg_mismatch(&m, channel, *expect);
    if (why)
        check_fail("server %s seq %llu: %s", channel_name[channel],
                   (unsigned long long)*expect, why);
    *expect = m.seq + 1;
    return write_full(fd, &m, MSG_HEADER + m.len);
}

static int accept_one(int listen_fd)
{
    int fd;

    do {
        fd = accept(listen_fd, NULL, NULL);
    } while (fd < 0 && errno == EINTR && !check_stop_requested);
    if (fd < 0)
        _exit(check_stop_requested ? 0 : 3);
    int one = 1;
    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0)
        check_fail("TCP_NODELAY: %s", strerror(errno));
    return fd;
}

/* Child: echo server for both channels.  Exit status 1 = it saw failures. */
static void server(int unix_fd, int listen_fd)
{
    int fds[CH_COUNT] = { unix_fd, accept_one(listen_fd) };
    uint64_t expect[CH_COUNT] = { 1, 1 };

    close(listen_fd);
    while (!check_stop_requested) {
        struct pollfd pfd[CH_COUNT] = { { fds[0], POLLIN, 0 }, { fds[1], POLLIN, 0 } };
        int pr = poll(pfd, CH_COUNT, 1000);
        if (pr < 0 && errno != EINTR)
            _exit(3);
        for (uint32_t ch = 0; pr > 0 && ch < CH_COUNT; ch++) {
            if (pfd[ch].revents && serve_one(fds[ch], ch, &expect[ch]) != 0)
                _exit(check.failures ? 1 : 0); /* client went away */
        }
    }
    _exit(check.failures ? 1 : 0);
}

static int tcp_listener(struct sockaddr_in *addr)
{
    socklen_t len = sizeof(*addr);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    if (fd < 0)
        check_die("socket: %s", strerror(errno));
    memset(addr, 0, sizeof(*addr));
    addr->sin_family = AF_INET;
    addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)addr, sizeof(*addr)) != 0)
        check_die("bind 127.0.0.1: %s (is lo up?)", strerror(errno));
    if (listen(fd, 1) != 0 || getsockname(fd, (struct sockaddr *)addr, &len) != 0)
        check_die("listen: %s", strerror(errno));
    return fd;
}

static int tcp_connect(const struct sockaddr_in *addr)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

    if (fd < 0)
        check_die("socket: %s", strerror(errno));
    while (connect(fd, (const struct sockaddr *)addr, sizeof(*addr)) != 0) {
        if (errno != EINTR)
            check_die("connect 127.0.0.1:%u: %s", ntohs(addr->sin_port), strerror(errno));
    }
    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0)
        check_die("TCP_NODELAY: %s", strerror(errno));
    return fd;
}

/* One ping-pong on a channel.  Returns -1 if the channel is gone. */
static int ping(int fd, uint32_t channel, uint64_t seq)
{
    static struct msg m;

    fill_msg(&m, channel, seq);
    if (write_full(fd, &m, MSG_HEADER + m.len) != 0)
        return -1;
    if (read_msg(fd, &m, channel_name[channel]) != 0)
        return -1;
    const char *why = msg_mismatch(&m, channel, seq);
    if (why)
        check_fail("%s echo seq %llu: %s", channel_name[channel], (unsigned long long)seq, why);
    return 0;
}

static void stop_server(pid_t pid)
{
    int status = 0;

    kill(pid, SIGTERM);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 1)
        check_fail("server reported failures");
}

int main(int argc, char **argv)
{
    int pair[2];
    struct sockaddr_in addr;
    uint64_t seq = 0;
    char extra[64];

    check_init("sockcheck", argc, argv);
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, pair) != 0)
        check_die("socketpair: %s", strerror(errno));
    int listen_fd = tcp_listener(&addr);
    pid_t pid = fork();
    if (pid < 0)
        check_die("fork: %s", strerror(errno));
    if (pid == 0) {
        close(pair[0]);
        server(pair[1], listen_fd);
    }
    close(pair[1]);
    close(listen_fd);
    int fds[CH_COUNT] = { pair[0], tcp_connect(&addr) };
    set_timeouts(fds[CH_UNIX]);
    set_timeouts(fds[CH_TCP]);
    check_line("start", "pid=%d server=%d tcp_port=%u", (int)getpid(), (int)pid,
               ntohs(addr.sin_port));

    while (check_running()) {
        seq++;
        for (uint32_t ch = 0; ch < CH_COUNT; ch++) {
            if (ping(fds[ch], ch, seq) != 0 && !check_stop_requested) {
                check_fail("%s channel closed at seq %llu", channel_name[ch],
                           (unsigned long long)seq);
                goto out;
            }
        }
        snprintf(extra, sizeof(extra), "pings=%llu", (unsigned long long)seq);
        check_round_done(extra);
        check_sleep_ms(100);
    }
out:
    stop_server(pid);
    snprintf(extra, sizeof(extra), "pings=%llu", (unsigned long long)seq);
    return check_finish(extra);
}
