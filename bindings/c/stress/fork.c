/*
 * fork.c - fork() while other threads are inside libshm, over and over.
 *
 * The parent attaches four segments (two POSIX, two System V), then starts
 * four threads that call the library without pause: three loop create,
 * attach, write, read back, detach, destroy (both backends), one does the
 * same with channels (create, open both ends, send, receive, close,
 * destroy). Meanwhile the main thread forks CYCLES times (default 1000;
 * --quick: 100). Each child, forked at whatever moment the threads were in:
 *
 *   a. reads the memory the parent attached before the fork and checks
 *      every byte, then writes its own bytes there for the parent to check
 *      (a mapping inherited across fork shares its pages);
 *   b. calls every libshm function that needs the Go runtime (create,
 *      attach, detach of an inherited address, destroy of the parent's
 *      segment, stat, list, ftok, every shmlib_chan_*): each must return
 *      SHMLIB_EFORKED at once, leave its output parameters alone, and leave
 *      a last error that names the call and the fix (exec);
 *   c. calls shmlib_version, shmlib_version_string, shmlib_strerror and
 *      shmlib_last_error, which must work there;
 *
 * and leaves with _exit(0). The parent waits for each child at most
 * --timeout-ms (default 5000): a child that has not ended is a hang, and is
 * killed. Every EXEC_EVERY-th child (default 10) instead execs this program
 * afresh (role --exec-child), which must be able to use the library
 * normally: attach the parent's segment by key, check and write it, and
 * run a lifecycle of its own on both backends.
 *
 * A forked child does no stdio and takes no lock a parent thread may hold:
 * it reports failures with write(2).
 *
 *   fork [--quick] [--cycles N] [--exec-every N] [--timeout-ms N] [--no-isolate]
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>

#include "stress.h"

#define NSEGS 4
#define SEG_SIZE (64 * 1024)
#define PATTERN_OFF 4096        /* [4096, 32768): the parent's pattern, fixed */
#define CHILD_OFF 32768         /* [32768, +CHILD_LEN): what each child writes */
#define CHILD_LEN 512
#define NWORKERS 4

static char prefix[64];
static long cycles = 1000;
static long exec_every = 10;
static int64_t timeout_ns = 5000000000ll;

/* The segments attached before the forks: [0,8) holds the cycle number the
 * parent wrote just before forking, [8,16) the child's acknowledgement. */
struct seg {
    char key[SHMLIB_KEY_MAX];
    unsigned char *addr;
};
static struct seg segs[NSEGS];

static uint64_t pattern_tag(int i) { return 0xf0f0000000ull + (uint64_t)i; }
static uint64_t child_tag(long cycle, int i) { return ((uint64_t)cycle << 8) | (uint64_t)i; }
static uint64_t ack_of(long cycle) { return 0xac00000000000000ull | (uint64_t)cycle; }

/* ---------------------------------------------------------- parent threads */

static atomic_int stop;

struct worker {
    pthread_t thread;
    int index;
    long cycles;
    int failures;
};

#define W_EXPECT_RC(w, call, want)                                                       \
    (__extension__({                                                                     \
        int ok_ = CHECK_RC((call), (want));                                              \
        if (!ok_)                                                                        \
            (w)->failures++;                                                             \
        ok_;                                                                             \
    }))

static void segment_cycle(struct worker *w)
{
    char want[SHMLIB_KEY_MAX], key[SHMLIB_KEY_MAX];
    if ((w->cycles + w->index) % 2 == 0)
        snprintf(want, sizeof want, "posix:/%s-w%d-%ld", prefix, w->index, w->cycles);
    else
        snprintf(want, sizeof want, "sysv:");
    uint64_t size = 8192 + (uint64_t)(w->cycles % 5) * 4096;
    if (!W_EXPECT_RC(w, shmlib_create(want, size, 0600, 0, key, sizeof key), 0))
        return;
    void *a = NULL;
    if (W_EXPECT_RC(w, shmlib_attach(key, NULL, 0, &a, NULL), 0)) {
        uint64_t tag = ((uint64_t)w->index << 40) ^ (uint64_t)w->cycles;
        harness_fill(a, size, tag);
        size_t bad = harness_verify(a, size, tag);
        if (!CHECKF(bad == size, "worker %d: %s byte %zu differs", w->index, key, bad))
            w->failures++;
        W_EXPECT_RC(w, shmlib_detach(a), 0);
    }
    W_EXPECT_RC(w, shmlib_destroy(key), 0);
}

static void channel_cycle(struct worker *w)
{
    char want[SHMLIB_KEY_MAX], key[SHMLIB_KEY_MAX];
    if (w->cycles % 2 == 0)
        snprintf(want, sizeof want, "posix:/%s-c%ld", prefix, w->cycles);
    else
        snprintf(want, sizeof want, "sysv:");
    if (!W_EXPECT_RC(w, shmlib_chan_create(want, 8192, 0600, 0, key, sizeof key), 0))
        return;
    shmlib_chan_t p = 0, c = 0;
    if (W_EXPECT_RC(w, shmlib_chan_open(key, SHMLIB_CHAN_PRODUCER, &p), 0) &&
        W_EXPECT_RC(w, shmlib_chan_open(key, SHMLIB_CHAN_CONSUMER, &c), 0)) {
        for (int m = 0; m < 8; m++) {
            unsigned char msg[200], got[200];
            size_t len = 1 + (size_t)((w->cycles * 7 + m * 13) % 200), n = 0;
            uint64_t tag = ((uint64_t)w->cycles << 8) | (uint64_t)m;
            harness_fill(msg, len, tag);
            W_EXPECT_RC(w, shmlib_chan_send(p, msg, len, 0), 0);
            if (W_EXPECT_RC(w, shmlib_chan_recv(c, got, sizeof got, &n, 0), 0) &&
                !CHECKF(n == len && harness_verify(got, n, tag) == len,
                        "worker %d: channel %s message %d: %zu bytes, want %zu, or wrong bytes",
                        w->index, key, m, n, len))
                w->failures++;
        }
    }
    if (p != 0)
        W_EXPECT_RC(w, shmlib_chan_close(p), 0);
    if (c != 0)
        W_EXPECT_RC(w, shmlib_chan_close(c), 0);
    W_EXPECT_RC(w, shmlib_destroy(key), 0);
}

static void *worker_run(void *arg)
{
    struct worker *w = arg;
    while (!atomic_load(&stop) && w->failures < 10) {
        if (w->index == NWORKERS - 1)
            channel_cycle(w);
        else
            segment_cycle(w);
        w->cycles++;
    }
    return NULL;
}

/* ------------------------------------------------------------ forked child */

/* No stdio in a forked child: a parent thread may have held its lock at
 * the fork. snprintf into a local buffer and write(2) are safe. */
static int child_failures;
static long child_cycle;

static void child_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void child_fail(const char *fmt, ...)
{
    char msg[1024];
    int n = snprintf(msg, sizeof msg, "FAIL [forked child, cycle %ld] ", child_cycle);
    va_list ap;
    va_start(ap, fmt);
    n += vsnprintf(msg + n, sizeof msg - (size_t)n - 1, fmt, ap);
    va_end(ap);
    if (n > (int)sizeof msg - 2)
        n = (int)sizeof msg - 2;
    msg[n++] = '\n';
    ssize_t w = write(STDOUT_FILENO, msg, (size_t)n);
    (void)w;
    child_failures++;
}

/* rc must be SHMLIB_EFORKED and the last error must name op and the fix. */
static void child_expect_forked(const char *op, int rc)
{
    if (rc != SHMLIB_EFORKED) {
        child_fail("%s returned %d %s, want SHMLIB_EFORKED", op, rc, harness_code_name(rc));
        return;
    }
    char msg[600];
    int lrc = shmlib_last_error(msg, sizeof msg);
    if (lrc != 0 || strncmp(msg, op, strlen(op)) != 0 || msg[strlen(op)] != ':' ||
        strstr(msg, "fork") == NULL || strstr(msg, "exec") == NULL)
        child_fail("%s: last error (rc %d) is \"%s\"; want one naming %s, fork() and the fix, exec",
                   op, lrc, msg, op);
}

#define SENTINEL ((uint64_t)0x5e5e5e5e5e5e5e5eull)

static __attribute__((noreturn)) void forked_child(long cycle)
{
    child_cycle = cycle;
    /* a. The parent's memory, attached before the fork. */
    for (int i = 0; i < NSEGS; i++) {
        unsigned char *a = segs[i].addr;
        uint64_t stamp;
        memcpy(&stamp, a, 8);
        if (stamp != (uint64_t)cycle)
            child_fail("%s: stamp %" PRIu64 ", want %ld", segs[i].key, stamp, cycle);
        size_t bad = harness_verify(a + PATTERN_OFF, CHILD_OFF - PATTERN_OFF, pattern_tag(i));
        if (bad != CHILD_OFF - PATTERN_OFF)
            child_fail("%s: inherited byte %zu differs", segs[i].key, PATTERN_OFF + bad);
        harness_fill(a + CHILD_OFF, CHILD_LEN, child_tag(cycle, i));
        uint64_t ack = ack_of(cycle);
        memcpy(a + 8, &ack, 8);
    }

    /* b. Everything that needs the Go runtime is refused, outputs untouched. */
    char key[SHMLIB_KEY_MAX];
    memset(key, 'k', sizeof key);
    child_expect_forked("create", shmlib_create("sysv:", 4096, 0, 0, key, sizeof key));
    child_expect_forked("create", shmlib_create(NULL, 4096, 0, 0, key, sizeof key));
    if (key[0] != 'k')
        child_fail("create wrote out_key in a forked child");
    void *addr = (void *)SENTINEL;
    uint64_t size = SENTINEL;
    child_expect_forked("attach", shmlib_attach(segs[0].key, NULL, 0, &addr, &size));
    if (addr != (void *)SENTINEL || size != SENTINEL)
        child_fail("attach wrote its outputs in a forked child");
    child_expect_forked("detach", shmlib_detach(segs[cycle % NSEGS].addr));
    /* The refused detach left the inherited mapping in place. */
    if (harness_verify(segs[cycle % NSEGS].addr + PATTERN_OFF, 64, pattern_tag((int)(cycle % NSEGS))) != 64)
        child_fail("%s: the mapping changed after a refused detach", segs[cycle % NSEGS].key);
    child_expect_forked("destroy", shmlib_destroy(segs[(cycle + 1) % NSEGS].key));
    shmlib_stat_t st;
    memset(&st, 0x5e, sizeof st);
    child_expect_forked("stat", shmlib_stat(segs[0].key, &st));
    if (st.size != SENTINEL)
        child_fail("stat wrote out_stat in a forked child");
    size_t count = (size_t)SENTINEL;
    child_expect_forked("list", shmlib_list(NULL, 0, &count));
    if (count != (size_t)SENTINEL)
        child_fail("list wrote out_count in a forked child");
    child_expect_forked("ftok", shmlib_ftok("/", 1, key, sizeof key));
    child_expect_forked("chan_create", shmlib_chan_create("sysv:", 4096, 0, 0, key, sizeof key));
    shmlib_chan_t ch = (shmlib_chan_t)SENTINEL;
    child_expect_forked("chan_open", shmlib_chan_open(segs[0].key, SHMLIB_CHAN_CONSUMER, &ch));
    if (ch != (shmlib_chan_t)SENTINEL)
        child_fail("chan_open wrote out_chan in a forked child");
    child_expect_forked("chan_close", shmlib_chan_close(1));
    uint64_t max = SENTINEL;
    child_expect_forked("chan_max_message", shmlib_chan_max_message(1, &max));
    child_expect_forked("chan_send", shmlib_chan_send(1, "x", 1, SHMLIB_WAIT_FOREVER));
    void *ptr = (void *)SENTINEL;
    child_expect_forked("chan_reserve", shmlib_chan_reserve(1, 16, SHMLIB_WAIT_FOREVER, &ptr));
    child_expect_forked("chan_commit", shmlib_chan_commit(1, 0));
    char buf[64];
    size_t len = (size_t)SENTINEL;
    child_expect_forked("chan_recv", shmlib_chan_recv(1, buf, sizeof buf, &len, SHMLIB_WAIT_FOREVER));
    const void *cptr = (const void *)SENTINEL;
    child_expect_forked("chan_peek", shmlib_chan_peek(1, SHMLIB_WAIT_FOREVER, &cptr, &len));
    child_expect_forked("chan_release", shmlib_chan_release(1));
    if (max != SENTINEL || ptr != (void *)SENTINEL || cptr != (const void *)SENTINEL ||
        len != (size_t)SENTINEL)
        child_fail("a shmlib_chan_* call wrote an output in a forked child");

    /* c. What works in a forked child. */
    if (shmlib_version() != SHMLIB_VERSION_NUMBER)
        child_fail("shmlib_version() is %u, want %u", shmlib_version(), SHMLIB_VERSION_NUMBER);
    if (strcmp(shmlib_version_string(), SHMLIB_VERSION_STRING) != 0)
        child_fail("shmlib_version_string() is \"%s\"", shmlib_version_string());
    if (strcmp(shmlib_strerror(SHMLIB_EFORKED), "unknown error code") == 0 ||
        strcmp(shmlib_strerror(-999), "unknown error code") != 0)
        child_fail("shmlib_strerror does not work in a forked child");
    char small[8];
    int lrc = shmlib_last_error(small, sizeof small);
    if (lrc != SHMLIB_ERANGE || strlen(small) != sizeof small - 1 ||
        strncmp(small, "chan_re", 7) != 0)
        child_fail("shmlib_last_error(buf, 8) gave %d \"%s\", want SHMLIB_ERANGE \"chan_re\"", lrc, small);
    if (shmlib_last_error(NULL, 10) != SHMLIB_EINVAL || shmlib_last_error(small, 0) != SHMLIB_EINVAL)
        child_fail("shmlib_last_error(NULL or 0) is not SHMLIB_EINVAL");
    _exit(child_failures == 0 ? 0 : 1);
}

/* ------------------------------------------------------------- exec'd child */

/* "--exec-child KEY CYCLE SLOT": a fresh program, free to use libshm. */
static int exec_child(const char *key, long cycle, int slot)
{
    harness_child_begin("[exec'd child] ");
    void *a = NULL;
    uint64_t size = 0;
    if (CHECK_RC(shmlib_attach(key, NULL, 0, &a, &size), 0)) {
        CHECK_INT(size, SEG_SIZE);
        unsigned char *p = a;
        uint64_t stamp;
        memcpy(&stamp, p, 8);
        CHECK_INT(stamp, cycle);
        CHECK_INT(harness_verify(p + PATTERN_OFF, CHILD_OFF - PATTERN_OFF, pattern_tag(slot)),
                  CHILD_OFF - PATTERN_OFF);
        harness_fill(p + CHILD_OFF, CHILD_LEN, child_tag(cycle, slot));
        uint64_t ack = ack_of(cycle);
        memcpy(p + 8, &ack, 8);
        CHECK_RC(shmlib_detach(a), 0);
    }
    const char *wants[] = {"posix:", "sysv:"};
    for (int b = 0; b < 2; b++) {
        char k[SHMLIB_KEY_MAX];
        if (!CHECK_RC(shmlib_create(wants[b], 4096, 0, 0, k, sizeof k), 0))
            continue;
        void *m = NULL;
        if (CHECK_RC(shmlib_attach(k, NULL, 0, &m, NULL), 0)) {
            harness_fill(m, 4096, (uint64_t)cycle);
            CHECK_INT(harness_verify(m, 4096, (uint64_t)cycle), 4096);
            CHECK_RC(shmlib_detach(m), 0);
        }
        CHECK_RC(shmlib_destroy(k), 0);
    }
    char k[SHMLIB_KEY_MAX];
    if (CHECK_RC(shmlib_chan_create("sysv:", 4096, 0, 0, k, sizeof k), 0)) {
        shmlib_chan_t p = 0, c = 0;
        if (CHECK_RC(shmlib_chan_open(k, SHMLIB_CHAN_PRODUCER, &p), 0) &&
            CHECK_RC(shmlib_chan_open(k, SHMLIB_CHAN_CONSUMER, &c), 0)) {
            char got[16];
            size_t n = 0;
            CHECK_RC(shmlib_chan_send(p, "exec'd", 6, 0), 0);
            if (CHECK_RC(shmlib_chan_recv(c, got, sizeof got, &n, 0), 0))
                CHECK(n == 6 && memcmp(got, "exec'd", 6) == 0);
        }
        if (p != 0)
            CHECK_RC(shmlib_chan_close(p), 0);
        if (c != 0)
            CHECK_RC(shmlib_chan_close(c), 0);
        CHECK_RC(shmlib_destroy(k), 0);
    }
    CHECK_INT(shmlib_version(), SHMLIB_VERSION_NUMBER);
    harness_child_exit();
}

/* ------------------------------------------------------------------ parent */

static void setup_segments(void)
{
    for (int i = 0; i < NSEGS; i++) {
        char want[SHMLIB_KEY_MAX];
        if (i % 2 == 0)
            snprintf(want, sizeof want, "posix:/%s-seg%d", prefix, i);
        else
            snprintf(want, sizeof want, "sysv:");
        if (!CHECK_RC(shmlib_create(want, SEG_SIZE, 0600, 0, segs[i].key, sizeof segs[i].key), 0))
            exit(harness_finish());
        void *a = NULL;
        if (!CHECK_RC(shmlib_attach(segs[i].key, NULL, 0, &a, NULL), 0))
            exit(harness_finish());
        segs[i].addr = a;
        memset(a, 0, SEG_SIZE);
        harness_fill(segs[i].addr + PATTERN_OFF, CHILD_OFF - PATTERN_OFF, pattern_tag(i));
    }
}

static void teardown_segments(void)
{
    for (int i = 0; i < NSEGS; i++) {
        /* Every child's destroy was refused: the segment must still be there. */
        shmlib_stat_t st;
        CHECK_RC(shmlib_stat(segs[i].key, &st), 0);
        CHECK_RC(shmlib_detach(segs[i].addr), 0);
        CHECK_RC(shmlib_destroy(segs[i].key), 0);
    }
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc == 5 && strcmp(argv[1], "--exec-child") == 0)
        return exec_child(argv[2], atol(argv[3]), atoi(argv[4]));
    stress_isolate(&argc, argv, "1g", 256ull << 20);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0)
            cycles = 100;
        else if (strcmp(argv[i], "--cycles") == 0 && i + 1 < argc)
            cycles = stress_parse_count(argv[++i]);
        else if (strcmp(argv[i], "--exec-every") == 0 && i + 1 < argc)
            exec_every = atol(argv[++i]);
        else if (strcmp(argv[i], "--timeout-ms") == 0 && i + 1 < argc)
            timeout_ns = atol(argv[++i]) * 1000000ll;
        else {
            fprintf(stderr,
                    "usage: %s [--quick] [--cycles N] [--exec-every N] [--timeout-ms N] [--no-isolate]\n",
                    argv[0]);
            return 2;
        }
    }
    snprintf(prefix, sizeof prefix, "libshm-stress-fork-%d", (int)getpid());
    stress_say_where();
    printf("fork: %ld cycles (every %ld-th child execs), %d threads calling libshm meanwhile, "
           "%.1f s per child\n",
           cycles, exec_every, NWORKERS, (double)timeout_ns / 1e9);

    setup_segments();
    int maps0 = stress_count_shm_mappings(), fds0 = harness_count_fds();

    struct worker ws[NWORKERS];
    memset(ws, 0, sizeof ws);
    for (int i = 0; i < NWORKERS; i++) {
        ws[i].index = i;
        if (pthread_create(&ws[i].thread, NULL, worker_run, &ws[i]) != 0) {
            harness_fail(__FILE__, __LINE__, "pthread_create: %s", strerror(errno));
            return harness_finish();
        }
    }

    long forked = 0, execd = 0, survived = 0, hangs = 0, failed = 0;
    int64_t worst = 0, t0 = stress_now_ns();
    for (long cycle = 1; cycle <= cycles; cycle++) {
        int do_exec = exec_every > 0 && cycle % exec_every == 0;
        int slot = (int)(cycle % NSEGS);
        for (int i = 0; i < NSEGS; i++) {
            uint64_t stamp = (uint64_t)cycle, zero = 0;
            memcpy(segs[i].addr, &stamp, 8);
            memcpy(segs[i].addr + 8, &zero, 8);
        }
        char cyc[32], slot_s[8];
        snprintf(cyc, sizeof cyc, "%ld", cycle);
        snprintf(slot_s, sizeof slot_s, "%d", slot);
        char *exec_argv[] = {(char *)"/proc/self/exe", (char *)"--exec-child", segs[slot].key, cyc,
                             slot_s, NULL};
        fflush(stdout);
        int64_t start = stress_now_ns();
        pid_t pid = fork();
        if (pid < 0) {
            harness_fail(__FILE__, __LINE__, "cycle %ld: fork: %s", cycle, strerror(errno));
            break;
        }
        if (pid == 0) {
            if (do_exec) {
                execv(exec_argv[0], exec_argv);
                _exit(127);
            }
            forked_child(cycle);
        }
        int status;
        int hung = stress_wait_timeout(pid, do_exec ? 2 * timeout_ns : timeout_ns, &status);
        int64_t took = stress_now_ns() - start;
        if (took > worst)
            worst = took;
        do_exec ? execd++ : forked++;
        if (hung) {
            hangs++;
            harness_fail(__FILE__, __LINE__, "cycle %ld: the %s child did not end within %.1f s: killed",
                         cycle, do_exec ? "exec'd" : "forked", (double)timeout_ns / 1e9);
            continue;
        }
        if (!CHECKF(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0,
                    "cycle %ld: the %s child ended with wait status 0x%x (exit %d, signal %d)", cycle,
                    do_exec ? "exec'd" : "forked", (unsigned)status,
                    WIFEXITED(status) ? WEXITSTATUS(status) : -1,
                    WIFSIGNALED(status) ? WTERMSIG(status) : 0)) {
            failed++;
            continue;
        }
        /* What the child wrote through its inherited (or own) mapping. */
        int ok = 1;
        for (int i = 0; i < NSEGS; i++) {
            if (do_exec && i != slot)
                continue;
            uint64_t ack;
            memcpy(&ack, segs[i].addr + 8, 8);
            size_t bad = harness_verify(segs[i].addr + CHILD_OFF, CHILD_LEN, child_tag(cycle, i));
            ok &= CHECKF(ack == ack_of(cycle) && bad == CHILD_LEN,
                         "cycle %ld: %s: the child's writes are not visible (ack %#" PRIx64
                         ", byte %zu differs)",
                         cycle, segs[i].key, ack, bad);
        }
        ok ? survived++ : failed++;
    }
    double secs = (double)(stress_now_ns() - t0) / 1e9;
    atomic_store(&stop, 1);
    long worker_cycles = 0;
    for (int i = 0; i < NWORKERS; i++) {
        pthread_join(ws[i].thread, NULL);
        worker_cycles += ws[i].cycles;
    }

    printf("fork: %ld forked children, %ld exec'd children; %ld survived, %ld failed, %ld hangs; "
           "slowest child %.1f ms; %.2f s\n",
           forked, execd, survived, failed, hangs, (double)worst / 1e6, secs);
    printf("fork: the threads made %ld lifecycles meanwhile\n", worker_cycles);
    CHECK_INT(hangs, 0);
    CHECK_INT(survived, cycles);
    CHECKF(worker_cycles > 0, "the parent's threads made no progress");

    teardown_segments();
    int maps1 = stress_count_shm_mappings(), fds1 = harness_count_fds();
    CHECKF(maps1 == maps0 - NSEGS, "shared memory mappings: %d before, %d after", maps0 - NSEGS, maps1);
    if (!CHECKF(fds1 == fds0, "file descriptors: %d before, %d after", fds0, fds1))
        stress_show_fds("fork");
    struct stress_owner owner = {prefix, NULL, 0};
    stress_check_no_segments(&owner, "fork");
    return harness_finish();
}
