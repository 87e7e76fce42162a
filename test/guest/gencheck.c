/*
 * gencheck [common options] write PATH MIB
 * gencheck [common options] check PATH
 * gencheck wait-int
 *
 * write: keeps rewriting a file of MIB MiB with write(2), one 4 KiB block
 * at a time, so the guest kernel keeps writing the file's page cache (a
 * tmpfs file: guest memory written by the kernel, not by the process's
 * own stores).  Round g first writes block 0, the header, with g, then
 * blocks 1..N-1 in order, each filled with a pattern of (g, block).  At
 * any instant the file is therefore: header g, blocks 1..k of generation
 * g, blocks k+1..N-1 of generation g-1 (all of generation g-1 right
 * after the header was written).
 *
 * check: reads the file once and checks exactly that shape: every block
 * whole (its pattern matches its generation and number), of the header's
 * generation or the one before, and the newer ones a prefix.  A memory
 * image of the machine taken while the writer ran that mixes page
 * contents from different instants (a page saved after a later write, a
 * torn page) breaks it.  Exit status 0 when the shape holds, 1 if not.
 *
 * wait-int: returns once it gets a SIGINT, e.g. the kernel's ctrl-alt-del
 * (mconsole cad) with kernel.ctrl-alt-del=0 and kernel.cad_pid set to it:
 * how a test on the host tells a restored clone to check its file.  (A
 * shell script started in the background cannot trap SIGINT: it was
 * ignored at its start.)
 *
 * Output: "CHECK gencheck start ...", "ok" lines of the writer (round
 * count), "CHECK gencheck info checked gen=G newer=K blocks=N" and FAIL
 * lines of the checker.
 */
#include "check.h"

#define BLOCK 4096u
#define WORDS (BLOCK / sizeof(uint64_t))
#define MAGIC 0x53424d4c47454e43ULL /* "SBMLGENC" */

static uint64_t block_word(uint64_t gen, uint64_t blk, size_t i)
{
    return check_mix64(MAGIC ^ (gen << 32) ^ (blk << 12) ^ i);
}

static void fill(uint64_t *w, uint64_t gen, uint64_t blk)
{
    w[0] = MAGIC;
    w[1] = gen;
    w[2] = blk;
    for (size_t i = 3; i < WORDS; i++)
        w[i] = block_word(gen, blk, i);
}

/* 0: whole and consistent (gen in *gen), -1: not */
static int parse(const uint64_t *w, uint64_t blk, uint64_t *gen)
{
    if (w[0] != MAGIC || w[2] != blk)
        return -1;
    for (size_t i = 3; i < WORDS; i++)
        if (w[i] != block_word(w[1], blk, i))
            return -1;
    *gen = w[1];
    return 0;
}

static void put(int fd, const uint64_t *w, uint64_t blk)
{
    ssize_t n = pwrite(fd, w, BLOCK, (off_t)(blk * BLOCK));

    if (n != (ssize_t)BLOCK)
        check_die("pwrite block %llu: %s", (unsigned long long)blk,
                  n < 0 ? strerror(errno) : "short write");
}

static int do_write(const char *path, unsigned long long mib)
{
    uint64_t blocks = mib * 1024 * 1024 / BLOCK, w[WORDS];
    char extra[64];
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);

    if (fd < 0)
        check_die("open %s: %s", path, strerror(errno));
    /* generation 1 everywhere, so that the shape holds from the start */
    for (uint64_t b = 0; b < blocks; b++) {
        fill(w, 1, b);
        put(fd, w, b);
    }
    check_line("start", "pid=%d path=%s mib=%llu blocks=%llu", (int)getpid(), path, mib,
               (unsigned long long)blocks);
    for (uint64_t g = 2; check_running(); g++) {
        for (uint64_t b = 0; b < blocks; b++) {
            fill(w, g, b);
            put(fd, w, b);
        }
        snprintf(extra, sizeof(extra), "gen=%llu", (unsigned long long)g);
        check_round_done(extra);
    }
    close(fd);
    return check_finish("");
}

static int do_check(const char *path)
{
    uint64_t w[WORDS], head, gen, blocks, newer = 0;
    int fd = open(path, O_RDONLY);
    off_t size;

    if (fd < 0)
        check_die("open %s: %s", path, strerror(errno));
    size = lseek(fd, 0, SEEK_END);
    if (size <= 0 || size % BLOCK)
        check_die("%s: size %lld is not a positive number of blocks", path, (long long)size);
    blocks = (uint64_t)size / BLOCK;
    if (pread(fd, w, BLOCK, 0) != (ssize_t)BLOCK || parse(w, 0, &head))
        check_die("%s: header block is not whole", path);
    for (uint64_t b = 1; b < blocks; b++) {
        if (pread(fd, w, BLOCK, (off_t)(b * BLOCK)) != (ssize_t)BLOCK)
            check_die("pread block %llu: %s", (unsigned long long)b, strerror(errno));
        if (parse(w, b, &gen)) {
            check_fail("block %llu is torn or foreign (gen word %llu, header %llu)",
                       (unsigned long long)b, (unsigned long long)w[1],
                       (unsigned long long)head);
        } else if (gen == head) {
            if (newer != b - 1)
                check_fail("block %llu has the header's gen %llu after an older block",
                           (unsigned long long)b, (unsigned long long)gen);
            newer = b;
        } else if (gen + 1 != head) {
            check_fail("block %llu has gen %llu, header %llu", (unsigned long long)b,
                       (unsigned long long)gen, (unsigned long long)head);
        }
    }
    close(fd);
    check_line("info", "checked gen=%llu newer=%llu blocks=%llu", (unsigned long long)head,
               (unsigned long long)newer, (unsigned long long)blocks);
    check_round_done("");
    return check_finish("");
}

static volatile sig_atomic_t got_int;

static void on_int(int sig)
{
    (void)sig;
    got_int = 1;
}

static int do_wait_int(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_int;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGINT, &sa, NULL) != 0)
        check_die("sigaction: %s", strerror(errno));
    while (!got_int)
        pause();
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "wait-int") == 0)
        return do_wait_int();

    int i = check_init("gencheck", argc, argv);

    if (i + 3 == argc && strcmp(argv[i], "write") == 0) {
        unsigned long long mib = strtoull(argv[i + 2], NULL, 10);

        if (mib == 0 || mib > 4096)
            check_die("MiB must be 1..4096");
        return do_write(argv[i + 1], mib);
    }
    if (i + 2 == argc && strcmp(argv[i], "check") == 0)
        return do_check(argv[i + 1]);
    check_die("usage: gencheck [options] write PATH MIB | check PATH | wait-int");
}
