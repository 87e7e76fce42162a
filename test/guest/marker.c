/*
 * marker [common options] TEXT
 *
 * Keeps the string "SBUML-MARKER-<TEXT>" in a page of its own and
 * re-checks it every ~100 ms, so a test can write a value it chose into
 * the guest's memory and later look for it (in a saved memory image, or
 * by the CHECK lines after a restore).  Prints
 *   CHECK marker info marker=SBUML-MARKER-<TEXT>
 * at start.  TEXT is limited to 200 characters.
 */
#include "check.h"

#include <sys/mman.h>

#define PAGE_BYTES 4096

int main(int argc, char **argv)
{
    int i = check_init("marker", argc, argv);
    char want[256], extra[280];

    if (i >= argc || strlen(argv[i]) > 200)
        check_die("usage: marker [-r S] [-t S] [-q] TEXT (at most 200 characters)");
    snprintf(want, sizeof(want), "SBUML-MARKER-%s", argv[i]);
    char *page = mmap(NULL, PAGE_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (page == MAP_FAILED)
        check_die("mmap: %s", strerror(errno));
    memcpy(page, want, strlen(want) + 1);
    check_line("start", "pid=%d", (int)getpid());
    check_line("info", "marker=%s", want);
    snprintf(extra, sizeof(extra), "marker=%s", want);
    while (check_running()) {
        if (strcmp(page, want) != 0) {
            check_fail("marker page changed");
            memcpy(page, want, strlen(want) + 1);
        }
        check_round_done(extra);
        check_sleep_ms(100);
    }
    return check_finish(extra);
}
