/*
 * test_bcast.c - broadcast channels (shmlib_bcast_create, and the channel
 * calls on their ends) against the real kernel, with real processes:
 * subscribers in processes of their own (this program exec'd again with a
 * role), one killed with SIGKILL where a test needs a death, and the shared
 * state scribbled on through a plain attach.
 *
 * Roles:
 *   --subscribers KEY ENDS COUNT READYFD   joins ENDS times, says so with a
 *       byte on READYFD, and reads COUNT messages on each end (one thread per
 *       end, in place), checking every byte and the order, then SHMLIB_EEOS
 *   --hang KEY READYFD   joins, says so, and sleeps until killed
 */
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <time.h>

#include "harness.h"

/* The layout, from internal/broadcast/PROTOCOL.md: a contract between
 * processes, so fixed; the distrust tests write through it. */
enum {
    OFF_TAIL = 64,
    SLOTS = 4096,
    SLOT_SIZE = 64,
};

static int key_seq;

static void new_key(char *key, size_t len)
{
    snprintf(key, len, "posix:/libshm-bcast-%d-%d", (int)getpid(), key_seq++);
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Message i: its number in the first 8 bytes, then a pattern. */
static size_t msg_len(uint64_t i) { return 8 + (i * 37) % 700; }

static void fill_msg(unsigned char *p, uint64_t i)
{
    memcpy(p, &i, 8);
    harness_fill(p + 8, msg_len(i) - 8, (unsigned)i);
}

static int msg_ok(const unsigned char *p, size_t len, uint64_t i)
{
    uint64_t got;
    if (len != msg_len(i))
        return 0;
    memcpy(&got, p, 8);
    return got == i && harness_verify(p + 8, len - 8, (unsigned)i) == len - 8;
}

struct reader {
    shmlib_chan_t chan;
    uint64_t count;
    int ok;
};

static void *read_all(void *arg)
{
    struct reader *r = arg;
    r->ok = 1;
    for (uint64_t i = 0; i < r->count && r->ok; i++) {
        const void *p;
        size_t len;
        int rc = shmlib_chan_peek(r->chan, 10000000000LL, &p, &len);
        if (rc != SHMLIB_OK || !msg_ok(p, len, i)) {
            printf("  subscriber: message %" PRIu64 ": %s %s\n", i, harness_code_name(rc), harness_last_error());
            r->ok = 0;
        }
        if (rc == SHMLIB_OK)
            shmlib_chan_release(r->chan);
    }
    char buf[8];
    size_t len;
    if (r->ok && shmlib_chan_recv(r->chan, buf, sizeof buf, &len, 10000000000LL) != SHMLIB_EEOS) {
        printf("  subscriber: no end of stream: %s\n", harness_last_error());
        r->ok = 0;
    }
    return NULL;
}

static int role_subscribers(const char *key, int ends, uint64_t count, int ready_fd)
{
    harness_child_begin("subscribers");
    struct reader r[64];
    pthread_t t[64];
    for (int i = 0; i < ends; i++) {
        r[i].count = count;
        if (!CHECK_RC(shmlib_chan_open(key, SHMLIB_CHAN_SUBSCRIBER, &r[i].chan), SHMLIB_OK))
            harness_child_exit();
    }
    CHECK(write(ready_fd, "r", 1) == 1);
    for (int i = 0; i < ends; i++)
        pthread_create(&t[i], NULL, read_all, &r[i]);
    for (int i = 0; i < ends; i++) {
        pthread_join(t[i], NULL);
        CHECK(r[i].ok);
        CHECK_RC(shmlib_chan_close(r[i].chan), SHMLIB_OK);
    }
    harness_child_exit();
}

static int role_hang(const char *key, int ready_fd)
{
    shmlib_chan_t c;
    if (shmlib_chan_open(key, SHMLIB_CHAN_SUBSCRIBER, &c) != SHMLIB_OK)
        _exit(2);
    if (write(ready_fd, "r", 1) != 1)
        _exit(3);
    for (;;)
        pause();
}

/* Starts this program with a role; its last argument is the write end of a
 * pipe whose read end *ready_fd receives a byte once the child has joined. */
static pid_t spawn(const char *role, const char *key, const char *a, const char *b, int *ready_fd)
{
    int p[2];
    if (pipe(p) != 0)
        return -1;
    char fd[16];
    snprintf(fd, sizeof fd, "%d", p[1]);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        close(p[0]);
        if (a)
            execl("/proc/self/exe", "test_bcast", role, key, a, b, fd, (char *)NULL);
        else
            execl("/proc/self/exe", "test_bcast", role, key, fd, (char *)NULL);
        _exit(127);
    }
    close(p[1]);
    *ready_fd = p[0];
    return pid;
}

static int wait_ready(int fd)
{
    char c;
    int ok = read(fd, &c, 1) == 1;
    close(fd);
    return ok;
}

/* 64 subscribers in 4 processes each read every message, in order, in
 * place, while the ring wraps many times. */
static void test_sixty_four_subscribers(void)
{
    char key[SHMLIB_KEY_MAX];
    new_key(key, sizeof key);
    if (!CHECK_RC(shmlib_bcast_create(key, 16384, 64, 0600, 0, NULL, 0), SHMLIB_OK))
        return;
    shmlib_chan_t p;
    CHECK_RC(shmlib_chan_open(key, SHMLIB_CHAN_PRODUCER, &p), SHMLIB_OK);
    const uint64_t count = 3000;
    pid_t kids[4];
    for (int i = 0; i < 4; i++) {
        int fd;
        kids[i] = spawn("--subscribers", key, "16", "3000", &fd);
        CHECK(kids[i] > 0 && wait_ready(fd));
    }
    shmlib_chan_t extra;
    CHECK_RC(shmlib_chan_open(key, SHMLIB_CHAN_SUBSCRIBER, &extra), SHMLIB_EBUSY);
    for (uint64_t i = 0; i < count; i++) {
        void *w;
        if (i % 2) {
            unsigned char buf[1024];
            fill_msg(buf, i);
            if (!CHECK_RC(shmlib_chan_send(p, buf, msg_len(i), 10000000000LL), SHMLIB_OK))
                break;
        } else {
            if (!CHECK_RC(shmlib_chan_reserve(p, msg_len(i), 10000000000LL, &w), SHMLIB_OK))
                break;
            fill_msg(w, i);
            CHECK_RC(shmlib_chan_commit(p, msg_len(i)), SHMLIB_OK);
        }
    }
    CHECK_RC(shmlib_chan_close(p), SHMLIB_OK);
    for (int i = 0; i < 4; i++)
        CHECK_EXIT_OK(harness_wait(kids[i]), "a process of 16 subscribers");
    CHECK_RC(shmlib_destroy(key), SHMLIB_OK);
}

/* A subscriber killed with SIGKILL stops holding a lossless producer back
 * within its next liveness look. */
static void test_dead_subscriber(void)
{
    char key[SHMLIB_KEY_MAX];
    new_key(key, sizeof key);
    if (!CHECK_RC(shmlib_bcast_create(key, 4096, 4, 0600, 0, NULL, 0), SHMLIB_OK))
        return;
    shmlib_chan_t p;
    CHECK_RC(shmlib_chan_open(key, SHMLIB_CHAN_PRODUCER, &p), SHMLIB_OK);
    int fd;
    pid_t kid = spawn("--hang", key, NULL, NULL, &fd);
    CHECK(kid > 0 && wait_ready(fd));
    unsigned char buf[1000] = {0};
    int sent = 0;
    while (shmlib_chan_send(p, buf, sizeof buf, 0) == SHMLIB_OK)
        sent++;
    CHECK(sent >= 1 && sent <= 4);
    kill(kid, SIGKILL);
    harness_wait(kid);
    int64_t start = now_ns();
    CHECK_RC(shmlib_chan_send(p, buf, sizeof buf, 2000000000LL), SHMLIB_OK);
    int64_t took = now_ns() - start;
    CHECKF(took < 300000000, "a dead subscriber held the producer back for %lld ms", (long long)(took / 1000000));
    CHECK_RC(shmlib_chan_close(p), SHMLIB_OK);
    CHECK_RC(shmlib_destroy(key), SHMLIB_OK);
}

/* Overwrite-oldest: the producer never waits for a lagging subscriber,
 * which skips ahead, in order, and is told exactly how many it lost; a
 * held message is never overwritten. */
static void test_overwrite_oldest(void)
{
    char key[SHMLIB_KEY_MAX];
    new_key(key, sizeof key);
    if (!CHECK_RC(shmlib_bcast_create(key, 4096, 2, 0600, SHMLIB_BCAST_OVERWRITE, NULL, 0), SHMLIB_OK))
        return;
    shmlib_chan_t p, s;
    CHECK_RC(shmlib_chan_open(key, SHMLIB_CHAN_PRODUCER, &p), SHMLIB_OK);
    CHECK_RC(shmlib_chan_open(key, SHMLIB_CHAN_SUBSCRIBER, &s), SHMLIB_OK);
    const uint64_t sent = 50;
    for (uint64_t i = 0; i < sent; i++) {
        unsigned char buf[1024];
        fill_msg(buf, i);
        CHECK_RC(shmlib_chan_send(p, buf, msg_len(i), 0), SHMLIB_OK);
    }
    uint64_t got = 0, last = 0, lost = 0;
    int in_order = 1;
    for (;;) {
        unsigned char buf[1024];
        size_t len;
        int rc = shmlib_chan_recv(s, buf, sizeof buf, &len, 0);
        if (rc != SHMLIB_OK) {
            CHECK_RC(rc, SHMLIB_ETIMEDOUT);
            break;
        }
        uint64_t i;
        memcpy(&i, buf, 8);
        in_order &= (got == 0 || i > last) && msg_ok(buf, len, i);
        last = i;
        got++;
    }
    CHECK(in_order);
    CHECK_RC(shmlib_chan_lost(s, &lost), SHMLIB_OK);
    CHECK_INT(last, sent - 1);
    CHECK_INT(got + lost, sent);
    CHECK(lost > 0);
    CHECK_RC(shmlib_chan_lost(s, &lost), SHMLIB_OK);
    CHECK_INT(lost, 0);

    /* A held message stays; the producer waits for its release. */
    unsigned char buf[1000] = {7};
    CHECK_RC(shmlib_chan_send(p, buf, sizeof buf, 0), SHMLIB_OK);
    const void *view;
    size_t len;
    CHECK_RC(shmlib_chan_peek(s, 0, &view, &len), SHMLIB_OK);
    int rc = SHMLIB_OK;
    for (int i = 0; i < 8 && rc == SHMLIB_OK; i++)
        rc = shmlib_chan_send(p, (unsigned char[1000]){0}, 1000, 0);
    CHECK_RC(rc, SHMLIB_ETIMEDOUT);
    CHECK(((const unsigned char *)view)[0] == 7);
    CHECK_RC(shmlib_chan_release(s), SHMLIB_OK);
    CHECK_RC(shmlib_chan_send(p, buf, sizeof buf, 0), SHMLIB_OK);
    CHECK_RC(shmlib_chan_close(s), SHMLIB_OK);
    CHECK_RC(shmlib_chan_close(p), SHMLIB_OK);
    CHECK_RC(shmlib_destroy(key), SHMLIB_OK);
}

static void test_late_joiner_and_misuse(void)
{
    char key[SHMLIB_KEY_MAX], chan[SHMLIB_KEY_MAX];
    new_key(key, sizeof key);
    new_key(chan, sizeof chan);
    if (!CHECK_RC(shmlib_bcast_create(key, 4096, 1, 0600, 0, NULL, 0), SHMLIB_OK))
        return;
    CHECK_RC(shmlib_chan_create(chan, 4096, 0600, 0, NULL, 0), SHMLIB_OK);
    shmlib_stat_t st;
    CHECK_RC(shmlib_stat(key, &st), SHMLIB_OK);
    CHECK_INT(st.flags & (SHMLIB_STAT_BROADCAST | SHMLIB_STAT_CHANNEL), SHMLIB_STAT_BROADCAST);
    CHECK_RC(shmlib_stat(chan, &st), SHMLIB_OK);
    CHECK_INT(st.flags & (SHMLIB_STAT_BROADCAST | SHMLIB_STAT_CHANNEL), SHMLIB_STAT_CHANNEL);
    shmlib_chan_t p, s, x;
    uint64_t lost;
    CHECK_RC(shmlib_chan_open(key, SHMLIB_CHAN_PRODUCER, &p), SHMLIB_OK);
    CHECK_RC(shmlib_chan_send(p, "old", 3, 0), SHMLIB_OK);
    CHECK_RC(shmlib_chan_open(key, SHMLIB_CHAN_SUBSCRIBER, &s), SHMLIB_OK);
    char buf[8];
    size_t len;
    CHECK_RC(shmlib_chan_recv(s, buf, sizeof buf, &len, 0), SHMLIB_ETIMEDOUT);
    CHECK_RC(shmlib_chan_send(p, "new", 3, 0), SHMLIB_OK);
    CHECK_RC(shmlib_chan_recv(s, buf, sizeof buf, &len, 0), SHMLIB_OK);
    CHECK(len == 3 && memcmp(buf, "new", 3) == 0);
    CHECK_RC(shmlib_chan_send(p, "toolong", 7, 0), SHMLIB_OK);
    CHECK_RC(shmlib_chan_recv(s, buf, 2, &len, 0), SHMLIB_ERANGE);
    CHECK_RC(shmlib_chan_recv(s, buf, sizeof buf, &len, 0), SHMLIB_OK);
    CHECK(len == 7);

    CHECK_RC(shmlib_chan_open(key, SHMLIB_CHAN_SUBSCRIBER, &x), SHMLIB_EBUSY);
    CHECK_RC(shmlib_chan_open(key, SHMLIB_CHAN_CONSUMER, &x), SHMLIB_EINVAL);
    CHECK_RC(shmlib_chan_open(chan, SHMLIB_CHAN_SUBSCRIBER, &x), SHMLIB_EINVAL);
    CHECK_RC(shmlib_chan_lost(p, &lost), SHMLIB_EINVAL);
    CHECK_RC(shmlib_chan_lost(s, NULL), SHMLIB_EINVAL);
    CHECK_RC(shmlib_chan_lost(s, (uint64_t *)8), SHMLIB_EFAULT);
    CHECK_RC(shmlib_chan_recv(p, buf, sizeof buf, &len, 0), SHMLIB_EINVAL);
    CHECK_RC(shmlib_chan_send(s, "x", 1, 0), SHMLIB_EINVAL);
    CHECK_RC(shmlib_bcast_create("sysv:", 4096, 1, 0600, 0, buf, sizeof buf), SHMLIB_ENOTSUP);
    CHECK_RC(shmlib_bcast_create(NULL, 4096, 1025, 0600, 0, buf, sizeof buf), SHMLIB_EINVAL);
    CHECK_RC(shmlib_bcast_create(NULL, 4096, 1, 0600, SHMLIB_HUGETLB, buf, sizeof buf), SHMLIB_EINVAL);

    /* The producer's close: the subscriber drains, then the end of stream. */
    CHECK_RC(shmlib_chan_send(p, "last", 4, 0), SHMLIB_OK);
    CHECK_RC(shmlib_chan_close(p), SHMLIB_OK);
    CHECK_RC(shmlib_chan_recv(s, buf, sizeof buf, &len, 0), SHMLIB_OK);
    CHECK_RC(shmlib_chan_recv(s, buf, sizeof buf, &len, 0), SHMLIB_EEOS);
    CHECK_RC(shmlib_chan_close(s), SHMLIB_OK);
    CHECK_RC(shmlib_destroy(key), SHMLIB_OK);
    CHECK_RC(shmlib_destroy(chan), SHMLIB_OK);
}

/* A scribbled tail or head gives SHMLIB_ECORRUPT, never a read out of the
 * segment. */
static void test_corrupt(void)
{
    char key[SHMLIB_KEY_MAX];
    new_key(key, sizeof key);
    if (!CHECK_RC(shmlib_bcast_create(key, 4096, 2, 0600, SHMLIB_BCAST_OVERWRITE, NULL, 0), SHMLIB_OK))
        return;
    shmlib_chan_t p, s;
    void *addr;
    uint64_t size;
    CHECK_RC(shmlib_chan_open(key, SHMLIB_CHAN_PRODUCER, &p), SHMLIB_OK);
    CHECK_RC(shmlib_chan_open(key, SHMLIB_CHAN_SUBSCRIBER, &s), SHMLIB_OK);
    CHECK_RC(shmlib_attach(key, NULL, 0, &addr, &size), SHMLIB_OK);
    unsigned char *b = addr;
    CHECK_RC(shmlib_chan_send(p, "abc", 3, 0), SHMLIB_OK);
    uint64_t bad = 1ull << 40, saved;
    memcpy(&saved, b + OFF_TAIL, 8);
    memcpy(b + OFF_TAIL, &bad, 8);
    char buf[8];
    size_t len;
    CHECK_RC(shmlib_chan_recv(s, buf, sizeof buf, &len, 0), SHMLIB_ECORRUPT);
    memcpy(b + OFF_TAIL, &saved, 8);
    CHECK_RC(shmlib_chan_recv(s, buf, sizeof buf, &len, 0), SHMLIB_OK);
    /* The subscriber's head, moved beyond the tail: the producer refuses
     * when it next needs to look at it. */
    memcpy(b + SLOTS + 8, &bad, 8);
    int rc = SHMLIB_OK;
    for (int i = 0; i < 20 && rc == SHMLIB_OK; i++)
        rc = shmlib_chan_send(p, (char[500]){0}, 500, 0);
    CHECK_RC(rc, SHMLIB_ECORRUPT);
    CHECK_RC(shmlib_detach(addr), SHMLIB_OK);
    CHECK_RC(shmlib_chan_close(s), SHMLIB_OK);
    CHECK_RC(shmlib_chan_close(p), SHMLIB_OK);
    CHECK_RC(shmlib_destroy(key), SHMLIB_OK);
}

/* Random hostile state, as a peer attached to the segment could write: the
 * producer's words, the subscriber's slot, the first records. The C
 * subscriber and producer give only documented codes and never deliver a
 * message outside the data area (internal/broadcast's FuzzSubscriber and
 * FuzzProducer do the same to the Go implementation). */
static void test_hostile_state(void)
{
    char key[SHMLIB_KEY_MAX];
    new_key(key, sizeof key);
    if (!CHECK_RC(shmlib_bcast_create(key, 4096, 2, 0600, SHMLIB_BCAST_OVERWRITE, NULL, 0), SHMLIB_OK))
        return;
    void *addr;
    uint64_t size;
    shmlib_chan_t p, s;
    const void *m;
    size_t len;
    CHECK_RC(shmlib_attach(key, NULL, 0, &addr, &size), SHMLIB_OK);
    CHECK_RC(shmlib_chan_open(key, SHMLIB_CHAN_SUBSCRIBER, &s), SHMLIB_OK);
    CHECK_RC(shmlib_chan_open(key, SHMLIB_CHAN_PRODUCER, &p), SHMLIB_OK);
    /* Where the subscriber's own mapping has the data area: its first message. */
    CHECK_RC(shmlib_chan_send(p, "first", 5, 0), SHMLIB_OK);
    if (!CHECK_RC(shmlib_chan_peek(s, 0, &m, &len), SHMLIB_OK))
        return;
    const unsigned char *data = (const unsigned char *)m - 16;
    shmlib_chan_release(s);
    unsigned char *b = addr, saved[2 * SLOT_SIZE];
    memcpy(saved, b + SLOTS, sizeof saved);
    uint64_t seed = 0x9e3779b97f4a7c15ull;
    int bad = 0, delivered = 0, corrupt = 0;
    for (int round = 0; round < 3000 && !bad; round++) {
        for (int k = 0; k < 4; k++) { /* a few words anywhere that matters */
            seed = seed * 6364136223846793005ull + 1442695040888963407ull;
            unsigned which = (unsigned)(seed >> 60) % 3;
            uint64_t v = seed >> (seed >> 58);
            unsigned off = which == 0 ? 64 + 8 * (unsigned)((seed >> 20) % 6)
                           : which == 1 ? SLOTS + 8 + 8 * (unsigned)((seed >> 20) % 2)
                                        : 8192 + 8 * (unsigned)((seed >> 20) % 64);
            if ((seed >> 40) & 1)
                v &= 0xfff0; /* small, aligned values reach deeper */
            memcpy(b + off, &v, 8);
        }
        for (int i = 0; i < 4 && !bad; i++) {
            int rc = shmlib_chan_peek(s, 0, &m, &len);
            if (rc == SHMLIB_OK) {
                delivered++;
                const unsigned char *c = m;
                if (c < data || c + len > data + 4096 || len > 4096 / 2 - 16) {
                    printf("  delivered %zu bytes at data%+td\n", len, c - data);
                    bad = 1;
                }
                shmlib_chan_release(s);
            } else if (rc == SHMLIB_ECORRUPT) {
                corrupt++;
            } else if (rc != SHMLIB_ETIMEDOUT && rc != SHMLIB_EEOS) {
                bad = rc;
            }
            rc = shmlib_chan_send(p, "abcdefgh", 8, 0);
            if (rc == SHMLIB_ECORRUPT)
                corrupt++;
            else if (rc != SHMLIB_OK && rc != SHMLIB_ETIMEDOUT)
                bad = rc;
        }
        if (bad)
            printf("  round %d: code %d; %s\n", round, bad, harness_last_error());
        if (round % 16 == 15) { /* now and then, sane words again */
            memset(b + 64, 0, 128);
            memcpy(b + SLOTS, saved, sizeof saved);
        }
    }
    CHECK(!bad);
    CHECKF(delivered > 0 && corrupt > 0, "%d delivered, %d found corrupt", delivered, corrupt);
    printf("   %d messages delivered, %d found corrupt\n", delivered, corrupt);
    shmlib_chan_close(s);
    shmlib_chan_close(p);
    CHECK_RC(shmlib_detach(addr), SHMLIB_OK);
    CHECK_RC(shmlib_destroy(key), SHMLIB_OK);
}

int main(int argc, char **argv)
{
    if (argc == 6 && strcmp(argv[1], "--subscribers") == 0)
        return role_subscribers(argv[2], atoi(argv[3]), strtoull(argv[4], NULL, 10), atoi(argv[5]));
    if (argc == 4 && strcmp(argv[1], "--hang") == 0)
        return role_hang(argv[2], atoi(argv[3]));
    printf("-- 64 subscribers in 4 processes\n");
    test_sixty_four_subscribers();
    printf("-- a dead subscriber\n");
    test_dead_subscriber();
    printf("-- overwrite-oldest\n");
    test_overwrite_oldest();
    printf("-- late joiner, misuse\n");
    test_late_joiner_and_misuse();
    printf("-- corruption\n");
    test_corrupt();
    printf("-- hostile shared state\n");
    test_hostile_state();
    return harness_finish();
}
