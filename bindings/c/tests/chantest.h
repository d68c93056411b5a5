/*
 * chantest.h - what the channel tests (test_chan.c, test_chan_waits.c,
 * test_chan_peers.c, test_chan_corrupt.c) share: the channel's shared
 * layout, helpers that make, fill and drain channels, the leak check run
 * after each test, and the peer processes with their roles.
 *
 * Each test destroys what it creates; after each one, no POSIX object of
 * this run (named libshm-chan-PID-N) and no System V segment this process
 * created may be left. Leftovers are reported and removed.
 *
 * Peers: a child forked without exec may not call libshm (SHMLIB_EFORKED),
 * so every peer is this program exec'd again with a role:
 *
 *   --fifo-producer KEY COUNT   sends COUNT messages of varying length, half
 *                               copied, half written in place, then closes
 *   --fifo-consumer KEY COUNT   receives and checks them, half copied, half
 *                               in place, then expects the end of stream
 *   --peer KEY STEP...          plays the steps below in order
 *
 * Steps of --peer (SEED names a pattern, LEN is a number or "max"):
 *   open:producer, open:consumer   take that end
 *   busy:producer, busy:consumer   taking that end fails with SHMLIB_EBUSY
 *                                  naming the parent, which holds it
 *   send:SEED:LEN       send a pattern message
 *   reserve:SEED:LEN    reserve one and fill it, never to commit it
 *   recv:SEED:LEN       receive one and check every byte
 *   eeos                the next receive is SHMLIB_EEOS
 *   close               close the end
 *   ready               tell the parent: one byte on PEER_READY_FD
 *   go                  wait for the parent: one byte on PEER_GO_FD, or its
 *                       closing (a peer waiting here is "holding" its end)
 *   sleep:MS
 */
#ifndef LIBSHM_TEST_CHANTEST_H
#define LIBSHM_TEST_CHANTEST_H

#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <time.h>


/* The shared layout of a channel, from internal/channel/layout.go. It is a
 * contract between processes that may run different builds of libshm, so
 * its offsets are fixed; the distrust tests write through them. */
enum {
    OFF_MAGIC = 0,
    OFF_VERSION = 8,
    OFF_DATA_OFFSET = 12,
    OFF_CAPACITY = 16,
    OFF_MAX_MESSAGE = 24,
    OFF_TAIL = 64,
    OFF_HEAD = 128,
    DATA = 4096,       /* the data area starts here */
    RECORD_HEADER = 16, /* u32 length, u32 kind, u64 0 */
    KIND_PADDING = 2,
};

#define GIB (UINT64_C(1) << 30)
#define MS (INT64_C(1000000)) /* in ns */
/* Every wait of a test that should succeed: long enough for a loaded
 * machine, short enough that a lost wakeup fails the test instead of
 * hanging it. */
#define PATIENCE (5000 * MS)

/* The descriptors a peer finds after exec. */
#define PEER_GO_FD 100
#define PEER_READY_FD 101

/* "libshm-chan-PID": POSIX names of this run start with it. */
static char prefix[64];

static inline int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline void sleep_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* ------------------------------------------------------------ patterns */

static inline int aligned16(const void *p)
{
    return ((uintptr_t)p & 15) == 0;
}

/* ---------------------------------------------------------- call checks */

/* The last error names the operation, and the key where there is one. */
static inline void check_message(const char *op, const char *key, const char *file, int line)
{
    const char *msg = harness_last_error();
    if (strstr(msg, op) != NULL && (key == NULL || strstr(msg, key) != NULL))
        harness_pass();
    else
        harness_fail(file, line,
                     "last error \"%s\" should name the operation \"%s\" and key \"%s\"", msg,
                     op, key ? key : "(none)");
}

/* A call fails with `want`, and its message names the operation and key. */
#define CHECK_FAILS(call, want, op, key)                         \
    (harness_check_rc((call), (want), __FILE__, __LINE__, #call) && \
     (check_message((op), (key), __FILE__, __LINE__), 1))

/* The last error mentions `what` (e.g. "pid 1234"). */
#define CHECK_MESSAGE_HAS(what)                                                        \
    CHECKF(strstr(harness_last_error(), (what)) != NULL, "last error \"%s\" should say \"%s\"", \
           harness_last_error(), (what))

/* ------------------------------------------------------------- channels */

enum backend { POSIX, SYSV };
static const char *const backend_names[] = {"posix", "sysv"};

/* Creates a channel: POSIX ones named after this run, so that a leak can be
 * told from another program's object; System V ones with a key the library
 * chooses (this process is their creator). */
static inline int new_chan(enum backend b, uint64_t capacity, char key[SHMLIB_KEY_MAX])
{
    static unsigned n;
    char want[SHMLIB_KEY_MAX];
    if (b == POSIX)
        snprintf(want, sizeof want, "posix:/%s-%u", prefix, n++);
    else
        snprintf(want, sizeof want, "sysv:");
    return CHECK_RC(shmlib_chan_create(want, capacity, 0, 0, key, SHMLIB_KEY_MAX), 0);
}

static inline int open_end(const char *key, int end, shmlib_chan_t *chan)
{
    *chan = 0;
    return CHECK_RC(shmlib_chan_open(key, end, chan), 0);
}

static inline void close_end(shmlib_chan_t chan)
{
    if (chan != 0)
        CHECK_RC(shmlib_chan_close(chan), 0);
}

/* A plain mapping of the channel's segment, to look at and scribble on the
 * shared state as any attached process could. */
static inline unsigned char *plain_attach(const char *key)
{
    void *addr = NULL;
    return CHECK_RC(shmlib_attach(key, NULL, 0, &addr, NULL), 0) ? addr : NULL;
}

static inline uint64_t get64(const unsigned char *base, size_t off)
{
    uint64_t v;
    memcpy(&v, base + off, sizeof v);
    return v;
}

static inline uint32_t get32(const unsigned char *base, size_t off)
{
    uint32_t v;
    memcpy(&v, base + off, sizeof v);
    return v;
}

static inline void put64(unsigned char *base, size_t off, uint64_t v) { memcpy(base + off, &v, sizeof v); }
static inline void put32(unsigned char *base, size_t off, uint32_t v) { memcpy(base + off, &v, sizeof v); }

static inline int send_pattern(shmlib_chan_t chan, uint32_t seed, size_t len, int64_t timeout_ns)
{
    unsigned char *buf = malloc(len + 1);
    harness_fill(buf, len, seed);
    int rc = shmlib_chan_send(chan, buf, len, timeout_ns);
    free(buf);
    return rc;
}

/* Receives one message and checks it is pattern `seed` of len bytes. */
static inline void recv_pattern(shmlib_chan_t chan, uint32_t seed, size_t len, const char *file, int line)
{
    unsigned char *buf = malloc(len + 1);
    size_t got = (size_t)-1;
    int rc = shmlib_chan_recv(chan, buf, len + 1, &got, PATIENCE);
    if (harness_check_rc(rc, 0, file, line, "shmlib_chan_recv") &&
        harness_check_int((long long)got, (long long)len, file, line, "received length"))
        harness_check_int((long long)harness_verify(buf, len, seed), (long long)len, file, line,
                          "first wrong byte of the received message");
    free(buf);
}

#define RECV_PATTERN(chan, seed, len) recv_pattern((chan), (seed), (len), __FILE__, __LINE__)

/* Sends max-size messages with timeout 0 until the ring is full; returns
 * how many, seeds first_seed, first_seed + 1, ... */
static inline unsigned fill_ring(shmlib_chan_t chan, size_t max, uint32_t first_seed)
{
    unsigned n = 0;
    while (send_pattern(chan, first_seed + n, max, 0) == 0)
        n++;
    return n;
}

/* ---------------------------------------------------------------- leaks */

/* Fails for every segment of this run that exists now, and removes it, so
 * that one failed test does not spill into the next or onto the machine.
 * This run's segments: /dev/shm names with its prefix, and the System V
 * segments this process created (up to 64 of each). */
static inline void check_nothing_left(const char *test)
{
    size_t nnames, nids;
    char **names = harness_devshm_names(prefix, 64, &nnames);
    int *ids = harness_sysv_ids_created_by(getpid(), 64, &nids);
    for (size_t i = 0; i < nnames; i++) {
        char path[PATH_MAX];
        snprintf(path, sizeof path, "/dev/shm/%s", names[i]);
        unlink(path);
        harness_fail(__FILE__, __LINE__, "%s left posix:/%s behind (removed)", test, names[i]);
    }
    for (size_t i = 0; i < nids; i++) {
        shmctl(ids[i], IPC_RMID, NULL);
        harness_fail(__FILE__, __LINE__, "%s left sysv:id=%d behind (removed)", test, ids[i]);
    }
    if (nnames == 0 && nids == 0)
        harness_pass();
    harness_names_free(names, nnames);
    free(ids);
}

/* ---------------------------------------------------------------- peers */

struct peer {
    pid_t pid;
    int go;    /* write a byte: the peer passes its next "go" step */
    int ready; /* a byte arrives for each "ready" step */
};

/* Gives fd the number `to` in the exec'd program: dup2 clears O_CLOEXEC on
 * the copy, but does nothing when the numbers are already equal. */
static inline int move_fd(int fd, int to)
{
    if (fd == to)
        return fcntl(fd, F_SETFD, 0);
    return dup2(fd, to) < 0 ? -1 : 0;
}

/* Starts this program again as "/proc/self/exe ARGV..."; argv ends with NULL. */
static inline int peer_start(struct peer *p, const char *const argv[])
{
    int go[2], ready[2];
    const char *args[32] = {"/proc/self/exe"};
    size_t n = 1;
    for (size_t i = 0; argv[i] != NULL && n < 31; i++)
        args[n++] = argv[i];

    p->pid = -1;
    if (pipe2(go, O_CLOEXEC) < 0)
        return CHECKF(0, "pipe2: %s", strerror(errno));
    if (pipe2(ready, O_CLOEXEC) < 0) {
        close(go[0]);
        close(go[1]);
        return CHECKF(0, "pipe2: %s", strerror(errno));
    }
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        if (move_fd(go[0], PEER_GO_FD) == 0 && move_fd(ready[1], PEER_READY_FD) == 0)
            execv(args[0], (char *const *)args);
        _exit(127);
    }
    close(go[0]);
    close(ready[1]);
    p->pid = pid;
    p->go = go[1];
    p->ready = ready[0];
    if (pid < 0) {
        close(go[1]);
        close(ready[0]);
        return CHECKF(0, "fork: %s", strerror(errno));
    }
    return 1;
}

/* Waits for the peer's next "ready"; fails if it exits or takes too long. */
static inline int peer_await(struct peer *p)
{
    struct pollfd pfd = {.fd = p->ready, .events = POLLIN};
    char c;
    if (poll(&pfd, 1, (int)(PATIENCE / MS)) == 1 && read(p->ready, &c, 1) == 1)
        return CHECK(1);
    return CHECKF(0, "peer %d did not get ready", (int)p->pid);
}

static inline void peer_go(struct peer *p)
{
    CHECK(write(p->go, "g", 1) == 1);
}

/* Lets the peer run to its end (its remaining "go" steps pass) and checks
 * it exited cleanly. */
static inline void peer_finish(struct peer *p, const char *what)
{
    if (p->pid < 0)
        return;
    close(p->go);
    close(p->ready);
    CHECK_EXIT_OK(harness_wait(p->pid), what);
    p->pid = -1;
}

/* A crash: SIGKILL, then reap it. */
static inline void peer_kill(struct peer *p)
{
    if (p->pid < 0)
        return;
    kill(p->pid, SIGKILL);
    harness_wait(p->pid);
    close(p->go);
    close(p->ready);
    p->pid = -1;
}

/* ----------------------------------------------------------- peer roles */

static inline int peer_end(const char *name)
{
    return strcmp(name, "producer") == 0 ? SHMLIB_CHAN_PRODUCER : SHMLIB_CHAN_CONSUMER;
}

/* "SEED:LEN" after a step's name; LEN may be "max". */
static inline void step_args(const char *s, uint32_t *seed, size_t *len, size_t max)
{
    char *end;
    *seed = (uint32_t)strtoul(s, &end, 10);
    *len = strcmp(end, ":max") == 0 ? max : (size_t)strtoull(end + 1, NULL, 10);
}

static inline int play_peer(int argc, char **argv)
{
    harness_child_begin("[peer] ");
    const char *key = argv[0];
    shmlib_chan_t chan = 0;
    uint64_t max = 0;
    char want[64];

    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        uint32_t seed;
        size_t len;
        char c;
        if (strncmp(s, "open:", 5) == 0) {
            if (open_end(key, peer_end(s + 5), &chan))
                CHECK_RC(shmlib_chan_max_message(chan, &max), 0);
        } else if (strncmp(s, "busy:", 5) == 0) {
            shmlib_chan_t other = 0;
            CHECK_FAILS(shmlib_chan_open(key, peer_end(s + 5), &other), SHMLIB_EBUSY, "chan_open",
                        key);
            snprintf(want, sizeof want, "pid %d", (int)getppid());
            CHECK_MESSAGE_HAS(want);
            CHECK_INT(other, 0);
        } else if (strncmp(s, "send:", 5) == 0) {
            step_args(s + 5, &seed, &len, max);
            CHECK_RC(send_pattern(chan, seed, len, PATIENCE), 0);
        } else if (strncmp(s, "reserve:", 8) == 0) {
            void *ptr = NULL;
            step_args(s + 8, &seed, &len, max);
            if (CHECK_RC(shmlib_chan_reserve(chan, len, PATIENCE, &ptr), 0))
                harness_fill(ptr, len, seed);
        } else if (strncmp(s, "recv:", 5) == 0) {
            step_args(s + 5, &seed, &len, max);
            RECV_PATTERN(chan, seed, len);
        } else if (strcmp(s, "eeos") == 0) {
            size_t got;
            CHECK_RC(shmlib_chan_recv(chan, NULL, 0, &got, PATIENCE), SHMLIB_EEOS);
        } else if (strcmp(s, "close") == 0) {
            close_end(chan);
            chan = 0;
        } else if (strcmp(s, "ready") == 0) {
            CHECK(write(PEER_READY_FD, "r", 1) == 1);
        } else if (strcmp(s, "go") == 0) {
            while (read(PEER_GO_FD, &c, 1) < 0 && errno == EINTR)
                ;
        } else if (strncmp(s, "sleep:", 6) == 0) {
            sleep_ms(atoi(s + 6));
        } else {
            harness_fail(__FILE__, __LINE__, "unknown step \"%s\"", s);
        }
    }
    harness_child_exit();
}

/* The length of message i of the FIFO test: the edges (0, 1, 16, max - 1,
 * max) often, otherwise anything from 0 to max. */
static inline size_t fifo_len(uint32_t i, size_t max)
{
    switch (i % 16) {
    case 0: return 0;
    case 1: return max;
    case 2: return max - 1;
    case 3: return 1;
    case 4: return 16;
    }
    return ((i * 2654435761u) >> 8) % (max + 1);
}

static inline int fifo_producer(const char *key, uint32_t count)
{
    harness_child_begin("[fifo producer] ");
    shmlib_chan_t chan;
    uint64_t max;
    if (!open_end(key, SHMLIB_CHAN_PRODUCER, &chan) ||
        !CHECK_RC(shmlib_chan_max_message(chan, &max), 0))
        harness_child_exit();
    unsigned char *buf = malloc(max);
    int bad = 0;
    for (uint32_t i = 0; i < count && !bad; i++) {
        size_t len = fifo_len(i, max);
        int rc;
        if (i % 2 == 0) {
            /* In place; every third one reserves more than it commits. */
            size_t extra = i % 3 == 0 ? (max - len < 13 ? max - len : 13) : 0;
            void *ptr = NULL;
            rc = shmlib_chan_reserve(chan, len + extra, PATIENCE, &ptr);
            if (rc == 0 && !aligned16(ptr)) {
                harness_fail(__FILE__, __LINE__, "reserve of message %u: %p is not 16-byte "
                             "aligned", i, ptr);
                bad = 1;
            }
            if (rc == 0) {
                harness_fill(ptr, len, i);
                rc = shmlib_chan_commit(chan, len);
            }
        } else {
            harness_fill(buf, len, i);
            rc = shmlib_chan_send(chan, buf, len, PATIENCE);
        }
        if (rc != 0) {
            harness_fail(__FILE__, __LINE__, "message %u (%zu bytes): %s", i, len,
                         harness_last_error());
            bad = 1;
        }
    }
    if (!bad)
        CHECK(1); /* every message sent */
    free(buf);
    close_end(chan);
    harness_child_exit();
}

static inline int fifo_consumer(const char *key, uint32_t count)
{
    harness_child_begin("[fifo consumer] ");
    shmlib_chan_t chan;
    uint64_t max;
    if (!open_end(key, SHMLIB_CHAN_CONSUMER, &chan) ||
        !CHECK_RC(shmlib_chan_max_message(chan, &max), 0))
        harness_child_exit();
    unsigned char *buf = malloc(max);
    int bad = 0;
    for (uint32_t i = 0; i < count && !bad; i++) {
        size_t want = fifo_len(i, max), len = 0, wrong = 0;
        const void *ptr = NULL;
        int rc;
        if (i % 2 == 0) {
            rc = shmlib_chan_peek(chan, PATIENCE, &ptr, &len);
            if (rc == 0 && !aligned16(ptr)) {
                harness_fail(__FILE__, __LINE__, "peek of message %u: %p is not 16-byte aligned",
                             i, ptr);
                bad = 1;
            }
        } else {
            rc = shmlib_chan_recv(chan, buf, max, &len, PATIENCE);
            ptr = buf;
        }
        if (rc != 0)
            harness_fail(__FILE__, __LINE__, "message %u: %s", i, harness_last_error());
        else if (len != want)
            harness_fail(__FILE__, __LINE__, "message %u has %zu bytes, want %zu", i, len, want);
        else if ((wrong = harness_verify(ptr, len, i)) != len)
            harness_fail(__FILE__, __LINE__, "message %u (%zu bytes): byte %zu is wrong", i, len,
                         wrong);
        bad = rc != 0 || len != want || wrong != len;
        if (rc == 0 && i % 2 == 0 && shmlib_chan_release(chan) != 0) {
            harness_fail(__FILE__, __LINE__, "release of message %u: %s", i, harness_last_error());
            bad = 1;
        }
    }
    if (!bad) {
        CHECK(1); /* every message received intact */
        size_t len;
        CHECK_RC(shmlib_chan_recv(chan, buf, max, &len, PATIENCE), SHMLIB_EEOS);
    }
    free(buf);
    close_end(chan);
    harness_child_exit();
}

/* ================================================================ tests */

/* ------------------------------------------------------------------ main */

/* After each test: nothing of this run may be left. */
static inline void chan_after(const char *test) { check_nothing_left(test); }

/* The main of every channel test program: a peer role when argv names one
 * (every program may start peers), else the tests named, or all. */
static inline int chan_main(const struct harness_test *tests, size_t n, int argc, char **argv)
{
    snprintf(prefix, sizeof prefix, "libshm-chan-%d", (int)getpid());

    if (argc >= 3 && strcmp(argv[1], "--peer") == 0)
        return play_peer(argc - 2, argv + 2);
    if (argc == 4 && strcmp(argv[1], "--fifo-producer") == 0)
        return fifo_producer(argv[2], (uint32_t)strtoul(argv[3], NULL, 10));
    if (argc == 4 && strcmp(argv[1], "--fifo-consumer") == 0)
        return fifo_consumer(argv[2], (uint32_t)strtoul(argv[3], NULL, 10));

    int64_t t0 = now_ns();
    int rc = harness_run_each(tests, n, argc, argv, chan_after);
    printf("%.1f s\n", (double)(now_ns() - t0) / 1e9);
    return rc;
}

#endif /* LIBSHM_TEST_CHANTEST_H */
