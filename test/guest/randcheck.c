/*
 * randcheck [common options]
 *
 * Prints a fresh 128-bit value from the guest's CRNG (getrandom) every two
 * seconds as "CHECK randcheck info rand=<hex> iteration=<n>".  Clones
 * restored from one snapshot must print different values: a clone that
 * shares its CRNG state with its siblings hands out the same keys.
 */
#include <errno.h>
#include <stdio.h>
#include <sys/random.h>
#include <unistd.h>

#include "check.h"

int main(int argc, char **argv)
{
    unsigned char r[16];
    char hex[2 * sizeof(r) + 1];

    check_init("randcheck", argc, argv);
    check_line("start", "pid=%d", (int)getpid());
    while (check_running()) {
        /*
         * GRND_INSECURE: UML has no cycle counter to feed the jitter
         * entropy source, so a blocking getrandom() may wait forever at
         * boot; the values still come from the one CRNG whose reseeding
         * this check is about.
         */
        ssize_t n = getrandom(r, sizeof(r), GRND_INSECURE);

        if (n != (ssize_t)sizeof(r)) {
            check_fail("getrandom: %s", n < 0 ? strerror(errno) : "short read");
        } else {
            for (size_t i = 0; i < sizeof(r); i++)
                snprintf(hex + 2 * i, 3, "%02x", r[i]);
            check_line("info", "rand=%s iteration=%llu", hex,
                       (unsigned long long)check.iteration + 1);
        }
        check_round_done(NULL);
        check_sleep_ms(2000);
    }
    return check_finish(NULL);
}
