/*
 * filecheck [common options] [PATH]
 *
 * Appends one 64-byte record per round to PATH (default
 * ./filecheck.dat), fsyncs it, and keeps the expected size and an
 * FNV-1a hash of the whole file in memory.  After every write the file
 * is read back and must agree with memory.  Records are derived from
 * (generation, index), so a mismatch can be pinned to the first bad
 * record.  At 4096 records the file is truncated and a new generation
 * starts; every 50 rounds it is closed and reopened.  Across a
 * save/restore this catches disk contents and page cache that do not
 * match the memory of the process that wrote them.
 */
#include "check.h"

#include <fcntl.h>
#include <stddef.h>
#include <sys/stat.h>

#define RECORD_MAGIC 0x5342554d4c46494cULL /* "SBUMLFIL" */
#define MAX_RECORDS 4096
#define REOPEN_ROUNDS 50

struct record {
    uint64_t magic;
    uint64_t generation;
    uint64_t index;
    uint64_t data[4];
    uint64_t check; /* FNV-1a of the fields above */
};

struct file_state {
    const char *path;
    int fd;
    uint64_t generation;
    uint64_t records; /* records written (and expected in the file) */
    uint64_t hash;    /* FNV-1a of the expected file contents */
};

static struct record make_record(uint64_t generation, uint64_t index)
{
    struct record r = { RECORD_MAGIC, generation, index, { 0 }, 0 };

    for (int i = 0; i < 4; i++)
        r.data[i] = check_mix64(generation * 1000003ULL + index * 4 + (uint64_t)i);
    r.check = check_fnv1a(CHECK_FNV_BASIS, &r, offsetof(struct record, check));
    return r;
}

static void open_file(struct file_state *f, int flags)
{
    do {
        f->fd = open(f->path, O_RDWR | O_CREAT | flags, 0644);
    } while (f->fd < 0 && errno == EINTR);
    if (f->fd < 0)
        check_die("open %s: %s", f->path, strerror(errno));
}

static void sync_file(struct file_state *f)
{
    while (fsync(f->fd) != 0) {
        if (errno != EINTR)
            check_die("fsync %s: %s", f->path, strerror(errno));
    }
}

/* Empties the file and starts a new generation of records. */
static void restart_file(struct file_state *f)
{
    while (ftruncate(f->fd, 0) != 0) {
        if (errno != EINTR)
            check_die("ftruncate %s: %s", f->path, strerror(errno));
    }
    sync_file(f);
    f->generation++;
    f->records = 0;
    f->hash = CHECK_FNV_BASIS;
}

static void append_record(struct file_state *f)
{
    struct record r = make_record(f->generation, f->records);
    off_t off = (off_t)(f->records * sizeof(r));
    ssize_t n;

    do {
        n = pwrite(f->fd, &r, sizeof(r), off);
    } while (n < 0 && errno == EINTR);
    if (n != (ssize_t)sizeof(r))
        check_die("pwrite %s: %s", f->path, n < 0 ? strerror(errno) : "short write");
    sync_file(f);
    f->records++;
    f->hash = check_fnv1a(f->hash, &r, sizeof(r));
}

/* Finds and reports the first record that differs from the expected. */
static void locate_bad_record(struct file_state *f)
{
    for (uint64_t i = 0; i < f->records; i++) {
        struct record want = make_record(f->generation, i), got;
        ssize_t n = pread(f->fd, &got, sizeof(got), (off_t)(i * sizeof(got)));
        if (n != (ssize_t)sizeof(got)) {
            check_fail("record %llu of generation %llu missing (read %zd)",
                       (unsigned long long)i, (unsigned long long)f->generation, n);
            return;
        }
        if (memcmp(&want, &got, sizeof(got)) != 0) {
            check_fail("record %llu differs: generation %llu index %llu, want generation %llu",
                       (unsigned long long)i, (unsigned long long)got.generation,
                       (unsigned long long)got.index, (unsigned long long)f->generation);
            return;
        }
    }
}

/* Reads the file back; returns 0 when size and hash match memory. */
static int verify_file(struct file_state *f)
{
    static unsigned char buf[64 * 1024];
    struct stat st;
    uint64_t hash = CHECK_FNV_BASIS, want_size = f->records * sizeof(struct record);
    off_t off = 0;

    if (fstat(f->fd, &st) != 0)
        check_die("fstat %s: %s", f->path, strerror(errno));
    if ((uint64_t)st.st_size != want_size) {
        check_fail("%s is %lld bytes, memory says %llu", f->path, (long long)st.st_size,
                   (unsigned long long)want_size);
        return -1;
    }
    while ((uint64_t)off < want_size) {
        ssize_t n = pread(f->fd, buf, sizeof(buf), off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            check_die("pread %s: %s", f->path, n < 0 ? strerror(errno) : "unexpected EOF");
        hash = check_fnv1a(hash, buf, (size_t)n);
        off += n;
    }
    if (hash != f->hash) {
        check_fail("%s hash %016llx, memory says %016llx", f->path, (unsigned long long)hash,
                   (unsigned long long)f->hash);
        locate_bad_record(f);
        return -1;
    }
    return 0;
}

static void reopen_file(struct file_state *f)
{
    if (close(f->fd) != 0)
        check_fail("close %s: %s", f->path, strerror(errno));
    open_file(f, 0);
}

int main(int argc, char **argv)
{
    int i = check_init("filecheck", argc, argv);
    struct file_state f = { .path = i < argc ? argv[i] : "filecheck.dat" };
    char extra[96];

    open_file(&f, O_TRUNC);
    restart_file(&f);
    check_line("start", "pid=%d path=%s", (int)getpid(), f.path);
    while (check_running()) {
        if (f.records >= MAX_RECORDS)
            restart_file(&f);
        append_record(&f);
        if (verify_file(&f) != 0)
            restart_file(&f); /* start over from a known state */
        if (check.iteration % REOPEN_ROUNDS == REOPEN_ROUNDS - 1)
            reopen_file(&f);
        snprintf(extra, sizeof(extra), "generation=%llu records=%llu",
                 (unsigned long long)f.generation, (unsigned long long)f.records);
        check_round_done(extra);
        check_sleep_ms(100);
    }
    if (verify_file(&f) == 0)
        sync_file(&f);
    snprintf(extra, sizeof(extra), "generation=%llu records=%llu",
             (unsigned long long)f.generation, (unsigned long long)f.records);
    return check_finish(extra);
}
