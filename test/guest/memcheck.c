/*
 * memcheck [common options] [MIB [SEED]]
 *
 * Fills MIB MiB (default 16) of anonymous memory with a pseudo-random
 * pattern derived from SEED and re-verifies all of it every ~100 ms.
 * Each round also rewrites a slice of pages with a new generation of the
 * pattern, so memory keeps changing: a restore that loses recently
 * dirtied pages, or brings back stale ones, shows up as a mismatch.
 *
 * It also keeps the string "SBUML-MARKER-<SEED>" in its own page and
 * prints it, so a test on the host can look for it in a saved memory
 * image.  Output: "CHECK memcheck info marker=SBUML-MARKER-<SEED>".
 */
#include "check.h"

#include <sys/mman.h>

#define PAGE_BYTES 4096u
#define WORDS_PER_PAGE (PAGE_BYTES / sizeof(uint64_t))
#define PAGES_PER_ROUND 64u /* 256 KiB rewritten per round */
#define MARKER_COPIES 4     /* spread over the marker page */

struct region {
    uint64_t *words;
    uint32_t *gen; /* pattern generation of each page */
    size_t pages;
    uint64_t seed;
    size_t cursor; /* next page to rewrite */
};

static uint64_t pattern(const struct region *r, size_t page, size_t word)
{
    uint64_t index = (uint64_t)page * WORDS_PER_PAGE + word;

    return check_mix64(r->seed ^ check_mix64(index ^ ((uint64_t)r->gen[page] << 40)));
}

static void fill_page(struct region *r, size_t page)
{
    uint64_t *w = r->words + page * WORDS_PER_PAGE;

    for (size_t i = 0; i < WORDS_PER_PAGE; i++)
        w[i] = pattern(r, page, i);
}

/* Returns the number of bad words in the page and reports the first. */
static size_t verify_page(struct region *r, size_t page)
{
    const uint64_t *w = r->words + page * WORDS_PER_PAGE;
    size_t bad = 0, first = 0;
    uint64_t want_first = 0, got_first = 0;

    for (size_t i = 0; i < WORDS_PER_PAGE; i++) {
        uint64_t want = pattern(r, page, i);
        if (w[i] != want) {
            if (bad++ == 0) {
                first = i;
                want_first = want;
                got_first = w[i];
            }
        }
    }
    if (bad > 0)
        check_fail("page %zu gen %u: %zu bad words, first at byte %zu want %016llx got %016llx",
                   page, r->gen[page], bad, first * sizeof(uint64_t),
                   (unsigned long long)want_first, (unsigned long long)got_first);
    return bad;
}

static void *map_or_die(size_t bytes)
{
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

    if (p == MAP_FAILED)
        check_die("mmap %zu bytes: %s", bytes, strerror(errno));
    return p;
}

static void setup_marker(char *page, const char *marker)
{
    memset(page, 0, PAGE_BYTES);
    for (size_t i = 0; i < MARKER_COPIES; i++)
        memcpy(page + i * (PAGE_BYTES / MARKER_COPIES), marker, strlen(marker) + 1);
}

static void verify_marker(char *page, const char *marker)
{
    for (size_t i = 0; i < MARKER_COPIES; i++) {
        char *copy = page + i * (PAGE_BYTES / MARKER_COPIES);
        if (strcmp(copy, marker) != 0) {
            check_fail("marker copy %zu corrupted", i);
            memcpy(copy, marker, strlen(marker) + 1);
        }
    }
}

/* Verifies everything, repairing bad pages so one fault is reported once. */
static size_t verify_all(struct region *r)
{
    size_t bad_pages = 0;

    for (size_t p = 0; p < r->pages; p++) {
        if (verify_page(r, p) > 0) {
            bad_pages++;
            fill_page(r, p);
        }
    }
    return bad_pages;
}

/* Moves a slice of pages to their next pattern generation. */
static void rewrite_slice(struct region *r)
{
    for (size_t n = 0; n < PAGES_PER_ROUND && n < r->pages; n++) {
        r->gen[r->cursor]++;
        fill_page(r, r->cursor);
        r->cursor = (r->cursor + 1) % r->pages;
    }
}

int main(int argc, char **argv)
{
    int i = check_init("memcheck", argc, argv);
    unsigned long long mib = i < argc ? check_parse_u64("MiB", argv[i]) : 16;
    struct region r = { 0 };
    char marker[64];
    char extra[128];

    if (mib == 0 || mib > 4096)
        check_die("MiB must be 1..4096, got %llu", mib);
    r.seed = i + 1 < argc ? check_parse_u64("seed", argv[i + 1])
                          : (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 16);
    r.pages = (size_t)(mib * 1024 * 1024 / PAGE_BYTES);
    r.words = map_or_die(r.pages * PAGE_BYTES);
    r.gen = map_or_die(r.pages * sizeof(uint32_t));
    char *marker_page = map_or_die(PAGE_BYTES);

    snprintf(marker, sizeof(marker), "SBUML-MARKER-%llu", (unsigned long long)r.seed);
    setup_marker(marker_page, marker);
    for (size_t p = 0; p < r.pages; p++)
        fill_page(&r, p);
    check_line("start", "pid=%d mib=%llu seed=%llu", (int)getpid(), mib,
               (unsigned long long)r.seed);
    check_line("info", "marker=%s", marker);

    while (check_running()) {
        size_t bad = verify_all(&r);
        verify_marker(marker_page, marker);
        rewrite_slice(&r);
        snprintf(extra, sizeof(extra), "mib=%llu bad_pages=%zu", mib, bad);
        check_round_done(extra);
        check_sleep_ms(100);
    }
    snprintf(extra, sizeof(extra), "mib=%llu marker=%s", mib, marker);
    return check_finish(extra);
}
