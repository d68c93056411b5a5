/*
 * test_chan.c - the channels of include/shmlib.h (shmlib_chan_*) against the
 * real kernel, on both backends, with real processes: a producer and a
 * consumer in processes of their own, killed with SIGKILL where a test needs
 * a crash, and the shared header scribbled on through a plain attach.
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

#include "harness.h"

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

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* ------------------------------------------------------------ patterns */

/* Byte j of message `seed`. The hash makes every message differ from the
 * others, and j >> 8 breaks the period of 256, so a message delivered
 * twice, out of order, shifted or torn shows. */
static unsigned char pattern(size_t j, uint32_t seed)
{
    uint32_t h = (seed + 1) * 2654435761u;
    return (unsigned char)((h >> 16) + j * 31u + (j >> 8));
}

static void fill(void *p, size_t len, uint32_t seed)
{
    unsigned char *b = p;
    for (size_t j = 0; j < len; j++)
        b[j] = pattern(j, seed);
}

/* Offset of the first byte that is not pattern(seed), or len if all are. */
static size_t verify(const void *p, size_t len, uint32_t seed)
{
    const unsigned char *b = p;
    for (size_t j = 0; j < len; j++)
        if (b[j] != pattern(j, seed))
            return j;
    return len;
}

static int aligned16(const void *p)
{
    return ((uintptr_t)p & 15) == 0;
}

/* ---------------------------------------------------------- call checks */

/* The last error names the operation, and the key where there is one. */
static void check_message(const char *op, const char *key, const char *file, int line)
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
static int new_chan(enum backend b, uint64_t capacity, char key[SHMLIB_KEY_MAX])
{
    static unsigned n;
    char want[SHMLIB_KEY_MAX];
    if (b == POSIX)
        snprintf(want, sizeof want, "posix:/%s-%u", prefix, n++);
    else
        snprintf(want, sizeof want, "sysv:");
    return CHECK_RC(shmlib_chan_create(want, capacity, 0, 0, key, SHMLIB_KEY_MAX), 0);
}

static int open_end(const char *key, int end, shmlib_chan_t *chan)
{
    *chan = 0;
    return CHECK_RC(shmlib_chan_open(key, end, chan), 0);
}

static void close_end(shmlib_chan_t chan)
{
    if (chan != 0)
        CHECK_RC(shmlib_chan_close(chan), 0);
}

/* A plain mapping of the channel's segment, to look at and scribble on the
 * shared state as any attached process could. */
static unsigned char *plain_attach(const char *key)
{
    void *addr = NULL;
    return CHECK_RC(shmlib_attach(key, NULL, 0, &addr, NULL), 0) ? addr : NULL;
}

static uint64_t get64(const unsigned char *base, size_t off)
{
    uint64_t v;
    memcpy(&v, base + off, sizeof v);
    return v;
}

static uint32_t get32(const unsigned char *base, size_t off)
{
    uint32_t v;
    memcpy(&v, base + off, sizeof v);
    return v;
}

static void put64(unsigned char *base, size_t off, uint64_t v) { memcpy(base + off, &v, sizeof v); }
static void put32(unsigned char *base, size_t off, uint32_t v) { memcpy(base + off, &v, sizeof v); }

static int send_pattern(shmlib_chan_t chan, uint32_t seed, size_t len, int64_t timeout_ns)
{
    unsigned char *buf = malloc(len + 1);
    fill(buf, len, seed);
    int rc = shmlib_chan_send(chan, buf, len, timeout_ns);
    free(buf);
    return rc;
}

/* Receives one message and checks it is pattern `seed` of len bytes. */
static void recv_pattern(shmlib_chan_t chan, uint32_t seed, size_t len, const char *file, int line)
{
    unsigned char *buf = malloc(len + 1);
    size_t got = (size_t)-1;
    int rc = shmlib_chan_recv(chan, buf, len + 1, &got, PATIENCE);
    if (harness_check_rc(rc, 0, file, line, "shmlib_chan_recv") &&
        harness_check_int((long long)got, (long long)len, file, line, "received length"))
        harness_check_int((long long)verify(buf, len, seed), (long long)len, file, line,
                          "first wrong byte of the received message");
    free(buf);
}

#define RECV_PATTERN(chan, seed, len) recv_pattern((chan), (seed), (len), __FILE__, __LINE__)

/* Sends max-size messages with timeout 0 until the ring is full; returns
 * how many, seeds first_seed, first_seed + 1, ... */
static unsigned fill_ring(shmlib_chan_t chan, size_t max, uint32_t first_seed)
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
static void check_nothing_left(const char *test)
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
static int move_fd(int fd, int to)
{
    if (fd == to)
        return fcntl(fd, F_SETFD, 0);
    return dup2(fd, to) < 0 ? -1 : 0;
}

/* Starts this program again as "/proc/self/exe ARGV..."; argv ends with NULL. */
static int peer_start(struct peer *p, const char *const argv[])
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
static int peer_await(struct peer *p)
{
    struct pollfd pfd = {.fd = p->ready, .events = POLLIN};
    char c;
    if (poll(&pfd, 1, (int)(PATIENCE / MS)) == 1 && read(p->ready, &c, 1) == 1)
        return CHECK(1);
    return CHECKF(0, "peer %d did not get ready", (int)p->pid);
}

static void peer_go(struct peer *p)
{
    CHECK(write(p->go, "g", 1) == 1);
}

/* Lets the peer run to its end (its remaining "go" steps pass) and checks
 * it exited cleanly. */
static void peer_finish(struct peer *p, const char *what)
{
    if (p->pid < 0)
        return;
    close(p->go);
    close(p->ready);
    CHECK_EXIT_OK(harness_wait(p->pid), what);
    p->pid = -1;
}

/* A crash: SIGKILL, then reap it. */
static void peer_kill(struct peer *p)
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

static int peer_end(const char *name)
{
    return strcmp(name, "producer") == 0 ? SHMLIB_CHAN_PRODUCER : SHMLIB_CHAN_CONSUMER;
}

/* "SEED:LEN" after a step's name; LEN may be "max". */
static void step_args(const char *s, uint32_t *seed, size_t *len, size_t max)
{
    char *end;
    *seed = (uint32_t)strtoul(s, &end, 10);
    *len = strcmp(end, ":max") == 0 ? max : (size_t)strtoull(end + 1, NULL, 10);
}

static int play_peer(int argc, char **argv)
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
                fill(ptr, len, seed);
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
static size_t fifo_len(uint32_t i, size_t max)
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

static int fifo_producer(const char *key, uint32_t count)
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
                fill(ptr, len, i);
                rc = shmlib_chan_commit(chan, len);
            }
        } else {
            fill(buf, len, i);
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

static int fifo_consumer(const char *key, uint32_t count)
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
        else if ((wrong = verify(ptr, len, i)) != len)
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

/* Creation: capacity rounding, the segment's size and flag, the errors of
 * shmlib_create, and the header that chan_create lays out. */
static void test_create(void)
{
    char key[SHMLIB_KEY_MAX], plain[SHMLIB_KEY_MAX], out[SHMLIB_KEY_MAX], want[SHMLIB_KEY_MAX];
    shmlib_stat_t st;
    shmlib_chan_t chan;
    uint64_t max;

    for (int b = POSIX; b <= SYSV; b++) {
        printf("   %s\n", backend_names[b]);
        /* Requested capacity -> rounded data area. */
        static const uint64_t caps[][2] = {{1, 4096}, {4096, 4096}, {4097, 8192}, {5000, 8192}};
        for (size_t i = 0; i < sizeof caps / sizeof caps[0]; i++) {
            if (!new_chan(b, caps[i][0], key))
                continue;
            if (CHECK_RC(shmlib_stat(key, &st), 0)) {
                CHECKF(st.size == caps[i][1] + 4096, "capacity %" PRIu64 ": segment of %" PRIu64
                       " bytes, want %" PRIu64, caps[i][0], st.size, caps[i][1] + 4096);
                CHECK(st.flags & SHMLIB_STAT_CHANNEL);
                CHECK_INT(st.mode, 0600); /* mode 0 means 0600, as for create */
                CHECK_INT(st.backend, b == POSIX ? SHMLIB_BACKEND_POSIX : SHMLIB_BACKEND_SYSV);
            }
            if (open_end(key, SHMLIB_CHAN_PRODUCER, &chan)) {
                CHECK(chan != 0);
                max = 0;
                CHECK_RC(shmlib_chan_max_message(chan, &max), 0);
                CHECK_INT(max, caps[i][1] / 2 - 16);
                close_end(chan);
            }
            CHECK_RC(shmlib_destroy(key), 0);
        }

        /* The flag, in list as in stat, and only on channels. */
        if (!new_chan(b, 4096, key))
            continue;
        const char *plain_key = b == POSIX ? "posix:" : "sysv:";
        CHECK_RC(shmlib_create(plain_key, 8192, 0, 0, plain, sizeof plain), 0);
        CHECK_RC(shmlib_stat(plain, &st), 0);
        CHECK(!(st.flags & SHMLIB_STAT_CHANNEL));
        size_t count = 0, found = 0;
        CHECK_RC(shmlib_list(NULL, 0, &count), 0);
        shmlib_stat_t *items = calloc(count + 16, sizeof *items);
        if (CHECK_RC(shmlib_list(items, count + 16, &count), 0)) {
            for (size_t i = 0; i < count; i++) {
                if (strcmp(items[i].key, key) == 0)
                    found += CHECK(items[i].flags & SHMLIB_STAT_CHANNEL);
                if (strcmp(items[i].key, plain) == 0)
                    found += CHECK(!(items[i].flags & SHMLIB_STAT_CHANNEL));
            }
        }
        CHECK_INT(found, 2);
        free(items);

        /* A plain segment, even of a channel's size, is not a channel. */
        chan = 12345;
        CHECK_FAILS(shmlib_chan_open(plain, SHMLIB_CHAN_CONSUMER, &chan), SHMLIB_EINVAL,
                    "chan_open", plain);
        CHECK_MESSAGE_HAS("not a channel");
        CHECK_INT(chan, 12345); /* untouched on failure */
        CHECK_RC(shmlib_destroy(plain), 0);
        CHECK_RC(shmlib_create(plain_key, 100, 0, 0, plain, sizeof plain), 0);
        CHECK_FAILS(shmlib_chan_open(plain, SHMLIB_CHAN_PRODUCER, &chan), SHMLIB_EINVAL,
                    "chan_open", plain);
        CHECK_MESSAGE_HAS("not a channel");
        CHECK_RC(shmlib_destroy(plain), 0);

        /* The header chan_create laid out, as layout.go documents it. */
        unsigned char *base = plain_attach(key);
        if (base != NULL) {
            CHECK(memcmp(base + OFF_MAGIC, "LSHMCHAN", 8) == 0);
            CHECK_INT(get32(base, OFF_VERSION), 2);
            CHECK_INT(get32(base, OFF_DATA_OFFSET), DATA);
            CHECK_INT(get64(base, OFF_CAPACITY), 4096);
            CHECK_INT(get64(base, OFF_MAX_MESSAGE), 4096 / 2 - 16);
            CHECK_INT(get64(base, OFF_TAIL), 0);
            CHECK_INT(get64(base, OFF_HEAD), 0);
            CHECK_RC(shmlib_detach(base), 0);
        }

        /* Exclusive, and OPEN_EXISTING refused (even for a new key). */
        memset(out, '#', sizeof out);
        CHECK_FAILS(shmlib_chan_create(key, 4096, 0, 0, out, sizeof out), SHMLIB_EEXIST,
                    "chan_create", key);
        CHECK_FAILS(shmlib_chan_create(key, 4096, 0, SHMLIB_OPEN_EXISTING, out, sizeof out),
                    SHMLIB_EINVAL, "chan_create", key);
        CHECK_RC(shmlib_destroy(key), 0);
        CHECK_FAILS(shmlib_chan_create(key, 4096, 0, SHMLIB_OPEN_EXISTING, out, sizeof out),
                    SHMLIB_EINVAL, "chan_create", key);
        CHECK_FAILS(shmlib_chan_open(key, SHMLIB_CHAN_CONSUMER, &chan), SHMLIB_ENOENT,
                    "chan_open", key);

        /* Capacity out of range, unknown and backend-specific flags, no room
         * for the key: refused, nothing made, out_key untouched. POSIX by a
         * name of this run, so that a leftover would be seen. */
        char any[SHMLIB_KEY_MAX];
        if (b == POSIX)
            snprintf(any, sizeof any, "posix:/%s-refused", prefix);
        else
            snprintf(any, sizeof any, "sysv:");
        const char *named = b == POSIX ? any : NULL; /* the key the message names */
        CHECK_FAILS(shmlib_chan_create(any, 0, 0, 0, out, sizeof out), SHMLIB_EINVAL,
                    "chan_create", named);
        CHECK_FAILS(shmlib_chan_create(any, 8 * GIB + 1, 0, 0, out, sizeof out), SHMLIB_EINVAL,
                    "chan_create", named);
        CHECK_FAILS(shmlib_chan_create(any, UINT64_MAX, 0, 0, out, sizeof out), SHMLIB_EINVAL,
                    "chan_create", named);
        CHECK_FAILS(shmlib_chan_create(any, 4096, 0, 0x8000, out, sizeof out), SHMLIB_EINVAL,
                    "chan_create", named);
        CHECK_FAILS(shmlib_chan_create(any, 4096, 01000, 0, out, sizeof out), SHMLIB_EINVAL,
                    "chan_create", named);
        CHECK_FAILS(shmlib_chan_create(any, 4096, 0, b == POSIX ? SHMLIB_HUGETLB : SHMLIB_SPARSE,
                                       out, sizeof out),
                    SHMLIB_ENOTSUP, "chan_create", named);
        if (b == SYSV) /* a key the library chooses needs out_key */
            CHECK_FAILS(shmlib_chan_create(any, 4096, 0, 0, NULL, 0), SHMLIB_EINVAL,
                        "chan_create", NULL);
        CHECK_FAILS(shmlib_chan_create(any, 4096, 0, 0, out, 8), SHMLIB_ERANGE, "chan_create",
                    named);
        size_t untouched = 0;
        while (untouched < sizeof out && out[untouched] == '#')
            untouched++;
        CHECKF(untouched == sizeof out, "a failed chan_create wrote out_key");
        check_nothing_left("the failed chan_create calls");
    }

    /* Keys of every form, and the mode applied exactly. */
    snprintf(want, sizeof want, "posix:/%s-named", prefix);
    if (CHECK_RC(shmlib_chan_create(want, 4096, 0640, 0, out, sizeof out), 0)) {
        CHECK_STR(out, want);
        CHECK_RC(shmlib_stat(out, &st), 0);
        CHECK_INT(st.mode, 0640);
        CHECK_RC(shmlib_destroy(out), 0);
    }
    static const char *const chosen[] = {NULL, "", "posix:", "sysv:private"};
    for (size_t i = 0; i < sizeof chosen / sizeof chosen[0]; i++) {
        if (!CHECK_RC(shmlib_chan_create(chosen[i], 4096, 0, 0, out, sizeof out), 0))
            continue;
        CHECKF(strncmp(out, i < 3 ? "posix:/" : "sysv:id=", i < 3 ? 7 : 8) == 0,
               "chan_create(\"%s\") gave key %s", chosen[i] ? chosen[i] : "NULL", out);
        if (open_end(out, SHMLIB_CHAN_CONSUMER, &chan))
            close_end(chan);
        CHECK_RC(shmlib_destroy(out), 0);
        CHECK_RC(shmlib_stat(out, &st), SHMLIB_ENOENT);
    }

    /* The largest capacity, 8 GiB: sparse, so nothing is reserved. */
    if (CHECK_RC(shmlib_chan_create("posix:", 8 * GIB, 0, SHMLIB_SPARSE, out, sizeof out), 0)) {
        CHECK_RC(shmlib_stat(out, &st), 0);
        CHECK_INT(st.size, 8 * GIB + 4096);
        if (open_end(out, SHMLIB_CHAN_PRODUCER, &chan)) {
            CHECK_RC(shmlib_chan_max_message(chan, &max), 0);
            CHECK_INT(max, 4 * GIB - 16);
            close_end(chan);
        }
        CHECK_RC(shmlib_destroy(out), 0);
    }
}

/* Many messages of every length through a 4 KiB ring, so it wraps around
 * thousands of times, from a producer process to a consumer process. */
static void test_fifo(void)
{
    const uint32_t count = 20000;
    char key[SHMLIB_KEY_MAX], n[16];
    snprintf(n, sizeof n, "%u", count);

    for (int b = POSIX; b <= SYSV; b++) {
        printf("   %s\n", backend_names[b]);
        if (!new_chan(b, 4096, key))
            continue;
        struct peer prod = {.pid = -1}, cons = {.pid = -1};
        int64_t t0 = now_ns();
        if (peer_start(&cons, (const char *[]){"--fifo-consumer", key, n, NULL}) &&
            peer_start(&prod, (const char *[]){"--fifo-producer", key, n, NULL})) {
            peer_finish(&prod, "fifo producer");
        }
        peer_finish(&cons, "fifo consumer");
        printf("   %u messages in %.0f ms\n", count, (double)(now_ns() - t0) / 1e6);

        /* Everything was consumed: head caught up with tail. */
        unsigned char *base = plain_attach(key);
        if (base != NULL) {
            CHECK_INT(get64(base, OFF_HEAD), get64(base, OFF_TAIL));
            CHECKF(get64(base, OFF_TAIL) > 1000 * 4096, "tail %" PRIu64 ": the ring wrapped "
                   "fewer than 1000 times", get64(base, OFF_TAIL));
            CHECK_RC(shmlib_detach(base), 0);
        }
        CHECK_RC(shmlib_destroy(key), 0);
    }
}

/* Writing in place: reserve, fill, commit. */
static void test_reserve_commit(void)
{
    char key[SHMLIB_KEY_MAX];
    shmlib_chan_t prod, cons;
    void *ptr, *ptr2;
    const void *cptr;
    size_t len;
    uint64_t max;

    for (int b = POSIX; b <= SYSV; b++) {
        printf("   %s\n", backend_names[b]);
        if (!new_chan(b, 4096, key))
            continue;
        if (!open_end(key, SHMLIB_CHAN_PRODUCER, &prod) ||
            !open_end(key, SHMLIB_CHAN_CONSUMER, &cons)) {
            CHECK_RC(shmlib_destroy(key), 0);
            continue;
        }
        unsigned char *base = plain_attach(key);
        CHECK_RC(shmlib_chan_max_message(prod, &max), 0);

        /* Commit with nothing reserved. */
        CHECK_FAILS(shmlib_chan_commit(prod, 0), SHMLIB_EINVAL, "chan_commit", key);

        /* The reservation lies in the segment, 16-byte aligned, where the
         * first record's payload goes, and is invisible until committed. */
        ptr = NULL;
        if (CHECK_RC(shmlib_chan_reserve(prod, 100, 0, &ptr), 0)) {
            CHECK(aligned16(ptr));
            fill(ptr, 100, 1);
            if (base != NULL)
                CHECK_INT(verify(base + DATA + RECORD_HEADER, 100, 1), 100);
        }
        cptr = &len;
        len = 77;
        CHECK_FAILS(shmlib_chan_peek(cons, 0, &cptr, &len), SHMLIB_ETIMEDOUT, "chan_peek", key);
        CHECK(cptr == (const void *)&len && len == 77); /* untouched on failure */

        /* One reservation at a time; no send meanwhile. */
        ptr2 = &len;
        CHECK_FAILS(shmlib_chan_reserve(prod, 10, 0, &ptr2), SHMLIB_EINVAL, "chan_reserve", key);
        CHECK(ptr2 == (void *)&len);
        CHECK_FAILS(shmlib_chan_send(prod, "x", 1, 0), SHMLIB_EINVAL, "chan_send", key);
        /* Commit more than reserved: refused, the reservation stays. */
        CHECK_FAILS(shmlib_chan_commit(prod, 101), SHMLIB_EINVAL, "chan_commit", key);
        /* Commit less: the message is that long. */
        CHECK_RC(shmlib_chan_commit(prod, 40), 0);
        CHECK_FAILS(shmlib_chan_commit(prod, 40), SHMLIB_EINVAL, "chan_commit", key);
        RECV_PATTERN(cons, 1, 40);

        /* Zero bytes reserved and committed: an empty message. */
        CHECK_RC(shmlib_chan_reserve(prod, 0, 0, &ptr), 0);
        CHECK_RC(shmlib_chan_commit(prod, 0), 0);
        len = 99;
        CHECK_RC(shmlib_chan_recv(cons, NULL, 0, &len, 0), 0);
        CHECK_INT(len, 0);
        /* send of 0 bytes from NULL is fine too. */
        CHECK_RC(shmlib_chan_send(prod, NULL, 0, 0), 0);
        len = 99;
        CHECK_RC(shmlib_chan_recv(cons, NULL, 0, &len, 0), 0);
        CHECK_INT(len, 0);

        /* The largest message fits, one byte more does not. */
        CHECK_FAILS(shmlib_chan_reserve(prod, max + 1, 0, &ptr), SHMLIB_EMSGSIZE, "chan_reserve",
                    key);
        CHECK_FAILS(send_pattern(prod, 2, max + 1, 0), SHMLIB_EMSGSIZE, "chan_send", key);
        if (CHECK_RC(shmlib_chan_reserve(prod, max, 0, &ptr), 0)) {
            CHECK(aligned16(ptr));
            fill(ptr, max, 3);
            CHECK_RC(shmlib_chan_commit(prod, max), 0);
        }
        RECV_PATTERN(cons, 3, max);

        /* Each end does only its own part. */
        CHECK_FAILS(shmlib_chan_reserve(cons, 1, 0, &ptr), SHMLIB_EINVAL, "chan_reserve", key);
        CHECK_FAILS(shmlib_chan_commit(cons, 0), SHMLIB_EINVAL, "chan_commit", key);
        CHECK_FAILS(shmlib_chan_send(cons, "x", 1, 0), SHMLIB_EINVAL, "chan_send", key);
        CHECK_FAILS(shmlib_chan_recv(prod, &len, sizeof len, &len, 0), SHMLIB_EINVAL, "chan_recv",
                    key);
        CHECK_FAILS(shmlib_chan_peek(prod, 0, &cptr, &len), SHMLIB_EINVAL, "chan_peek", key);
        CHECK_FAILS(shmlib_chan_release(prod), SHMLIB_EINVAL, "chan_release", key);

        if (base != NULL)
            CHECK_RC(shmlib_detach(base), 0);
        close_end(prod);
        close_end(cons);
        CHECK_RC(shmlib_destroy(key), 0);
    }
}

/* Reading in place: peek, use, release; and recv into a small buffer. */
static void test_peek_release(void)
{
    char key[SHMLIB_KEY_MAX];
    shmlib_chan_t prod, cons;
    const void *ptr, *ptr2;
    size_t len, len2;
    uint64_t max;
    unsigned char buf[256];

    for (int b = POSIX; b <= SYSV; b++) {
        printf("   %s\n", backend_names[b]);
        if (!new_chan(b, 4096, key))
            continue;
        if (!open_end(key, SHMLIB_CHAN_PRODUCER, &prod) ||
            !open_end(key, SHMLIB_CHAN_CONSUMER, &cons)) {
            CHECK_RC(shmlib_destroy(key), 0);
            continue;
        }
        unsigned char *base = plain_attach(key);
        CHECK_RC(shmlib_chan_max_message(prod, &max), 0);

        CHECK_FAILS(shmlib_chan_release(cons), SHMLIB_EINVAL, "chan_release", key);

        /* The first message, in place: in the segment's pages (a write
         * through another mapping shows through the pointer) and aligned. */
        CHECK_RC(send_pattern(prod, 1, max, 0), 0);
        CHECK_RC(send_pattern(prod, 2, max, 0), 0); /* the ring is now full */
        ptr = NULL;
        len = 0;
        if (CHECK_RC(shmlib_chan_peek(cons, 0, &ptr, &len), 0)) {
            CHECK(aligned16(ptr));
            CHECK_INT(len, max);
            CHECK_INT(verify(ptr, len, 1), max);
            if (base != NULL) {
                CHECK(ptr != base + DATA + RECORD_HEADER); /* the handle's own mapping */
                base[DATA + RECORD_HEADER] ^= 0xff;
                CHECK(((const unsigned char *)ptr)[0] == (unsigned char)(pattern(0, 1) ^ 0xff));
                base[DATA + RECORD_HEADER] ^= 0xff;
            }
        }
        /* One message held at a time: no second peek, no recv. */
        ptr2 = &len2;
        len2 = 5;
        CHECK_FAILS(shmlib_chan_peek(cons, 0, &ptr2, &len2), SHMLIB_EINVAL, "chan_peek", key);
        CHECK(ptr2 == (const void *)&len2 && len2 == 5);
        CHECK_FAILS(shmlib_chan_recv(cons, buf, sizeof buf, &len2, 0), SHMLIB_EINVAL, "chan_recv",
                    key);
        /* While held, its memory is not the producer's: the ring stays full. */
        CHECK_FAILS(send_pattern(prod, 3, max, 0), SHMLIB_ETIMEDOUT, "chan_send", key);
        CHECK_INT(verify(ptr, len, 1), max);
        CHECK_RC(shmlib_chan_release(cons), 0);
        CHECK_FAILS(shmlib_chan_release(cons), SHMLIB_EINVAL, "chan_release", key);
        CHECK_RC(send_pattern(prod, 3, max, 0), 0); /* room again */
        RECV_PATTERN(cons, 2, max);
        RECV_PATTERN(cons, 3, max);

        /* A message longer than the buffer stays: ERANGE with its length. */
        CHECK_RC(send_pattern(prod, 4, 200, 0), 0);
        len = 0;
        CHECK_FAILS(shmlib_chan_recv(cons, buf, 199, &len, 0), SHMLIB_ERANGE, "chan_recv", key);
        CHECK_INT(len, 200);
        len = 0;
        CHECK_FAILS(shmlib_chan_recv(cons, NULL, 0, &len, 0), SHMLIB_ERANGE, "chan_recv", key);
        CHECK_INT(len, 200);
        len = 0;
        if (CHECK_RC(shmlib_chan_peek(cons, 0, &ptr, &len), 0)) {
            CHECK_INT(len, 200);
            CHECK_INT(verify(ptr, len, 4), 200);
            CHECK_RC(shmlib_chan_release(cons), 0);
        }

        /* Nothing there: ETIMEDOUT, and out_len is not written. */
        len = 1234;
        CHECK_FAILS(shmlib_chan_recv(cons, buf, sizeof buf, &len, 0), SHMLIB_ETIMEDOUT,
                    "chan_recv", key);
        CHECK_INT(len, 1234);

        /* Closing with a message held does not release it: the next
         * consumer, in another process, receives it again. */
        CHECK_RC(send_pattern(prod, 5, 33, 0), 0);
        CHECK_RC(shmlib_chan_peek(cons, 0, &ptr, &len), 0);
        close_end(cons);
        struct peer p = {.pid = -1};
        if (peer_start(&p, (const char *[]){"--peer", key, "open:consumer", "recv:5:33", "close",
                                            NULL}))
            peer_finish(&p, "the next consumer");

        if (base != NULL)
            CHECK_RC(shmlib_detach(base), 0);
        close_end(prod);
        CHECK_RC(shmlib_destroy(key), 0);
    }
}

/* A timeout of 0 never waits, a positive one waits that long, a negative
 * one until the other process acts. */
static void test_timeouts(void)
{
    char key[SHMLIB_KEY_MAX];
    shmlib_chan_t prod, cons;
    const void *ptr;
    void *wptr;
    size_t len;
    uint64_t max;
    unsigned char buf[64];
    int64_t t0, dt;
    struct peer p = {.pid = -1};

    for (int b = POSIX; b <= SYSV; b++) {
        printf("   %s\n", backend_names[b]);
        if (!new_chan(b, 4096, key))
            continue;
        if (!open_end(key, SHMLIB_CHAN_PRODUCER, &prod) ||
            !open_end(key, SHMLIB_CHAN_CONSUMER, &cons)) {
            CHECK_RC(shmlib_destroy(key), 0);
            continue;
        }
        CHECK_RC(shmlib_chan_max_message(prod, &max), 0);

        /* Empty ring. */
        t0 = now_ns();
        CHECK_FAILS(shmlib_chan_recv(cons, buf, sizeof buf, &len, 0), SHMLIB_ETIMEDOUT,
                    "chan_recv", key);
        CHECK_FAILS(shmlib_chan_peek(cons, 0, &ptr, &len), SHMLIB_ETIMEDOUT, "chan_peek", key);
        dt = now_ns() - t0;
        CHECKF(dt < 50 * MS, "two calls with timeout 0 took %.1f ms", (double)dt / 1e6);
        t0 = now_ns();
        CHECK_FAILS(shmlib_chan_recv(cons, buf, sizeof buf, &len, 50 * MS), SHMLIB_ETIMEDOUT,
                    "chan_recv", key);
        dt = now_ns() - t0;
        CHECKF(dt >= 50 * MS && dt < 1000 * MS, "recv with 50 ms returned after %.1f ms",
               (double)dt / 1e6);
        t0 = now_ns();
        CHECK_FAILS(shmlib_chan_peek(cons, 30 * MS, &ptr, &len), SHMLIB_ETIMEDOUT, "chan_peek",
                    key);
        dt = now_ns() - t0;
        CHECKF(dt >= 30 * MS && dt < 1000 * MS, "peek with 30 ms returned after %.1f ms",
               (double)dt / 1e6);

        /* Full ring. */
        unsigned sent = fill_ring(prod, max, 1);
        CHECK_INT(sent, 2);
        t0 = now_ns();
        CHECK_FAILS(send_pattern(prod, 9, max, 0), SHMLIB_ETIMEDOUT, "chan_send", key);
        CHECK_FAILS(shmlib_chan_reserve(prod, 1, 0, &wptr), SHMLIB_ETIMEDOUT, "chan_reserve",
                    key);
        dt = now_ns() - t0;
        CHECKF(dt < 50 * MS, "two calls with timeout 0 took %.1f ms", (double)dt / 1e6);
        t0 = now_ns();
        CHECK_FAILS(shmlib_chan_reserve(prod, 1, 50 * MS, &wptr), SHMLIB_ETIMEDOUT,
                    "chan_reserve", key);
        dt = now_ns() - t0;
        CHECKF(dt >= 50 * MS && dt < 1000 * MS, "reserve with 50 ms returned after %.1f ms",
               (double)dt / 1e6);
        t0 = now_ns();
        CHECK_FAILS(send_pattern(prod, 9, 1, 30 * MS), SHMLIB_ETIMEDOUT, "chan_send", key);
        dt = now_ns() - t0;
        CHECKF(dt >= 30 * MS && dt < 1000 * MS, "send with 30 ms returned after %.1f ms",
               (double)dt / 1e6);

        /* Forever, and any negative value: until the other process acts.
         * The consumer goes to a peer that drains the ring 100 ms after
         * the producer has started to wait. */
        close_end(cons);
        if (peer_start(&p, (const char *[]){"--peer", key, "open:consumer", "ready", "go",
                                            "sleep:100", "recv:1:max", "go", "sleep:100",
                                            "recv:2:max", "recv:3:10", "recv:4:max", "close",
                                            NULL}) &&
            peer_await(&p)) {
            peer_go(&p);
            t0 = now_ns();
            int rc = shmlib_chan_reserve(prod, 10, SHMLIB_WAIT_FOREVER, &wptr);
            dt = now_ns() - t0;
            CHECKF(dt >= 80 * MS, "reserve(WAIT_FOREVER) returned after %.1f ms, before the "
                   "consumer received anything", (double)dt / 1e6);
            if (CHECK_RC(rc, 0)) {
                fill(wptr, 10, 3);
                CHECK_RC(shmlib_chan_commit(prod, 10), 0);
            }
            peer_go(&p);
            t0 = now_ns();
            CHECK_RC(send_pattern(prod, 4, max, INT64_MIN), 0);
            dt = now_ns() - t0;
            CHECKF(dt >= 80 * MS, "send(INT64_MIN) returned after %.1f ms, before the consumer "
                   "received anything", (double)dt / 1e6);
        }
        peer_finish(&p, "the draining consumer");

        close_end(prod);
        CHECK_RC(shmlib_destroy(key), 0);

        /* And the other way, on a new channel (the producer's close ended
         * that stream): a consumer waiting forever for a producer process. */
        if (!new_chan(b, 4096, key))
            continue;
        if (open_end(key, SHMLIB_CHAN_CONSUMER, &cons) &&
            peer_start(&p, (const char *[]){"--peer", key, "open:producer", "ready", "go",
                                            "sleep:100", "send:7:33", "close", NULL}) &&
            peer_await(&p)) {
            peer_go(&p);
            t0 = now_ns();
            len = 0;
            CHECK_RC(shmlib_chan_recv(cons, buf, sizeof buf, &len, SHMLIB_WAIT_FOREVER), 0);
            dt = now_ns() - t0;
            CHECKF(dt >= 80 * MS, "recv(WAIT_FOREVER) returned after %.1f ms, before the "
                   "producer sent", (double)dt / 1e6);
            CHECK_INT(len, 33);
            CHECK_INT(verify(buf, 33, 7), 33);
        }
        peer_finish(&p, "the late producer");
        close_end(cons);
        CHECK_RC(shmlib_destroy(key), 0);
    }
}

/* The producer's close ends the stream, after everything it committed. */
static void test_end_of_stream(void)
{
    char key[SHMLIB_KEY_MAX];
    shmlib_chan_t cons, chan;
    const void *ptr;
    size_t len;
    unsigned char buf[16];
    struct peer p = {.pid = -1};

    for (int b = POSIX; b <= SYSV; b++) {
        printf("   %s\n", backend_names[b]);
        if (!new_chan(b, 4096, key))
            continue;
        if (!open_end(key, SHMLIB_CHAN_CONSUMER, &cons)) {
            CHECK_RC(shmlib_destroy(key), 0);
            continue;
        }
        /* N messages, then close, in another process; a reservation
         * pending at close is dropped. */
        if (peer_start(&p, (const char *[]){"--peer", key, "open:producer", "send:1:10",
                                            "send:2:0", "send:3:max", "reserve:4:50", "close",
                                            NULL}))
            peer_finish(&p, "producer of 3");
        RECV_PATTERN(cons, 1, 10);
        RECV_PATTERN(cons, 2, 0);
        RECV_PATTERN(cons, 3, 4096 / 2 - 16);
        CHECK_FAILS(shmlib_chan_recv(cons, buf, sizeof buf, &len, 0), SHMLIB_EEOS, "chan_recv",
                    key);
        CHECK_FAILS(shmlib_chan_recv(cons, buf, sizeof buf, &len, SHMLIB_WAIT_FOREVER),
                    SHMLIB_EEOS, "chan_recv", key);
        CHECK_FAILS(shmlib_chan_peek(cons, PATIENCE, &ptr, &len), SHMLIB_EEOS, "chan_peek", key);

        /* The stream stays ended: no new producer, here or elsewhere. */
        chan = 0;
        CHECK_FAILS(shmlib_chan_open(key, SHMLIB_CHAN_PRODUCER, &chan), SHMLIB_EEOS, "chan_open",
                    key);
        CHECK_INT(chan, 0);
        close_end(cons);
        /* A new consumer of an ended stream gets EEOS too. */
        if (peer_start(&p, (const char *[]){"--peer", key, "open:consumer", "eeos", "close",
                                            NULL}))
            peer_finish(&p, "consumer of an ended stream");
        CHECK_RC(shmlib_destroy(key), 0);

        /* A consumer asleep in recv(WAIT_FOREVER) wakes up for the close. */
        if (!new_chan(b, 4096, key))
            continue;
        if (open_end(key, SHMLIB_CHAN_CONSUMER, &cons) &&
            peer_start(&p, (const char *[]){"--peer", key, "open:producer", "ready", "go",
                                            "sleep:100", "close", NULL}) &&
            peer_await(&p)) {
            peer_go(&p);
            int64_t t0 = now_ns();
            CHECK_FAILS(shmlib_chan_recv(cons, buf, sizeof buf, &len, SHMLIB_WAIT_FOREVER),
                        SHMLIB_EEOS, "chan_recv", key);
            int64_t dt = now_ns() - t0;
            CHECKF(dt >= 80 * MS && dt < 1000 * MS, "EEOS after %.1f ms for a close 100 ms on",
                   (double)dt / 1e6);
        }
        peer_finish(&p, "closing producer");
        close_end(cons);
        CHECK_RC(shmlib_destroy(key), 0);
    }
}

/* A thread blocked in a call on a handle, so that another can try it. */
struct blocked {
    shmlib_chan_t chan;
    int producer; /* reserve if set, otherwise recv */
    int started;
    int rc;
    size_t len;
    void *ptr;
    unsigned char buf[64];
};

static void *blocked_run(void *arg)
{
    struct blocked *bl = arg;
    __atomic_store_n(&bl->started, 1, __ATOMIC_SEQ_CST);
    if (bl->producer)
        bl->rc = shmlib_chan_reserve(bl->chan, 10, PATIENCE, &bl->ptr);
    else
        bl->rc = shmlib_chan_recv(bl->chan, bl->buf, sizeof bl->buf, &bl->len, PATIENCE);
    return NULL;
}

/* Starts the thread and gives it time to fall asleep in its call. */
static int blocked_start(pthread_t *t, struct blocked *bl)
{
    if (!CHECK(pthread_create(t, NULL, blocked_run, bl) == 0))
        return 0;
    while (!__atomic_load_n(&bl->started, __ATOMIC_SEQ_CST))
        sleep_ms(1);
    sleep_ms(100);
    return 1;
}

/* Each end is held by one process, and each handle used by one thread at a
 * time. */
static void test_busy(void)
{
    char key[SHMLIB_KEY_MAX], want[64];
    shmlib_chan_t prod, cons, other;
    const void *cptr;
    void *ptr;
    size_t len;
    uint64_t max;
    struct peer p = {.pid = -1};

    for (int b = POSIX; b <= SYSV; b++) {
        printf("   %s\n", backend_names[b]);
        if (!new_chan(b, 4096, key))
            continue;
        if (!open_end(key, SHMLIB_CHAN_PRODUCER, &prod)) {
            CHECK_RC(shmlib_destroy(key), 0);
            continue;
        }
        /* The producer end is held by this process: refused here, with our
         * pid, and in another process, with our pid. */
        other = 0;
        CHECK_FAILS(shmlib_chan_open(key, SHMLIB_CHAN_PRODUCER, &other), SHMLIB_EBUSY, "chan_open",
                    key);
        snprintf(want, sizeof want, "pid %d", (int)getpid());
        CHECK_MESSAGE_HAS(want);
        CHECK_INT(other, 0);
        if (peer_start(&p, (const char *[]){"--peer", key, "busy:producer", NULL}))
            peer_finish(&p, "second producer");

        /* The consumer end held by another process. */
        if (peer_start(&p, (const char *[]){"--peer", key, "open:consumer", "ready", "go", "close",
                                            "ready", "go", NULL}) &&
            peer_await(&p)) {
            CHECK_FAILS(shmlib_chan_open(key, SHMLIB_CHAN_CONSUMER, &other), SHMLIB_EBUSY,
                        "chan_open", key);
            snprintf(want, sizeof want, "pid %d", (int)p.pid);
            CHECK_MESSAGE_HAS(want);
            peer_go(&p); /* it closes: the end is free again */
            if (peer_await(&p) && open_end(key, SHMLIB_CHAN_CONSUMER, &other))
                close_end(other);
        }
        peer_finish(&p, "consumer holding its end");

        /* A thread asleep in reserve on a full ring: every call on that
         * handle from another thread is refused; other handles work, and
         * wake it. Nothing was sent yet, so two largest messages fill it. */
        if (!open_end(key, SHMLIB_CHAN_CONSUMER, &cons))
            continue;
        CHECK_RC(shmlib_chan_max_message(prod, &max), 0);
        CHECK_INT(fill_ring(prod, max, 10), 2);
        struct blocked bp = {.chan = prod, .producer = 1};
        pthread_t t;
        if (blocked_start(&t, &bp)) {
            CHECK_FAILS(send_pattern(prod, 2, 1, 0), SHMLIB_EBUSY, "chan_send", key);
            CHECK_FAILS(shmlib_chan_reserve(prod, 1, 0, &ptr), SHMLIB_EBUSY, "chan_reserve", key);
            CHECK_FAILS(shmlib_chan_commit(prod, 0), SHMLIB_EBUSY, "chan_commit", key);
            /* (close from another thread is not refused: test_wake.c) */
            RECV_PATTERN(cons, 10, max);
            pthread_join(t, NULL);
            /* The handle is free again, and any thread may go on. */
            if (prod != 0 && CHECK_RC(bp.rc, 0)) {
                fill(bp.ptr, 10, 12);
                CHECK_RC(shmlib_chan_commit(prod, 10), 0);
            }
            RECV_PATTERN(cons, 11, max);
            RECV_PATTERN(cons, 12, 10);
        }

        /* A thread asleep in recv, the same. */
        struct blocked bl = {.chan = cons};
        if (prod != 0 && blocked_start(&t, &bl)) {
            unsigned char buf[64];
            CHECK_FAILS(shmlib_chan_recv(cons, buf, sizeof buf, &len, 0), SHMLIB_EBUSY,
                        "chan_recv", key);
            CHECK_FAILS(shmlib_chan_peek(cons, 0, &cptr, &len), SHMLIB_EBUSY, "chan_peek", key);
            CHECK_FAILS(shmlib_chan_release(cons), SHMLIB_EBUSY, "chan_release", key);
            CHECK_RC(send_pattern(prod, 1, 20, 0), 0);
            pthread_join(t, NULL);
            CHECK_RC(bl.rc, 0);
            CHECK_INT(bl.len, 20);
            CHECK_INT(verify(bl.buf, 20, 1), 20);
        }
        close_end(cons);
        close_end(prod);
        CHECK_RC(shmlib_destroy(key), 0);
    }
}

/* A producer that dies: its committed messages arrive, then EPEER, never its
 * uncommitted reservation; a new process takes its end over. */
static void test_producer_killed(void)
{
    char key[SHMLIB_KEY_MAX], want[64];
    shmlib_chan_t cons;
    const void *ptr;
    size_t len;
    unsigned char buf[64];
    struct peer p = {.pid = -1};

    for (int b = POSIX; b <= SYSV; b++) {
        printf("   %s\n", backend_names[b]);
        if (!new_chan(b, 4096, key))
            continue;
        if (!open_end(key, SHMLIB_CHAN_CONSUMER, &cons)) {
            CHECK_RC(shmlib_destroy(key), 0);
            continue;
        }
        if (!peer_start(&p, (const char *[]){"--peer", key, "open:producer", "send:1:30",
                                             "send:2:31", "reserve:3:32", "ready", "go", NULL}) ||
            !peer_await(&p)) {
            peer_kill(&p);
            close_end(cons);
            CHECK_RC(shmlib_destroy(key), 0);
            continue;
        }
        pid_t dead = p.pid;
        int64_t killed = now_ns();
        peer_kill(&p);
        RECV_PATTERN(cons, 1, 30);
        RECV_PATTERN(cons, 2, 31);
        CHECK_FAILS(shmlib_chan_recv(cons, buf, sizeof buf, &len, 1000 * MS), SHMLIB_EPEER,
                    "chan_recv", key);
        int64_t dt = now_ns() - killed;
        CHECKF(dt < 500 * MS, "EPEER %.1f ms after the kill", (double)dt / 1e6);
        snprintf(want, sizeof want, "pid %d", (int)dead);
        CHECK_MESSAGE_HAS(want);
        /* It stays so, whatever the timeout. */
        CHECK_FAILS(shmlib_chan_recv(cons, buf, sizeof buf, &len, 0), SHMLIB_EPEER, "chan_recv",
                    key);
        CHECK_FAILS(shmlib_chan_peek(cons, SHMLIB_WAIT_FOREVER, &ptr, &len), SHMLIB_EPEER,
                    "chan_peek", key);

        /* A new producer takes the dead one's end, and the stream goes on
         * where the committed messages ended. */
        if (peer_start(&p, (const char *[]){"--peer", key, "open:producer", "send:4:33", "close",
                                            NULL}))
            peer_finish(&p, "producer taking over");
        RECV_PATTERN(cons, 4, 33);
        CHECK_FAILS(shmlib_chan_recv(cons, buf, sizeof buf, &len, 0), SHMLIB_EEOS, "chan_recv",
                    key);
        close_end(cons);
        CHECK_RC(shmlib_destroy(key), 0);
    }
}

/*
 * The same, but the dead producer is not reaped yet: it is a zombie of the
 * consumer's own process, which cannot reap it while it waits in recv. A
 * zombie has died all the same; the header promises EPEER.
 */
static void test_producer_killed_unreaped(void)
{
    char key[SHMLIB_KEY_MAX];
    shmlib_chan_t cons;
    size_t len;
    unsigned char buf[64];
    struct peer p = {.pid = -1};

    if (!new_chan(POSIX, 4096, key))
        return;
    if (open_end(key, SHMLIB_CHAN_CONSUMER, &cons) &&
        peer_start(&p, (const char *[]){"--peer", key, "open:producer", "send:1:30", "ready",
                                        "go", NULL}) &&
        peer_await(&p)) {
        int64_t killed = now_ns();
        kill(p.pid, SIGKILL);
        RECV_PATTERN(cons, 1, 30);
        CHECK_FAILS(shmlib_chan_recv(cons, buf, sizeof buf, &len, 1000 * MS), SHMLIB_EPEER,
                    "chan_recv", key);
        int64_t dt = now_ns() - killed;
        CHECKF(dt < 500 * MS, "EPEER %.1f ms after the kill", (double)dt / 1e6);
    }
    peer_kill(&p);
    close_end(cons);
    CHECK_RC(shmlib_destroy(key), 0);
}

struct killer {
    pid_t pid;
    int64_t killed; /* when */
};

static void *killer_run(void *arg)
{
    struct killer *k = arg;
    sleep_ms(150);
    k->killed = now_ns();
    kill(k->pid, SIGKILL);
    harness_wait(k->pid);
    return NULL;
}

/* The mirror: a consumer dies while the producer waits on a full ring. */
static void test_consumer_killed(void)
{
    char key[SHMLIB_KEY_MAX], want[64];
    shmlib_chan_t prod, cons;
    uint64_t max;
    struct peer p = {.pid = -1};

    for (int b = POSIX; b <= SYSV; b++) {
        printf("   %s\n", backend_names[b]);
        if (!new_chan(b, 4096, key))
            continue;
        if (!peer_start(&p, (const char *[]){"--peer", key, "open:consumer", "ready", "go", NULL})
            || !peer_await(&p) || !open_end(key, SHMLIB_CHAN_PRODUCER, &prod)) {
            peer_kill(&p);
            CHECK_RC(shmlib_destroy(key), 0);
            continue;
        }
        CHECK_RC(shmlib_chan_max_message(prod, &max), 0);
        /* Full, and the consumer alive: a plain timeout. */
        CHECK_INT(fill_ring(prod, max, 1), 2);
        CHECK_FAILS(send_pattern(prod, 3, max, 0), SHMLIB_ETIMEDOUT, "chan_send", key);

        struct killer k = {.pid = p.pid};
        pthread_t t;
        if (CHECK(pthread_create(&t, NULL, killer_run, &k) == 0)) {
            CHECK_FAILS(send_pattern(prod, 3, max, 2000 * MS), SHMLIB_EPEER, "chan_send", key);
            int64_t returned = now_ns();
            pthread_join(t, NULL);
            CHECKF(returned - k.killed < 500 * MS, "EPEER %.1f ms after the kill",
                   (double)(returned - k.killed) / 1e6);
            snprintf(want, sizeof want, "pid %d", (int)k.pid);
            CHECK_MESSAGE_HAS(want);
            CHECK_MESSAGE_HAS("consumer");
        }
        close(p.go);
        close(p.ready);

        /* A new consumer takes the end over and receives all that was sent;
         * then the producer goes on. */
        if (open_end(key, SHMLIB_CHAN_CONSUMER, &cons)) {
            RECV_PATTERN(cons, 1, max);
            RECV_PATTERN(cons, 2, max);
            CHECK_RC(send_pattern(prod, 3, max, 0), 0);
            RECV_PATTERN(cons, 3, max);
            close_end(cons);
        }
        close_end(prod);
        CHECK_RC(shmlib_destroy(key), 0);
    }
}

/* A consumer that closes its end tells a producer waiting for room that
 * nobody will make any, until another consumer opens the channel. */
static void test_consumer_closed(void)
{
    char key[SHMLIB_KEY_MAX];
    shmlib_chan_t prod, cons;
    uint64_t max;
    struct peer p = {.pid = -1};

    for (int b = POSIX; b <= SYSV; b++) {
        printf("   %s\n", backend_names[b]);
        if (!new_chan(b, 4096, key))
            continue;
        if (!open_end(key, SHMLIB_CHAN_PRODUCER, &prod)) {
            CHECK_RC(shmlib_destroy(key), 0);
            continue;
        }
        CHECK_RC(shmlib_chan_max_message(prod, &max), 0);
        CHECK_INT(fill_ring(prod, max, 1), 2);
        if (peer_start(&p, (const char *[]){"--peer", key, "open:consumer", "ready", "go",
                                            "sleep:150", "close", "ready", "go", NULL}) &&
            peer_await(&p)) {
            peer_go(&p);
            int64_t t0 = now_ns();
            CHECK_FAILS(send_pattern(prod, 3, max, 2000 * MS), SHMLIB_EPEER, "chan_send", key);
            int64_t dt = now_ns() - t0;
            CHECKF(dt >= 100 * MS && dt < 650 * MS,
                   "EPEER %.1f ms after the wait began, for a close 150 ms on", (double)dt / 1e6);
            CHECK_MESSAGE_HAS("closed");
            /* It stays so while the ring is full and nobody receives. */
            if (peer_await(&p))
                CHECK_FAILS(send_pattern(prod, 3, max, 0), SHMLIB_EPEER, "chan_send", key);
        }
        peer_finish(&p, "consumer that closes");

        /* Another consumer: a plain wait again, and the stream goes on. */
        if (open_end(key, SHMLIB_CHAN_CONSUMER, &cons)) {
            CHECK_FAILS(send_pattern(prod, 3, max, 0), SHMLIB_ETIMEDOUT, "chan_send", key);
            RECV_PATTERN(cons, 1, max);
            CHECK_RC(send_pattern(prod, 3, max, 0), 0);
            RECV_PATTERN(cons, 2, max);
            RECV_PATTERN(cons, 3, max);
            /* With room, a producer does not care whether anybody receives. */
            close_end(cons);
            CHECK_RC(send_pattern(prod, 4, 10, 0), 0);
        }
        close_end(prod);
        CHECK_RC(shmlib_destroy(key), 0);
    }
}

/*
 * A peer that does its last part properly (commits, closes, or makes room
 * and closes) and exits at about the moment the waiting side wakes to check
 * on it: a sleeping waiter looks every 100 ms or so, and the peer acts 97 to
 * 103 ms after the wait began. The waiter gets what the peer did, never
 * SHMLIB_EPEER: the peer did not die holding its end.
 */
static void test_peer_leaves_at_check(void)
{
    char key[SHMLIB_KEY_MAX], step[32];
    unsigned char buf[16];
    size_t len;
    uint64_t max;
    int rc;

    for (int delay = 97; delay <= 103; delay++) {
        snprintf(step, sizeof step, "sleep:%d", delay);
        for (int part = 0; part < 3; part++) {
            shmlib_chan_t chan = 0;
            struct peer p = {.pid = -1};
            if (!new_chan(POSIX, 4096, key))
                return;
            const char *const argv[3][9] = {
                {"--peer", key, "open:producer", "ready", "go", step, "close", NULL},
                {"--peer", key, "open:producer", "ready", "go", step, "send:1:8", "close", NULL},
                {"--peer", key, "open:consumer", "ready", "go", step, "recv:1:max", "close", NULL},
            };
            int end = part < 2 ? SHMLIB_CHAN_CONSUMER : SHMLIB_CHAN_PRODUCER;
            if (open_end(key, end, &chan) &&
                (part < 2 || (CHECK_RC(shmlib_chan_max_message(chan, &max), 0) &&
                              CHECK_INT(fill_ring(chan, max, 1), 2))) &&
                peer_start(&p, argv[part]) && peer_await(&p)) {
                peer_go(&p);
                switch (part) {
                case 0: /* the producer closes: end of stream */
                    rc = shmlib_chan_recv(chan, buf, sizeof buf, &len, SHMLIB_WAIT_FOREVER);
                    CHECKF(rc == SHMLIB_EEOS, "close %d ms on: recv gave %s (%s), want "
                           "SHMLIB_EEOS", delay, harness_code_name(rc), harness_last_error());
                    break;
                case 1: /* the producer sends, then closes */
                    rc = shmlib_chan_recv(chan, buf, sizeof buf, &len, SHMLIB_WAIT_FOREVER);
                    CHECKF(rc == 0 && len == 8 && verify(buf, 8, 1) == 8,
                           "send and close %d ms on: recv gave %s (%s), want the message",
                           delay, harness_code_name(rc), harness_last_error());
                    CHECK_RC(shmlib_chan_recv(chan, buf, sizeof buf, &len, SHMLIB_WAIT_FOREVER),
                             SHMLIB_EEOS);
                    break;
                case 2: /* the consumer makes room, then closes */
                    rc = send_pattern(chan, 3, max, SHMLIB_WAIT_FOREVER);
                    CHECKF(rc == 0, "room made and close %d ms on: send gave %s (%s), want 0",
                           delay, harness_code_name(rc), harness_last_error());
                    break;
                }
            }
            peer_finish(&p, argv[part][2]);
            close_end(chan);
            CHECK_RC(shmlib_destroy(key), 0);
        }
    }
}

/* One scribble on the shared state. */
struct scribble {
    const char *what;
    size_t off;
    int width; /* 4 or 8 bytes */
    uint64_t value;
    int producer; /* the producer's send notices it, else the consumer's recv */
    int want;     /* what chan_open gives, for scribbles on the header */
};

/* Writes s->value at its place and returns what was there. */
static uint64_t scribble(unsigned char *base, const struct scribble *s, uint64_t value)
{
    uint64_t old = s->width == 4 ? get32(base, s->off) : get64(base, s->off);
    if (s->width == 4)
        put32(base, s->off, (uint32_t)value);
    else
        put64(base, s->off, value);
    return old;
}

/* A channel whose shared state any attached process can overwrite: every
 * inconsistency gives ECORRUPT, never a crash or a wrong message, and
 * nothing is consumed on the way (putting the value back repairs it). */
static void test_corrupt(void)
{
    char key[SHMLIB_KEY_MAX];
    shmlib_chan_t prod, cons;
    const void *ptr;
    size_t len;
    unsigned char buf[4096];

    /* After "first message!!!" (32 bytes of record) was received and
     * "second" sent, head is 32 and tail 64; the second record is at 32. */
    const struct scribble cases[] = {
        {"tail far beyond head", OFF_TAIL, 8, UINT64_C(1) << 40, 0, 0},
        {"tail more than a capacity ahead", OFF_TAIL, 8, 32 + 4096 + 16, 0, 0},
        {"tail behind head", OFF_TAIL, 8, 16, 0, 0},
        {"tail not 16-byte aligned", OFF_TAIL, 8, 63, 0, 0},
        {"record length beyond the limit", DATA + 32, 4, 4096 / 2 - 16 + 1, 0, 0},
        {"record length of 2 GiB", DATA + 32, 4, UINT32_C(1) << 31, 0, 0},
        {"record length beyond what was committed", DATA + 32, 4, 100, 0, 0},
        {"unknown record kind", DATA + 32 + 4, 4, 7, 0, 0},
        {"record kind 0", DATA + 32 + 4, 4, 0, 0, 0},
        {"padding record short of the end", DATA + 32 + 4, 4, KIND_PADDING, 0, 0},
        {"head far beyond tail", OFF_HEAD, 8, UINT64_C(1) << 40, 1, 0},
        {"head beyond tail", OFF_HEAD, 8, 80, 1, 0},
    };

    for (int b = POSIX; b <= SYSV; b++) {
        printf("   %s\n", backend_names[b]);
        if (!new_chan(b, 4096, key))
            continue;
        unsigned char *base = plain_attach(key);
        if (base == NULL || !open_end(key, SHMLIB_CHAN_PRODUCER, &prod) ||
            !open_end(key, SHMLIB_CHAN_CONSUMER, &cons)) {
            CHECK_RC(shmlib_destroy(key), 0);
            continue;
        }
        CHECK_RC(shmlib_chan_send(prod, "first message!!!", 16, 0), 0);
        CHECK_RC(shmlib_chan_send(prod, "second", 6, 0), 0);
        CHECK_RC(shmlib_chan_recv(cons, buf, sizeof buf, &len, 0), 0);
        CHECK_INT(get64(base, OFF_HEAD), 32);
        CHECK_INT(get64(base, OFF_TAIL), 64);
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            const struct scribble *c = &cases[i];
            uint64_t saved = scribble(base, c, c->value);
            int rc = c->producer ? shmlib_chan_send(prod, "x", 1, 0)
                                 : shmlib_chan_recv(cons, buf, sizeof buf, &len, 0);
            CHECKF(rc == SHMLIB_ECORRUPT, "%s: %s returned %d %s, want SHMLIB_ECORRUPT; last "
                   "error \"%s\"", c->what, c->producer ? "send" : "recv", rc,
                   harness_code_name(rc), harness_last_error());
            check_message(c->producer ? "chan_send" : "chan_recv", key, __FILE__, __LINE__);
            if (!c->producer) /* peek reads the same way */
                CHECKF(shmlib_chan_peek(cons, 0, &ptr, &len) == SHMLIB_ECORRUPT,
                       "%s: peek did not give SHMLIB_ECORRUPT", c->what);
            scribble(base, c, saved);
        }
        /* Repaired: the second message is still there, and the ring works. */
        len = 0;
        CHECK_RC(shmlib_chan_recv(cons, buf, sizeof buf, &len, 0), 0);
        CHECK(len == 6 && memcmp(buf, "second", 6) == 0);
        CHECK_RC(send_pattern(prod, 1, 100, 0), 0);
        RECV_PATTERN(cons, 1, 100);
        close_end(cons);

        /* Opening checks the header, and head and tail. The consumer end is
         * opened: the producer's stays held, as closing it would end the
         * stream. */
        const uint64_t tail = get64(base, OFF_TAIL), head = get64(base, OFF_HEAD);
        const struct scribble at_open[] = {
            {"capacity unlike the segment size", OFF_CAPACITY, 8, 1 << 20, 0, SHMLIB_ECORRUPT},
            {"capacity not a multiple of 4096", OFF_CAPACITY, 8, 4095, 0, SHMLIB_ECORRUPT},
            {"data offset", OFF_DATA_OFFSET, 4, 8192, 0, SHMLIB_ECORRUPT},
            {"largest message", OFF_MAX_MESSAGE, 8, 4096, 0, SHMLIB_ECORRUPT},
            {"layout version 99", OFF_VERSION, 4, 99, 0, SHMLIB_ENOTSUP},
            {"magic", OFF_MAGIC, 8, 0, 0, SHMLIB_EINVAL},
            {"tail behind head", OFF_TAIL, 8, head - 16, 0, SHMLIB_ECORRUPT},
            {"tail a capacity ahead", OFF_TAIL, 8, head + 4096 + 16, 0, SHMLIB_ECORRUPT},
            {"tail not 16-byte aligned", OFF_TAIL, 8, tail + 1, 0, SHMLIB_ECORRUPT},
            {"head not 16-byte aligned", OFF_HEAD, 8, head - 1, 0, SHMLIB_ECORRUPT},
        };
        for (size_t i = 0; i < sizeof at_open / sizeof at_open[0]; i++) {
            const struct scribble *c = &at_open[i];
            int want = c->want;
            uint64_t saved = scribble(base, c, c->value);
            shmlib_chan_t chan = 0;
            int rc = shmlib_chan_open(key, SHMLIB_CHAN_CONSUMER, &chan);
            CHECKF(rc == want, "%s: open returned %d %s, want %d %s; last error \"%s\"", c->what,
                   rc, harness_code_name(rc), want, harness_code_name(want), harness_last_error());
            check_message("chan_open", key, __FILE__, __LINE__);
            if (rc == 0)
                close_end(chan);
            scribble(base, c, saved);
        }
        /* Repaired, it opens again: a refused open left the end free. */
        if (open_end(key, SHMLIB_CHAN_CONSUMER, &cons)) {
            CHECK_RC(send_pattern(prod, 2, 10, 0), 0);
            RECV_PATTERN(cons, 2, 10);
            close_end(cons);
        }
        close_end(prod);
        CHECK_RC(shmlib_detach(base), 0);
        CHECK_RC(shmlib_destroy(key), 0);
    }
}

/* Handles that are not open, and NULL output parameters. */
/* shmlib_chan_handover: the end is free for the next holder, the stream
 * goes on (no end of stream), and the old handle is gone. */
static void test_handover(void)
{
    char key[SHMLIB_KEY_MAX], buf[16];
    shmlib_chan_t tx, tx2, rx;
    size_t n;

    if (!new_chan(POSIX, 4096, key))
        return;
    if (open_end(key, SHMLIB_CHAN_CONSUMER, &rx) && open_end(key, SHMLIB_CHAN_PRODUCER, &tx)) {
        CHECK_RC(shmlib_chan_send(tx, "one", 3, 0), 0);
        CHECK_RC(shmlib_chan_handover(tx), 0);
        CHECK_RC(shmlib_chan_send(tx, "x", 1, 0), SHMLIB_EINVAL); /* the handle is gone */
        CHECK_RC(shmlib_chan_handover(tx), SHMLIB_EINVAL);
        if (open_end(key, SHMLIB_CHAN_PRODUCER, &tx2)) { /* free: not EBUSY */
            CHECK_RC(shmlib_chan_send(tx2, "two", 3, 0), 0);
            CHECK_RC(shmlib_chan_recv(rx, buf, sizeof buf, &n, 0), 0);
            CHECK(n == 3 && memcmp(buf, "one", 3) == 0);
            CHECK_RC(shmlib_chan_recv(rx, buf, sizeof buf, &n, 0), 0);
            CHECK(n == 3 && memcmp(buf, "two", 3) == 0);
            CHECK_RC(shmlib_chan_recv(rx, buf, sizeof buf, &n, 0), SHMLIB_ETIMEDOUT);
            close_end(tx2);
        }
        close_end(rx);
    }
    CHECK_RC(shmlib_destroy(key), 0);
}

static void test_bad_arguments(void)
{
    char key[SHMLIB_KEY_MAX], buf[16];
    shmlib_chan_t prod, cons, closed, h;
    const void *cptr;
    void *ptr;
    size_t len;
    uint64_t max;

    if (!new_chan(POSIX, 4096, key))
        return;
    /* A closed handle stays invalid, also once other ends are opened. */
    if (!open_end(key, SHMLIB_CHAN_CONSUMER, &closed) || (close_end(closed), 0) ||
        !open_end(key, SHMLIB_CHAN_PRODUCER, &prod) ||
        !open_end(key, SHMLIB_CHAN_CONSUMER, &cons)) {
        CHECK_RC(shmlib_destroy(key), 0);
        return;
    }

    const shmlib_chan_t bad[] = {0, UINT64_C(0xdeadbeef), UINT64_MAX, closed};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        h = bad[i];
        if (!CHECKF(h != prod && h != cons, "a bad handle %" PRIu64 " was given out again", h))
            continue;
        CHECK_FAILS(shmlib_chan_close(h), SHMLIB_EINVAL, "chan_close", NULL);
        max = 7;
        CHECK_FAILS(shmlib_chan_max_message(h, &max), SHMLIB_EINVAL, "chan_max_message", NULL);
        CHECK_INT(max, 7);
        CHECK_FAILS(shmlib_chan_send(h, "x", 1, 0), SHMLIB_EINVAL, "chan_send", NULL);
        CHECK_FAILS(shmlib_chan_reserve(h, 1, 0, &ptr), SHMLIB_EINVAL, "chan_reserve", NULL);
        CHECK_FAILS(shmlib_chan_commit(h, 0), SHMLIB_EINVAL, "chan_commit", NULL);
        CHECK_FAILS(shmlib_chan_recv(h, buf, sizeof buf, &len, 0), SHMLIB_EINVAL, "chan_recv",
                    NULL);
        CHECK_FAILS(shmlib_chan_peek(h, 0, &cptr, &len), SHMLIB_EINVAL, "chan_peek", NULL);
        CHECK_FAILS(shmlib_chan_release(h), SHMLIB_EINVAL, "chan_release", NULL);
    }

    /* NULL where something must be written or read. */
    CHECK_RC(shmlib_chan_send(prod, "abc", 3, 0), 0); /* so that receiving could succeed */
    CHECK_FAILS(shmlib_chan_open(key, SHMLIB_CHAN_CONSUMER, NULL), SHMLIB_EINVAL, "chan_open",
                key);
    CHECK_FAILS(shmlib_chan_max_message(prod, NULL), SHMLIB_EINVAL, "chan_max_message", key);
    CHECK_FAILS(shmlib_chan_send(prod, NULL, 1, 0), SHMLIB_EINVAL, "chan_send", key);
    CHECK_FAILS(shmlib_chan_reserve(prod, 1, 0, NULL), SHMLIB_EINVAL, "chan_reserve", key);
    CHECK_FAILS(shmlib_chan_recv(cons, buf, sizeof buf, NULL, 0), SHMLIB_EINVAL, "chan_recv", key);
    CHECK_FAILS(shmlib_chan_recv(cons, NULL, sizeof buf, &len, 0), SHMLIB_EINVAL, "chan_recv",
                key);
    CHECK_FAILS(shmlib_chan_peek(cons, 0, NULL, &len), SHMLIB_EINVAL, "chan_peek", key);
    CHECK_FAILS(shmlib_chan_peek(cons, 0, &cptr, NULL), SHMLIB_EINVAL, "chan_peek", key);
    /* None of them consumed or sent anything. */
    CHECK_RC(shmlib_chan_recv(cons, buf, sizeof buf, &len, 0), 0);
    CHECK(len == 3 && memcmp(buf, "abc", 3) == 0);
    CHECK_RC(shmlib_chan_recv(cons, buf, sizeof buf, &len, 0), SHMLIB_ETIMEDOUT);

    /* Bad keys and ends. */
    CHECK_FAILS(shmlib_chan_open(NULL, SHMLIB_CHAN_CONSUMER, &h), SHMLIB_EINVAL, "chan_open",
                NULL);
    CHECK_FAILS(shmlib_chan_open("nonsense:key", SHMLIB_CHAN_CONSUMER, &h), SHMLIB_EINVAL,
                "chan_open", "nonsense:key");
    CHECK_FAILS(shmlib_chan_open("sysv:", SHMLIB_CHAN_CONSUMER, &h), SHMLIB_EINVAL, "chan_open",
                NULL);
    static const int ends[] = {0, 3, -1, SHMLIB_CHAN_PRODUCER | SHMLIB_CHAN_CONSUMER};
    for (size_t i = 0; i < sizeof ends / sizeof ends[0]; i++)
        CHECK_FAILS(shmlib_chan_open(key, ends[i], &h), SHMLIB_EINVAL, "chan_open", key);

    close_end(prod);
    close_end(cons);
    /* Closed twice. */
    CHECK_FAILS(shmlib_chan_close(prod), SHMLIB_EINVAL, "chan_close", NULL);
    CHECK_RC(shmlib_destroy(key), 0);
}

/* ------------------------------------------------------------------ main */

static const struct {
    const char *name;
    void (*run)(void);
} tests[] = {
#define TEST(name) {#name, name}
    TEST(test_create),
    TEST(test_fifo),
    TEST(test_reserve_commit),
    TEST(test_peek_release),
    TEST(test_timeouts),
    TEST(test_end_of_stream),
    TEST(test_busy),
    TEST(test_producer_killed),
    TEST(test_producer_killed_unreaped),
    TEST(test_consumer_killed),
    TEST(test_consumer_closed),
    TEST(test_peer_leaves_at_check),
    TEST(test_corrupt),
    TEST(test_handover),
    TEST(test_bad_arguments),
#undef TEST
};

/* test_chan [TEST_NAME...]: all tests, or only those named; or a peer role. */
int main(int argc, char **argv)
{
    snprintf(prefix, sizeof prefix, "libshm-chan-%d", (int)getpid());

    if (argc >= 3 && strcmp(argv[1], "--peer") == 0)
        return play_peer(argc - 2, argv + 2);
    if (argc == 4 && strcmp(argv[1], "--fifo-producer") == 0)
        return fifo_producer(argv[2], (uint32_t)strtoul(argv[3], NULL, 10));
    if (argc == 4 && strcmp(argv[1], "--fifo-consumer") == 0)
        return fifo_consumer(argv[2], (uint32_t)strtoul(argv[3], NULL, 10));

    int64_t t0 = now_ns();
    for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++) {
        int wanted = argc < 2;
        for (int a = 1; a < argc && !wanted; a++)
            wanted = strcmp(argv[a], tests[i].name) == 0;
        if (!wanted)
            continue;
        printf("-- %s\n", tests[i].name);
        fflush(stdout);
        tests[i].run();
        check_nothing_left(tests[i].name);
    }
    printf("%.1f s\n", (double)(now_ns() - t0) / 1e9);
    return harness_finish();
}

