/*
 * threadcheck [common options] [THREADS]
 *
 * THREADS (default 4) workers move random amounts between 16 accounts
 * under a mutex; the total must never change.  Each worker also counts
 * its operations (under the lock) and bumps a lock-free atomic counter
 * (after unlocking).  Every ~100 ms the main thread takes the lock and
 * checks: total balance, sum of per-thread counts == locked counter,
 * the atomic counter lags by at most THREADS, and every worker made
 * progress recently.  It also wakes a waiter thread through a condition
 * variable each round and waits for its answer, which exercises futex
 * waits across a save/restore.
 */
#include "check.h"

#include <pthread.h>
#include <stdatomic.h>

#define ACCOUNTS 16
#define START_BALANCE 1000
#define MAX_THREADS 64
#define OPS_PER_BATCH 200
#define SILENT_ROUNDS 30
#define PING_WAITS 50

struct bank {
    pthread_mutex_t lock;
    long long balance[ACCOUNTS];
    unsigned long long ops_locked;
    unsigned long long per_thread[MAX_THREADS];
    atomic_ullong ops_atomic;
    atomic_int stop;
};

struct pinger {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    unsigned long long asked, answered;
};

static struct bank bank = { .lock = PTHREAD_MUTEX_INITIALIZER };
static struct pinger pinger = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0 };

static void lock(pthread_mutex_t *m)
{
    int err = pthread_mutex_lock(m);
    if (err != 0)
        check_die("pthread_mutex_lock: %s", strerror(err));
}

static void unlock(pthread_mutex_t *m)
{
    int err = pthread_mutex_unlock(m);
    if (err != 0)
        check_die("pthread_mutex_unlock: %s", strerror(err));
}

static void *worker(void *arg)
{
    size_t id = (size_t)arg;
    uint64_t rng = id * 0x1234567ULL;

    while (!atomic_load(&bank.stop)) {
        for (int i = 0; i < OPS_PER_BATCH; i++) {
            uint64_t r = check_mix64(++rng);
            size_t from = r % ACCOUNTS, to = (r >> 8) % ACCOUNTS;
            long long amount = (long long)((r >> 16) % 100);
            lock(&bank.lock);
            bank.balance[from] -= amount;
            bank.balance[to] += amount;
            bank.ops_locked++;
            bank.per_thread[id]++;
            unlock(&bank.lock);
            atomic_fetch_add(&bank.ops_atomic, 1);
        }
        check_sleep_ms(10); /* leave CPU for the other checkers */
    }
    return NULL;
}

/* Answers every ping round through the condition variable. */
static void *waiter(void *arg)
{
    (void)arg;
    lock(&pinger.lock);
    while (!atomic_load(&bank.stop)) {
        if (pinger.answered < pinger.asked) {
            pinger.answered = pinger.asked;
            pthread_cond_broadcast(&pinger.cond);
        }
        pthread_cond_wait(&pinger.cond, &pinger.lock);
    }
    unlock(&pinger.lock);
    return NULL;
}

/* Asks the waiter and waits for its answer in counted 100 ms slices. */
static void ping_waiter(void)
{
    lock(&pinger.lock);
    unsigned long long want = ++pinger.asked;
    pthread_cond_broadcast(&pinger.cond);
    int waits = 0;
    while (pinger.answered < want && !check_stop_requested) {
        struct timespec ts;
        if (clock_gettime(CLOCK_REALTIME, &ts) != 0) /* the condvar's clock */
            check_die("clock_gettime: %s", strerror(errno));
        ts.tv_nsec += 100000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        if (pthread_cond_timedwait(&pinger.cond, &pinger.lock, &ts) == ETIMEDOUT &&
            ++waits == PING_WAITS)
            check_fail("condition variable ping %llu unanswered after %d waits", want, waits);
    }
    unlock(&pinger.lock);
}

static void verify(size_t threads, unsigned long long last[], struct check_silence silent[])
{
    long long total = 0;
    unsigned long long sum = 0, now[MAX_THREADS];

    lock(&bank.lock);
    for (size_t a = 0; a < ACCOUNTS; a++)
        total += bank.balance[a];
    for (size_t t = 0; t < threads; t++)
        sum += now[t] = bank.per_thread[t];
    unsigned long long locked = bank.ops_locked;
    unsigned long long atomic = atomic_load(&bank.ops_atomic);
    unlock(&bank.lock);

    if (total != (long long)ACCOUNTS * START_BALANCE)
        check_fail("total balance %lld, want %d", total, ACCOUNTS * START_BALANCE);
    if (sum != locked)
        check_fail("per-thread counts sum to %llu, locked counter %llu", sum, locked);
    if (atomic > locked || locked - atomic > threads)
        check_fail("atomic counter %llu vs locked counter %llu", atomic, locked);
    for (size_t t = 0; t < threads; t++) {
        if (check_silent(&silent[t], now[t] != last[t], SILENT_ROUNDS))
            check_fail("thread %zu made no progress for %d rounds", t, SILENT_ROUNDS);
        last[t] = now[t];
    }
}

int main(int argc, char **argv)
{
    int i = check_init("threadcheck", argc, argv);
    size_t threads = i < argc ? (size_t)check_parse_u64("threads", argv[i]) : 4;
    pthread_t tids[MAX_THREADS], waiter_tid;
    unsigned long long last[MAX_THREADS] = { 0 };
    struct check_silence silent[MAX_THREADS] = { { 0, 0.0 } };
    char extra[96];

    if (threads < 1 || threads > MAX_THREADS)
        check_die("threads must be 1..%d", MAX_THREADS);
    for (size_t a = 0; a < ACCOUNTS; a++)
        bank.balance[a] = START_BALANCE;
    for (size_t t = 0; t < threads; t++) {
        int err = pthread_create(&tids[t], NULL, worker, (void *)t);
        if (err != 0)
            check_die("pthread_create: %s", strerror(err));
    }
    int err = pthread_create(&waiter_tid, NULL, waiter, NULL);
    if (err != 0)
        check_die("pthread_create: %s", strerror(err));
    check_line("start", "pid=%d threads=%zu", (int)getpid(), threads);

    while (check_running()) {
        check_sleep_ms(100);
        verify(threads, last, silent);
        ping_waiter();
        snprintf(extra, sizeof(extra), "ops=%llu pings=%llu",
                 (unsigned long long)atomic_load(&bank.ops_atomic),
                 pinger.asked); /* only main writes asked */
        check_round_done(extra);
    }
    atomic_store(&bank.stop, 1);
    lock(&pinger.lock);
    pthread_cond_broadcast(&pinger.cond);
    unlock(&pinger.lock);
    for (size_t t = 0; t < threads; t++)
        pthread_join(tids[t], NULL);
    pthread_join(waiter_tid, NULL);
    verify(threads, last, silent);
    snprintf(extra, sizeof(extra), "ops=%llu", (unsigned long long)atomic_load(&bank.ops_atomic));
    return check_finish(extra);
}
