/*
 * killer.c - kill -9 at random moments, and what must survive it.
 *
 * ROUNDS rounds (default 100; --quick: 10), rotating over four scenarios and
 * both backends. In each, a child process (this program exec'd in a role,
 * so that it may use libshm) is killed with SIGKILL after a random delay,
 * then reaped, and the parent checks:
 *
 *   A  segment: the child creates a segment, writes a checksummed region,
 *      says "ready", then loops attaching, writing and detaching it and
 *      creating and destroying scratch segments until it is killed. The
 *      segment and its committed region must survive intact (attach and
 *      verify); no attach may be left counted (System V); scratch segments
 *      the kill left behind must answer stat and attach with documented
 *      codes, and are removed.
 *   B  producer killed: the child sends checksummed messages (send and
 *      reserve/commit alternately) while the parent consumes. After the
 *      kill the parent receives what was committed, every message intact
 *      and in order, then SHMLIB_EPEER within a bounded wait (not a hang);
 *      it then takes the dead producer end over, and the stream goes on.
 *   C  consumer killed: the child receives (recv and peek/release
 *      alternately), checking every message, while the parent produces.
 *      After the kill the parent's sends fill the ring and then get
 *      SHMLIB_EPEER within a bounded wait; it takes the consumer end over
 *      and receives the rest of the stream intact and in order.
 *   D  both ends are children, one of them is killed: the survivor must
 *      get SHMLIB_EPEER and exit on its own (a hang is killed and counted);
 *      the parent takes the dead end over.
 *
 * Nothing corrupted may ever be delivered: every message carries its
 * sequence number, length and checksum. Every round destroys what it made.
 *
 *   killer [--quick] [--rounds N] [--seed N] [--no-isolate]
 *
 * KILLER_DEBUG=1 in the environment prints each round's time and what the
 * surviving children saw.
 */
#include <inttypes.h>
#include <poll.h>

#include "stress.h"

static char prefix[64];
static uint64_t rng;

/* How long anything may take before it counts as a hang. */
#define PATIENCE_NS 3000000000ll
#define CHILD_PATIENCE_NS 10000000000ll
#define CHAN_CAPACITY (64 * 1024)
#define SEG_SIZE (1024 * 1024)
#define REGION_OFF 4096
#define REGION_LEN (256 * 1024)
#define MSG_HDR 24

/* ---------------------------------------------------------------- messages */

/* [0,8) sequence number, [8,16) length, [16,24) checksum of the rest xor the
 * sequence number; then pattern bytes of the sequence number. */
static void make_msg(unsigned char *buf, uint64_t seq, size_t len)
{
    uint64_t l = len;
    memcpy(buf, &seq, 8);
    memcpy(buf + 8, &l, 8);
    harness_fill(buf + MSG_HDR, len - MSG_HDR, seq);
    uint64_t sum = stress_fnv(buf + MSG_HDR, len - MSG_HDR) ^ seq;
    memcpy(buf + 16, &sum, 8);
}

/* 0 if the n bytes at buf are an intact message; its number in *seq. */
static int check_msg(const unsigned char *buf, size_t n, uint64_t *seq)
{
    uint64_t l, sum;
    if (n < MSG_HDR)
        return -1;
    memcpy(seq, buf, 8);
    memcpy(&l, buf + 8, 8);
    memcpy(&sum, buf + 16, 8);
    if (l != n || sum != (stress_fnv(buf + MSG_HDR, n - MSG_HDR) ^ *seq))
        return -1;
    if (harness_verify(buf + MSG_HDR, n - MSG_HDR, *seq) != n - MSG_HDR)
        return -1;
    return 0;
}

static size_t msg_len(uint64_t *state, uint64_t max)
{
    if (stress_below(state, 5) == 0)
        return MSG_HDR + (size_t)stress_below(state, max - MSG_HDR + 1);
    return MSG_HDR + (size_t)stress_below(state, 1000);
}

/* ------------------------------------------------------------ child roles */

/* The roles write one byte to fd 3 when they reach their sync point. */
static void say_ready(void)
{
    char c = 'R';
    ssize_t n = write(3, &c, 1);
    (void)n;
}

/* A: create KEY, commit a checksummed region, then churn until killed. */
static int role_segment(const char *key, const char *scratch_prefix, uint64_t seed)
{
    harness_child_begin("[segment child] ");
    char made[SHMLIB_KEY_MAX];
    if (!CHECK_RC(shmlib_create(key, SEG_SIZE, 0600, 0, made, sizeof made), 0))
        harness_child_exit();
    void *a = NULL;
    if (!CHECK_RC(shmlib_attach(made, NULL, 0, &a, NULL), 0))
        harness_child_exit();
    unsigned char *p = a;
    harness_fill(p + REGION_OFF, REGION_LEN, seed);
    uint64_t hdr[4] = {0x4b494c4c4552ull, seed, stress_fnv(p + REGION_OFF, REGION_LEN), REGION_LEN};
    memcpy(p, hdr, sizeof hdr);
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    say_ready();
    uint64_t st = seed;
    for (unsigned long n = 0;; n++) {
        /* Uncommitted churn: the region after the committed one. */
        void *b = NULL;
        if (CHECK_RC(shmlib_attach(made, NULL, 0, &b, NULL), 0)) {
            unsigned char *q = b;
            size_t off = REGION_OFF + REGION_LEN + (size_t)stress_below(&st, SEG_SIZE - REGION_OFF - REGION_LEN - 4096);
            harness_fill(q + off, 4096, st);
            CHECK_RC(shmlib_detach(b), 0);
        }
        char want[SHMLIB_KEY_MAX], sk[SHMLIB_KEY_MAX];
        if (n % 2 == 0)
            snprintf(want, sizeof want, "posix:/%s-s%lu", scratch_prefix, n);
        else
            snprintf(want, sizeof want, "sysv:");
        uint64_t size = 4096ull << stress_below(&st, 13); /* 4 KiB .. 16 MiB */
        if (CHECK_RC(shmlib_create(want, size, 0600, 0, sk, sizeof sk), 0)) {
            void *c = NULL;
            if (CHECK_RC(shmlib_attach(sk, NULL, SHMLIB_POPULATE, &c, NULL), 0)) {
                memset(c, (int)n, 4096);
                CHECK_RC(shmlib_detach(c), 0);
            }
            CHECK_RC(shmlib_destroy(sk), 0);
        }
        if (harness_failed > 0)
            harness_child_exit();
    }
}

/* B/D: the producer. Sends until killed or until its consumer is gone. */
static int role_producer(const char *key, uint64_t first_seq, uint64_t seed)
{
    harness_child_begin("[producer child] ");
    shmlib_chan_t ch = 0;
    if (!CHECK_RC(shmlib_chan_open(key, SHMLIB_CHAN_PRODUCER, &ch), 0))
        harness_child_exit();
    uint64_t max = 0;
    CHECK_RC(shmlib_chan_max_message(ch, &max), 0);
    say_ready();
    unsigned char *buf = malloc(max);
    uint64_t st = seed;
    for (uint64_t seq = first_seq;; seq++) {
        size_t len = msg_len(&st, max);
        int rc;
        if (seq % 2 == 0) {
            make_msg(buf, seq, len);
            rc = shmlib_chan_send(ch, buf, len, SHMLIB_WAIT_FOREVER);
        } else {
            void *slot = NULL;
            rc = shmlib_chan_reserve(ch, len, SHMLIB_WAIT_FOREVER, &slot);
            if (rc == 0) {
                /* Written in place, in two halves: a kill in between must
                 * not publish anything. */
                make_msg(buf, seq, len);
                memcpy((unsigned char *)slot + len / 2, buf + len / 2, len - len / 2);
                memcpy(slot, buf, len / 2);
                rc = shmlib_chan_commit(ch, len);
            }
        }
        if (rc == SHMLIB_EPEER) {
            if (getenv("KILLER_DEBUG") != NULL)
                printf("[producer child] consumer gone after message %" PRIu64 "\n", seq - 1);
            CHECK_RC(shmlib_chan_close(ch), 0);
            harness_child_exit();
        }
        if (!CHECK_RC(rc, 0))
            harness_child_exit();
    }
}

/* C/D: the consumer. Receives until killed, the end of the stream, or its
 * producer is gone; exits 3 at once on a corrupt or out-of-order message. */
static int role_consumer(const char *key, uint64_t first_seq)
{
    harness_child_begin("[consumer child] ");
    shmlib_chan_t ch = 0;
    if (!CHECK_RC(shmlib_chan_open(key, SHMLIB_CHAN_CONSUMER, &ch), 0))
        harness_child_exit();
    uint64_t max = 0;
    CHECK_RC(shmlib_chan_max_message(ch, &max), 0);
    say_ready();
    unsigned char *buf = malloc(max);
    for (uint64_t want = first_seq, n = 0;; n++) {
        int rc;
        size_t len = 0;
        uint64_t seq = 0;
        int bad;
        if (n % 2 == 0) {
            rc = shmlib_chan_recv(ch, buf, max, &len, SHMLIB_WAIT_FOREVER);
            bad = rc == 0 && check_msg(buf, len, &seq) != 0;
        } else {
            const void *msg = NULL;
            rc = shmlib_chan_peek(ch, SHMLIB_WAIT_FOREVER, &msg, &len);
            bad = rc == 0 && check_msg(msg, len, &seq) != 0;
            if (rc == 0 && !bad)
                rc = shmlib_chan_release(ch);
        }
        if (rc == SHMLIB_EPEER || rc == SHMLIB_EEOS) {
            if (getenv("KILLER_DEBUG") != NULL)
                printf("[consumer child] %s after message %" PRIu64 "\n",
                       rc == SHMLIB_EPEER ? "producer gone" : "end of stream", want - 1);
            CHECK_RC(shmlib_chan_close(ch), 0);
            harness_child_exit();
        }
        if (!CHECK_RC(rc, 0))
            harness_child_exit();
        if (bad || seq != want) {
            harness_fail(__FILE__, __LINE__, "%s message: %zu bytes, number %" PRIu64 ", want %" PRIu64,
                         bad ? "corrupt" : "out-of-order", len, seq, want);
            fflush(stdout);
            _exit(3);
        }
        want++;
    }
}

/* --------------------------------------------------------------- children */

/* Every child's pid: outside isolation, the System V segments they made
 * are found by creator pid. */
static pid_t child_pids[1024];
static size_t nchild_pids;

struct child {
    pid_t pid;
    int ready_fd; /* read end of the child's fd 3 */
    int ready;
    int reaped;
    int status;
};

static void spawn(struct child *c, char *const args[])
{
    memset(c, 0, sizeof *c);
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) {
        harness_fail(__FILE__, __LINE__, "pipe2: %s", strerror(errno));
        c->pid = -1;
        return;
    }
    char *argv[16];
    int n = 0;
    argv[n++] = (char *)"/proc/self/exe";
    for (int i = 0; args[i] != NULL && n < 15; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    fflush(stdout);
    c->pid = fork();
    if (c->pid == 0) {
        if (fds[1] == 3)
            fcntl(3, F_SETFD, 0);
        else
            dup2(fds[1], 3);
        execv(argv[0], argv);
        _exit(127);
    }
    close(fds[1]);
    c->ready_fd = fds[0];
    if (c->pid > 0 && nchild_pids < sizeof child_pids / sizeof child_pids[0])
        child_pids[nchild_pids++] = c->pid;
    if (c->pid < 0)
        harness_fail(__FILE__, __LINE__, "fork: %s", strerror(errno));
}

/* Waits up to timeout_ns for the child's ready byte; gives c->ready. */
static int await_ready(struct child *c, int64_t timeout_ns)
{
    if (c->ready)
        return 1;
    struct pollfd pfd = {c->ready_fd, POLLIN, 0};
    int r = poll(&pfd, 1, (int)(timeout_ns / 1000000));
    if (r == 1 && (pfd.revents & POLLIN)) {
        char b;
        c->ready = read(c->ready_fd, &b, 1) == 1;
    }
    return c->ready;
}

static void kill_and_reap(struct child *c)
{
    kill(c->pid, SIGKILL);
    while (waitpid(c->pid, &c->status, 0) < 0 && errno == EINTR) {
    }
    c->reaped = 1;
    await_ready(c, 0); /* did it get there before it died? */
    close(c->ready_fd);
}

/* Waits for a child that should end on its own; a hang is killed. */
static int hangs;
static int finish(struct child *c, const char *what)
{
    int hung = stress_wait_timeout(c->pid, CHILD_PATIENCE_NS, &c->status);
    c->reaped = 1;
    close(c->ready_fd);
    if (hung) {
        hangs++;
        harness_fail(__FILE__, __LINE__, "%s did not end within %.0f s: killed (a hang)", what,
                     CHILD_PATIENCE_NS / 1e9);
        return 0;
    }
    return CHECK_EXIT_OK(c->status, what);
}

/* -------------------------------------------------------------- scenarios */

static long stat_halfmade, stat_kills, stat_epeer, stat_msgs, stat_takeovers, stat_leftovers, stat_early;
static int64_t stat_worst_epeer;

static void make_key(char *buf, size_t len, int sysv, int round, const char *what)
{
    if (sysv)
        snprintf(buf, len, "sysv:");
    else
        snprintf(buf, len, "posix:/%s-r%d-%s", prefix, round, what);
}

/* Removes the scratch segments a killed segment child left: POSIX ones by
 * name, System V ones by creator pid. Each must answer stat and attach with
 * documented codes first. */
static void sweep_scratch(const char *scratch_prefix, pid_t pid)
{
    char keys[64][SHMLIB_KEY_MAX];
    int n = 0;
    size_t nnames, nids;
    char **names = harness_devshm_names(scratch_prefix, 64, &nnames);
    int *ids = harness_sysv_ids_created_by(pid, 64 - nnames, &nids);
    for (size_t i = 0; i < nnames; i++)
        snprintf(keys[n++], SHMLIB_KEY_MAX, "posix:/%s", names[i]);
    for (size_t i = 0; i < nids; i++)
        snprintf(keys[n++], SHMLIB_KEY_MAX, "sysv:id=%d", ids[i]);
    harness_names_free(names, nnames);
    free(ids);
    for (int i = 0; i < n; i++) {
        shmlib_stat_t st;
        int rc = shmlib_stat(keys[i], &st);
        CHECKF(rc == 0 || rc == SHMLIB_ENOENT, "stat of left-over %s: %d %s", keys[i], rc,
               harness_code_name(rc));
        void *a = NULL;
        uint64_t size = 0;
        rc = shmlib_attach(keys[i], NULL, SHMLIB_RDONLY, &a, &size);
        CHECKF(rc == 0 || rc == SHMLIB_ENOENT || rc == SHMLIB_EINVAL || rc == SHMLIB_ENOMEM ||
                   rc == SHMLIB_EOS,
               "attach of left-over %s: %d %s (%s)", keys[i], rc, harness_code_name(rc),
               harness_last_error());
        if (rc == 0)
            CHECK_RC(shmlib_detach(a), 0);
        else {
            stat_halfmade++;
            printf("killer: left-over %s cannot be attached: %d %s (%s)\n", keys[i], rc,
                   harness_code_name(rc), harness_last_error());
        }
        rc = shmlib_destroy(keys[i]);
        CHECKF(rc == 0 || rc == SHMLIB_ENOENT, "destroy of left-over %s: %d %s", keys[i], rc,
               harness_code_name(rc));
        stat_leftovers++;
    }
}

static void scenario_segment(int round, int sysv)
{
    char key[SHMLIB_KEY_MAX], scratch[96], seed_s[32];
    /* The child creates the segment, so the key must be fully named. */
    if (sysv)
        snprintf(key, sizeof key, "sysv:key=0x%08x", 0x5e000000u | ((unsigned)getpid() & 0xffff) << 8 | (unsigned)(round & 0xff));
    else
        make_key(key, sizeof key, 0, round, "seg");
    snprintf(scratch, sizeof scratch, "%s-r%d-scratch", prefix, round);
    uint64_t seed = stress_rand(&rng);
    snprintf(seed_s, sizeof seed_s, "%" PRIu64, seed);
    char *args[] = {(char *)"--role", (char *)"segment", key, scratch, seed_s, NULL};
    struct child c;
    spawn(&c, args);
    if (c.pid < 0)
        return;
    if (!CHECKF(await_ready(&c, PATIENCE_NS), "round %d: the segment child never got ready", round)) {
        kill_and_reap(&c);
        shmlib_destroy(key);
        return;
    }
    stress_sleep_ns((int64_t)stress_below(&rng, 30000000));
    kill_and_reap(&c);
    stat_kills++;
    CHECKF(WIFSIGNALED(c.status) && WTERMSIG(c.status) == SIGKILL,
           "round %d: the segment child ended before the kill (status 0x%x)", round, (unsigned)c.status);

    void *a = NULL;
    uint64_t size = 0;
    if (CHECK_RC(shmlib_attach(key, NULL, 0, &a, &size), 0)) {
        CHECK_INT(size, SEG_SIZE);
        uint64_t hdr[4];
        memcpy(hdr, a, sizeof hdr);
        unsigned char *p = a;
        CHECKF(hdr[0] == 0x4b494c4c4552ull && hdr[1] == seed && hdr[3] == REGION_LEN &&
                   hdr[2] == stress_fnv(p + REGION_OFF, REGION_LEN) &&
                   harness_verify(p + REGION_OFF, REGION_LEN, seed) == REGION_LEN,
               "round %d: %s: the region committed before the kill is damaged", round, key);
        CHECK_RC(shmlib_detach(a), 0);
    }
    if (sysv) {
        shmlib_stat_t st;
        if (CHECK_RC(shmlib_stat(key, &st), 0))
            CHECKF(st.nattach == 0, "round %d: %s: %" PRId64 " attaches left after the kill", round,
                   key, st.nattach);
    }
    CHECK_RC(shmlib_destroy(key), 0);
    sweep_scratch(scratch, c.pid);
}

/* Receives on ch until it fails; checks every message and the order.
 * Returns the code that ended it; *next is the number expected next. */
static int drain_until(shmlib_chan_t ch, unsigned char *buf, uint64_t max, uint64_t *next,
                       int64_t timeout, int round, int strict_first, int64_t deadline)
{
    while (deadline == 0 || stress_now_ns() < deadline) {
        size_t len = 0;
        int rc = shmlib_chan_recv(ch, buf, max, &len, timeout);
        if (rc != 0)
            return rc;
        uint64_t seq = 0;
        if (!CHECKF(check_msg(buf, len, &seq) == 0, "round %d: corrupt message (%zu bytes) delivered",
                    round, len))
            return 0;
        if (!strict_first && *next == 0)
            *next = seq;
        if (!CHECKF(seq == *next, "round %d: message %" PRIu64 " delivered, want %" PRIu64, round,
                    seq, *next))
            return 0;
        (*next)++;
        stat_msgs++;
    }
    return SHMLIB_ETIMEDOUT;
}

static int drain(shmlib_chan_t ch, unsigned char *buf, uint64_t max, uint64_t *next, int64_t timeout,
                 int round, int strict_first)
{
    return drain_until(ch, buf, max, next, timeout, round, strict_first, 0);
}

/* Takes an end whose holder was killed; must not be SHMLIB_EBUSY. */
static int take_over(const char *key, int end, shmlib_chan_t *ch, int round)
{
    int rc = shmlib_chan_open(key, end, ch);
    if (CHECKF(rc == 0, "round %d: taking over the dead %s end of %s: %d %s (%s)", round,
               end == SHMLIB_CHAN_PRODUCER ? "producer" : "consumer", key, rc,
               harness_code_name(rc), harness_last_error())) {
        stat_takeovers++;
        return 1;
    }
    *ch = 0;
    return 0;
}

/* The peer of a killed end must hear of it: code `rc` after `took` ns. */
static void expect_epeer(int rc, int64_t took, int was_ready, int round, const char *what)
{
    if (rc == SHMLIB_EPEER && took > stat_worst_epeer)
        stat_worst_epeer = took;
    if (was_ready) {
        if (CHECKF(rc == SHMLIB_EPEER, "round %d: %s: %d %s after the kill, want SHMLIB_EPEER (%s)",
                   round, what, rc, harness_code_name(rc), harness_last_error()))
            stat_epeer++;
    } else {
        /* Killed before it took its end: there is no peer to be gone. */
        stat_early++;
        CHECKF(rc == SHMLIB_EPEER || rc == SHMLIB_ETIMEDOUT,
               "round %d: %s: %d %s after an early kill", round, what, rc, harness_code_name(rc));
    }
    CHECKF(took < PATIENCE_NS, "round %d: %s took %.2f s", round, what, took / 1e9);
}

static void scenario_producer_killed(int round, int sysv)
{
    char want[SHMLIB_KEY_MAX], key[SHMLIB_KEY_MAX], seed_s[32];
    make_key(want, sizeof want, sysv, round, "chan");
    if (!CHECK_RC(shmlib_chan_create(want, CHAN_CAPACITY, 0600, 0, key, sizeof key), 0))
        return;
    shmlib_chan_t cons = 0, prod = 0;
    uint64_t max = 0;
    CHECK_RC(shmlib_chan_open(key, SHMLIB_CHAN_CONSUMER, &cons), 0);
    CHECK_RC(shmlib_chan_max_message(cons, &max), 0);
    unsigned char *buf = malloc(max);
    snprintf(seed_s, sizeof seed_s, "%" PRIu64, stress_rand(&rng));
    char *args[] = {(char *)"--role", (char *)"producer", key, (char *)"1", seed_s, NULL};
    struct child c;
    spawn(&c, args);
    uint64_t next = 1;
    /* Consume while the producer runs, until the moment of the kill. */
    /* A quarter of the kills come early, counted from the spawn, and may
     * land before or inside the child's first libshm calls; the rest up to
     * 30 ms after it holds its end. */
    int64_t kill_at = stress_now_ns() + (int64_t)stress_below(&rng, 10000000);
    if (stress_below(&rng, 4) != 0) {
        await_ready(&c, PATIENCE_NS);
        kill_at = stress_now_ns() + (int64_t)stress_below(&rng, 30000000);
    }
    while (stress_now_ns() < kill_at) {
        int rc = drain_until(cons, buf, max, &next, 1000000, round, 1, kill_at);
        if (rc != SHMLIB_ETIMEDOUT && !CHECK_RC(rc, SHMLIB_ETIMEDOUT))
            break;
    }
    kill_and_reap(&c);
    stat_kills++;
    /* What was committed is received, intact; then the producer is gone. */
    /* After an early kill there is no peer to lose: the wait just times out. */
    int64_t patience = c.ready ? PATIENCE_NS : 300000000;
    int64_t t0 = stress_now_ns();
    int rc = drain(cons, buf, max, &next, patience, round, 1);
    expect_epeer(rc, stress_now_ns() - t0, c.ready, round, "recv after the producer was killed");
    rc = shmlib_chan_recv(cons, buf, max, &(size_t){0}, 0);
    CHECKF(rc == SHMLIB_EPEER || !c.ready, "round %d: recv(timeout 0) after the producer died: %d %s",
           round, rc, harness_code_name(rc));
    /* The dead end is taken over and the stream goes on. */
    if (take_over(key, SHMLIB_CHAN_PRODUCER, &prod, round)) {
        make_msg(buf, next, MSG_HDR + 100);
        CHECK_RC(shmlib_chan_send(prod, buf, MSG_HDR + 100, 0), 0);
        CHECK_INT(drain(cons, buf, max, &next, 0, round, 1), SHMLIB_ETIMEDOUT);
        CHECK_RC(shmlib_chan_close(prod), 0);
        CHECK_INT(drain(cons, buf, max, &next, PATIENCE_NS, round, 1), SHMLIB_EEOS);
    }
    CHECK_RC(shmlib_chan_close(cons), 0);
    CHECK_RC(shmlib_destroy(key), 0);
    free(buf);
}

static void scenario_consumer_killed(int round, int sysv)
{
    char want[SHMLIB_KEY_MAX], key[SHMLIB_KEY_MAX];
    make_key(want, sizeof want, sysv, round, "chan");
    if (!CHECK_RC(shmlib_chan_create(want, CHAN_CAPACITY, 0600, 0, key, sizeof key), 0))
        return;
    shmlib_chan_t prod = 0, cons = 0;
    uint64_t max = 0;
    CHECK_RC(shmlib_chan_open(key, SHMLIB_CHAN_PRODUCER, &prod), 0);
    CHECK_RC(shmlib_chan_max_message(prod, &max), 0);
    unsigned char *buf = malloc(max);
    char *args[] = {(char *)"--role", (char *)"consumer", key, (char *)"1", NULL};
    struct child c;
    spawn(&c, args);
    uint64_t seq = 1;
    /* A quarter of the kills come early, counted from the spawn, and may
     * land before or inside the child's first libshm calls; the rest up to
     * 30 ms after it holds its end. */
    int64_t kill_at = stress_now_ns() + (int64_t)stress_below(&rng, 10000000);
    if (stress_below(&rng, 4) != 0) {
        await_ready(&c, PATIENCE_NS);
        kill_at = stress_now_ns() + (int64_t)stress_below(&rng, 30000000);
    }
    while (stress_now_ns() < kill_at) {
        size_t len = msg_len(&rng, max);
        make_msg(buf, seq, len);
        int rc = shmlib_chan_send(prod, buf, len, 1000000);
        if (rc == 0)
            seq++;
        else if (!CHECK_RC(rc, SHMLIB_ETIMEDOUT))
            break;
    }
    kill_and_reap(&c);
    stat_kills++;
    CHECKF(!(WIFEXITED(c.status) && WEXITSTATUS(c.status) == 3),
           "round %d: the consumer child received a corrupt or out-of-order message", round);
    /* Sends fill the ring, then must hear that the consumer is gone. */
    int rc = 0;
    int64_t t0 = stress_now_ns();
    int64_t patience = c.ready ? PATIENCE_NS : 300000000;
    for (int n = 0; rc == 0 && n < CHAN_CAPACITY / 16; n++) {
        size_t len = msg_len(&rng, max);
        make_msg(buf, seq, len);
        t0 = stress_now_ns();
        rc = shmlib_chan_send(prod, buf, len, patience);
        if (rc == 0)
            seq++;
    }
    expect_epeer(rc, stress_now_ns() - t0, c.ready, round, "send after the consumer was killed");
    /* The dead consumer end is taken over; the rest of the stream arrives
     * intact and in order, up to the last message sent. */
    if (take_over(key, SHMLIB_CHAN_CONSUMER, &cons, round)) {
        uint64_t next = 0;
        rc = drain(cons, buf, max, &next, 0, round, 0);
        CHECK_INT(rc, SHMLIB_ETIMEDOUT);
        CHECKF(next == seq || (next == 0 && !c.ready),
               "round %d: after the takeover the stream ends at %" PRIu64 ", want %" PRIu64, round,
               next, seq);
        CHECK_RC(shmlib_chan_close(cons), 0);
    }
    CHECK_RC(shmlib_chan_close(prod), 0);
    CHECK_RC(shmlib_destroy(key), 0);
    free(buf);
}

static void scenario_children(int round, int sysv, int kill_producer)
{
    char want[SHMLIB_KEY_MAX], key[SHMLIB_KEY_MAX], seed_s[32];
    make_key(want, sizeof want, sysv, round, "chan");
    if (!CHECK_RC(shmlib_chan_create(want, CHAN_CAPACITY, 0600, 0, key, sizeof key), 0))
        return;
    snprintf(seed_s, sizeof seed_s, "%" PRIu64, stress_rand(&rng));
    char *pargs[] = {(char *)"--role", (char *)"producer", key, (char *)"1", seed_s, NULL};
    char *cargs[] = {(char *)"--role", (char *)"consumer", key, (char *)"1", NULL};
    struct child p, c;
    spawn(&p, pargs);
    spawn(&c, cargs);
    struct child *victim = kill_producer ? &p : &c, *survivor = kill_producer ? &c : &p;
    /* Both must hold their ends before the kill, or the survivor has no
     * peer to lose. */
    int ready = CHECKF(await_ready(&p, PATIENCE_NS) && await_ready(&c, PATIENCE_NS),
                       "round %d: the children never got ready", round);
    stress_sleep_ns((int64_t)stress_below(&rng, 30000000));
    kill_and_reap(victim);
    stat_kills++;
    char what[64];
    snprintf(what, sizeof what, "round %d: the surviving %s", round,
             kill_producer ? "consumer" : "producer");
    if (ready && finish(survivor, what))
        stat_epeer++;
    else if (!ready)
        kill_and_reap(survivor);
    /* The dead end is taken over. The surviving producer closed its end
     * (end of stream); a surviving consumer closed its own. */
    shmlib_chan_t ch = 0;
    int end = kill_producer ? SHMLIB_CHAN_PRODUCER : SHMLIB_CHAN_CONSUMER;
    if (take_over(key, end, &ch, round)) {
        if (!kill_producer) {
            uint64_t max = 0, next = 0;
            CHECK_RC(shmlib_chan_max_message(ch, &max), 0);
            unsigned char *buf = malloc(max);
            CHECK_INT(drain(ch, buf, max, &next, 0, round, 0), SHMLIB_EEOS);
            free(buf);
        }
        CHECK_RC(shmlib_chan_close(ch), 0);
    }
    CHECK_RC(shmlib_destroy(key), 0);
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc >= 3 && strcmp(argv[1], "--role") == 0) {
        if (strcmp(argv[2], "segment") == 0 && argc == 6)
            return role_segment(argv[3], argv[4], strtoull(argv[5], NULL, 10));
        if (strcmp(argv[2], "producer") == 0 && argc == 6)
            return role_producer(argv[3], strtoull(argv[4], NULL, 10), strtoull(argv[5], NULL, 10));
        if (strcmp(argv[2], "consumer") == 0 && argc == 5)
            return role_consumer(argv[3], strtoull(argv[4], NULL, 10));
        fprintf(stderr, "killer: bad role\n");
        return 2;
    }
    stress_isolate(&argc, argv, "1g", 256ull << 20);
    long rounds = 100;
    uint64_t seed = stress_fresh_seed();
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0)
            rounds = 10;
        else if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc)
            rounds = stress_parse_count(argv[++i]);
        else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc)
            seed = strtoull(argv[++i], NULL, 0);
        else {
            fprintf(stderr, "usage: %s [--quick] [--rounds N] [--seed N] [--no-isolate]\n", argv[0]);
            return 2;
        }
    }
    rng = seed;
    snprintf(prefix, sizeof prefix, "libshm-stress-kill-%d", (int)getpid());
    stress_say_where();
    printf("killer: %ld rounds, seed %" PRIu64 " (replay: --seed %" PRIu64 ")\n", rounds, seed, seed);
    signal(SIGPIPE, SIG_IGN);

    int64_t t0 = stress_now_ns();
    for (int r = 0; r < rounds; r++) {
        int sysv = (r / 4) % 2;
        int64_t tr = stress_now_ns();
        switch (r % 4) {
        case 0: scenario_segment(r, sysv); break;
        case 1: scenario_producer_killed(r, sysv); break;
        case 2: scenario_consumer_killed(r, sysv); break;
        case 3: scenario_children(r, sysv, (r / 8) % 2); break;
        }
        if (getenv("KILLER_DEBUG") != NULL)
            printf("round %d, scenario %c: %.0f ms\n", r, "ABCD"[r % 4], (stress_now_ns() - tr) / 1e6);
    }
    double secs = (double)(stress_now_ns() - t0) / 1e9;
    printf("killer: %ld kills, %ld peers told SHMLIB_EPEER (slowest %.0f ms), %ld early kills "
           "(before the child held its end), %ld takeovers, %ld messages checked, "
           "%ld left-over scratch segments removed (%ld of them unattachable), %d hangs; %.1f s\n",
           stat_kills, stat_epeer, stat_worst_epeer / 1e6, stat_early, stat_takeovers, stat_msgs,
           stat_leftovers, stat_halfmade, hangs, secs);
    CHECK_INT(hangs, 0);
    struct stress_owner owner = {prefix, child_pids, nchild_pids};
    stress_check_no_segments(&owner, "killer");
    return harness_finish();
}
