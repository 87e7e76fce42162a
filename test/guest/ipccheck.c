/*
 * ipccheck [common options]
 *
 * Keeps System V and POSIX IPC objects with known contents and checks
 * every round that the kernel still holds exactly them:
 *   - a SysV semaphore set of 4: values set at start, one of them moved
 *     up and down each round with semop (the others never change);
 *   - a SysV shared memory segment filled with a pattern, attached
 *     twice (two mappings must agree; a word is rewritten each round);
 *   - a SysV message queue holding QUEUE_LEN numbered messages: each
 *     round the oldest is received and sent again with the next number,
 *     so the queue stays full and in order;
 *   - a POSIX message queue used the same way (mq_receive/mq_send);
 *   - a POSIX shared memory object (shm_open) mapped once, checked
 *     through a fresh read(2) of the object as well.
 * Private keys (IPC_PRIVATE) and a per-pid POSIX name: several
 * instances do not interfere.  Everything is removed at the end.
 */
#include "check.h"

#include <fcntl.h>
#include <mqueue.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/stat.h>

#define NSEMS 4
#define SHM_BYTES (64 * 1024)
#define QUEUE_LEN 8
#define MSG_MAGIC 0x5342554d49504351ULL /* "SBUMLIPQ" */

union semun {
    int val;
    struct semid_ds *buf;
    unsigned short *array;
};

struct ipc_msg {
    long mtype;
    uint64_t magic, seq, value;
};

struct ipc {
    int semid, shmid, msqid;
    mqd_t mq;
    int pshm_fd;
    uint64_t *shm_a, *shm_b, *pshm;
    uint64_t msg_next, msg_expect, mq_next, mq_expect;
    char pshm_name[64], mq_name[64];
};

static const unsigned short sem_init_vals[NSEMS] = { 3, 17, 0, 255 };

static uint64_t pattern(uint64_t salt, size_t i)
{
    return check_mix64(salt * 1000003ULL + i);
}

static void setup_sem(struct ipc *s)
{
    unsigned short vals[NSEMS];
    union semun arg = { .array = vals };

    memcpy(vals, sem_init_vals, sizeof(vals));

    s->semid = semget(IPC_PRIVATE, NSEMS, IPC_CREAT | 0600);
    if (s->semid < 0)
        check_die("semget: %s", strerror(errno));
    if (semctl(s->semid, 0, SETALL, arg) != 0)
        check_die("semctl SETALL: %s", strerror(errno));
}

static void setup_sysv_shm(struct ipc *s)
{
    s->shmid = shmget(IPC_PRIVATE, SHM_BYTES, IPC_CREAT | 0600);
    if (s->shmid < 0)
        check_die("shmget: %s", strerror(errno));
    s->shm_a = shmat(s->shmid, NULL, 0);
    s->shm_b = shmat(s->shmid, NULL, SHM_RDONLY);
    if (s->shm_a == (void *)-1 || s->shm_b == (void *)-1)
        check_die("shmat: %s", strerror(errno));
    for (size_t i = 0; i < SHM_BYTES / 8; i++)
        s->shm_a[i] = pattern(1, i);
}

static void setup_msg(struct ipc *s)
{
    s->msqid = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
    if (s->msqid < 0)
        check_die("msgget: %s", strerror(errno));
    s->msg_next = s->msg_expect = 1;
    for (int i = 0; i < QUEUE_LEN; i++) {
        struct ipc_msg m = { 1, MSG_MAGIC, s->msg_next, pattern(2, s->msg_next) };
        if (msgsnd(s->msqid, &m, sizeof(m) - sizeof(long), IPC_NOWAIT) != 0)
            check_die("msgsnd: %s", strerror(errno));
        s->msg_next++;
    }
}

static void mq_put(struct ipc *s)
{
    struct ipc_msg m = { 1, MSG_MAGIC, s->mq_next, pattern(3, s->mq_next) };

    if (mq_send(s->mq, (const char *)&m, sizeof(m), 0) != 0)
        check_die("mq_send: %s", strerror(errno));
    s->mq_next++;
}

static void setup_posix_mq(struct ipc *s)
{
    struct mq_attr attr = { .mq_maxmsg = QUEUE_LEN, .mq_msgsize = sizeof(struct ipc_msg) };

    snprintf(s->mq_name, sizeof(s->mq_name), "/sbuml-ipccheck-%d", (int)getpid());
    s->mq = mq_open(s->mq_name, O_RDWR | O_CREAT | O_EXCL | O_NONBLOCK, 0600, &attr);
    if (s->mq == (mqd_t)-1)
        check_die("mq_open: %s", strerror(errno));
    s->mq_next = s->mq_expect = 1;
    for (int i = 0; i < QUEUE_LEN; i++)
        mq_put(s);
}

static int mount_tmpfs_dev_shm(void)
{
    return mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777");
}

/* shm_open needs a tmpfs on /dev/shm; a bare guest may lack the mount. */
static int open_posix_shm(const char *name)
{
    int fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL, 0600);

    if (fd < 0 && errno == ENOENT) {
        check_line("info", "no /dev/shm, mounting a tmpfs there");
        if (mkdir("/dev/shm", 01777) != 0 && errno != EEXIST)
            check_die("mkdir /dev/shm: %s", strerror(errno));
        if (mount_tmpfs_dev_shm() != 0)
            check_die("mount tmpfs on /dev/shm: %s", strerror(errno));
        fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL, 0600);
    }
    if (fd < 0)
        check_die("shm_open %s: %s", name, strerror(errno));
    return fd;
}

static void setup_posix_shm(struct ipc *s)
{
    snprintf(s->pshm_name, sizeof(s->pshm_name), "/sbuml-ipccheck-%d", (int)getpid());
    s->pshm_fd = open_posix_shm(s->pshm_name);
    if (ftruncate(s->pshm_fd, SHM_BYTES) != 0)
        check_die("ftruncate posix shm: %s", strerror(errno));
    s->pshm = mmap(NULL, SHM_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, s->pshm_fd, 0);
    if (s->pshm == MAP_FAILED)
        check_die("mmap posix shm: %s", strerror(errno));
    for (size_t i = 0; i < SHM_BYTES / 8; i++)
        s->pshm[i] = pattern(4, i);
}

static void check_sems(const struct ipc *s, uint64_t round)
{
    unsigned short vals[NSEMS];
    union semun arg = { .array = vals };
    struct sembuf up = { 1, 5, 0 }, down = { 1, -5, IPC_NOWAIT };

    if (semop(s->semid, &up, 1) != 0)
        check_fail("semop +5: %s", strerror(errno));
    if (semctl(s->semid, 0, GETALL, arg) != 0) {
        check_fail("semctl GETALL: %s", strerror(errno));
        return;
    }
    for (int i = 0; i < NSEMS; i++) {
        unsigned short want = sem_init_vals[i] + (i == 1 ? 5 : 0);
        if (vals[i] != want)
            check_fail("round %llu: semaphore %d is %u, want %u", (unsigned long long)round, i,
                       vals[i], want);
    }
    if (semop(s->semid, &down, 1) != 0)
        check_fail("semop -5: %s", strerror(errno));
}

static void check_words(const char *what, const uint64_t *p, uint64_t salt, size_t skip)
{
    for (size_t i = 0; i < SHM_BYTES / 8; i++) {
        if (i != skip && p[i] != pattern(salt, i)) {
            check_fail("%s word %zu is %016llx, want %016llx", what, i,
                       (unsigned long long)p[i], (unsigned long long)pattern(salt, i));
            return;
        }
    }
}

/* Word 0 of the SysV segment carries the round number, written through
 * one mapping and read back through the other. */
static void check_sysv_shm(const struct ipc *s, uint64_t round)
{
    struct shmid_ds ds;

    s->shm_a[0] = round;
    if (s->shm_b[0] != round)
        check_fail("shm mappings disagree: %llu vs %llu", (unsigned long long)s->shm_b[0],
                   (unsigned long long)round);
    check_words("sysv shm", s->shm_b, 1, 0);
    if (shmctl(s->shmid, IPC_STAT, &ds) != 0)
        check_fail("shmctl IPC_STAT: %s", strerror(errno));
    else if (ds.shm_nattch != 2 || ds.shm_segsz != SHM_BYTES)
        check_fail("shm nattch %lu size %zu, want 2 and %d", (unsigned long)ds.shm_nattch,
                   (size_t)ds.shm_segsz, SHM_BYTES);
}

static void check_msg_one(const char *what, const struct ipc_msg *m, uint64_t expect,
                          uint64_t salt)
{
    if (m->magic != MSG_MAGIC || m->seq != expect || m->value != pattern(salt, m->seq))
        check_fail("%s: message seq %llu magic %016llx, want seq %llu", what,
                   (unsigned long long)m->seq, (unsigned long long)m->magic,
                   (unsigned long long)expect);
}

static void check_sysv_msg(struct ipc *s)
{
    struct ipc_msg m;
    struct msqid_ds ds;

    if (msgctl(s->msqid, IPC_STAT, &ds) != 0 || ds.msg_qnum != QUEUE_LEN)
        check_fail("msg queue holds %lu messages, want %d", (unsigned long)ds.msg_qnum, QUEUE_LEN);
    if (msgrcv(s->msqid, &m, sizeof(m) - sizeof(long), 0, IPC_NOWAIT) != sizeof(m) - sizeof(long)) {
        check_fail("msgrcv: %s", strerror(errno));
        return;
    }
    check_msg_one("sysv msg", &m, s->msg_expect++, 2);
    struct ipc_msg n = { 1, MSG_MAGIC, s->msg_next, pattern(2, s->msg_next) };
    if (msgsnd(s->msqid, &n, sizeof(n) - sizeof(long), IPC_NOWAIT) != 0)
        check_fail("msgsnd: %s", strerror(errno));
    s->msg_next++;
}

static void check_posix_mq(struct ipc *s)
{
    struct ipc_msg m;
    struct mq_attr attr;

    if (mq_getattr(s->mq, &attr) != 0 || attr.mq_curmsgs != QUEUE_LEN)
        check_fail("posix mq holds %ld messages, want %d", (long)attr.mq_curmsgs, QUEUE_LEN);
    if (mq_receive(s->mq, (char *)&m, sizeof(m), NULL) != (ssize_t)sizeof(m)) {
        check_fail("mq_receive: %s", strerror(errno));
        return;
    }
    check_msg_one("posix mq", &m, s->mq_expect++, 3);
    mq_put(s);
}

/* The mapping and a read(2) of the object must both show the pattern. */
static void check_posix_shm(const struct ipc *s)
{
    static uint64_t buf[SHM_BYTES / 8];

    check_words("posix shm mapping", s->pshm, 4, (size_t)-1);
    if (pread(s->pshm_fd, buf, SHM_BYTES, 0) != SHM_BYTES)
        check_fail("pread posix shm: %s", strerror(errno));
    else
        check_words("posix shm read", buf, 4, (size_t)-1);
}

static void teardown(struct ipc *s)
{
    semctl(s->semid, 0, IPC_RMID);
    shmdt(s->shm_a);
    shmdt(s->shm_b);
    shmctl(s->shmid, IPC_RMID, NULL);
    msgctl(s->msqid, IPC_RMID, NULL);
    mq_close(s->mq);
    mq_unlink(s->mq_name);
    shm_unlink(s->pshm_name);
}

int main(int argc, char **argv)
{
    static struct ipc s;
    char extra[96];

    check_init("ipccheck", argc, argv);
    setup_sem(&s);
    setup_sysv_shm(&s);
    setup_msg(&s);
    setup_posix_mq(&s);
    setup_posix_shm(&s);
    check_line("start", "pid=%d semid=%d shmid=%d msqid=%d mq=%s shm=%s", (int)getpid(),
               s.semid, s.shmid, s.msqid, s.mq_name, s.pshm_name);
    while (check_running()) {
        uint64_t round = check.iteration + 1;
        check_sems(&s, round);
        check_sysv_shm(&s, round);
        check_sysv_msg(&s);
        check_posix_mq(&s);
        check_posix_shm(&s);
        snprintf(extra, sizeof(extra), "msgs=%llu mqs=%llu",
                 (unsigned long long)(s.msg_expect - 1), (unsigned long long)(s.mq_expect - 1));
        check_round_done(extra);
        check_sleep_ms(100);
    }
    teardown(&s);
    snprintf(extra, sizeof(extra), "msgs=%llu mqs=%llu", (unsigned long long)(s.msg_expect - 1),
             (unsigned long long)(s.mq_expect - 1));
    return check_finish(extra);
}
