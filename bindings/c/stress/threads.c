/*
 * threads.c - many threads through the whole lifecycle at once.
 *
 * THREADS threads (default 8) each run CYCLES cycles (default 10,000; --quick:
 * 500) of create, attach, write, attach again read-only, read back, stat,
 * detach both, destroy, attach the destroyed key, destroy it again. Backends alternate cycle by cycle (POSIX, System V with a key the
 * library picks, now and then an IPC_PRIVATE one), so the table of live
 * mappings, the per-thread last error and both kernels are hit from every
 * thread together. Every call is checked, and every failure message must
 * name the key of the calling thread's own call (the last error is per
 * thread). At the end: no segment, no mapping and no descriptor is left.
 *
 *   threads [--quick] [--threads N] [--cycles N] [--no-isolate]
 */
#include <inttypes.h>
#include <pthread.h>

#include "stress.h"

static char prefix[64];
static long cycles = 10000;
static int nthreads = 8;

/* A thread stops after this many failures, so that a broken library gives a
 * screenful, not a million lines. */
#define MAX_FAILURES_PER_THREAD 10

struct worker {
    pthread_t thread;
    int index;
    long cycles_done;
    long calls;
    int failures;
};

/* Records a failure of thread w; gives 0 so that checks can be chained. */
#define EXPECT_RC(w, call, want)                                                         \
    (__extension__({                                                                     \
        int rc_ = (call);                                                                \
        (w)->calls++;                                                                    \
        int ok_ = harness_check_rc(rc_, (want), __FILE__, __LINE__, #call);              \
        if (!ok_)                                                                        \
            (w)->failures++;                                                             \
        ok_;                                                                             \
    }))

#define EXPECT(w, cond, ...)                                                             \
    (__extension__({                                                                     \
        int ok_ = CHECKF((cond), __VA_ARGS__);                                           \
        if (!ok_)                                                                        \
            (w)->failures++;                                                             \
        ok_;                                                                             \
    }))

/* The calling thread's failure message must be about `key`: last errors
 * are kept per thread, so another thread's message here is a mix-up. */
static void expect_message_about(struct worker *w, const char *op, const char *key)
{
    char msg[1024];
    int rc = shmlib_last_error(msg, sizeof msg);
    EXPECT(w, rc == 0 && strncmp(msg, op, strlen(op)) == 0 && strstr(msg, key) != NULL,
           "thread %d: last error after %s of %s is \"%s\" (rc %d): not this thread's call", w->index,
           op, key, msg, rc);
}

static void cycle(struct worker *w, long j)
{
    uint64_t tag = ((uint64_t)w->index << 40) | (uint64_t)j;
    int sysv = (j + w->index) % 2;
    char want[SHMLIB_KEY_MAX], key[SHMLIB_KEY_MAX];
    if (!sysv)
        snprintf(want, sizeof want, "posix:/%s-%d-%ld", prefix, w->index, j);
    else if (j % 16 == 1)
        snprintf(want, sizeof want, "sysv:private");
    else
        snprintf(want, sizeof want, "sysv:");
    uint64_t size = 4096 * (uint64_t)(1 + j % 4) + (uint64_t)(j % 3) * 100;

    key[0] = '\0';
    if (!EXPECT_RC(w, shmlib_create(want, size, 0600, 0, key, sizeof key), 0))
        return;
    const char *canon = sysv ? (j % 16 == 1 ? "sysv:id=" : "sysv:key=0x") : want;
    EXPECT(w, strncmp(key, canon, strlen(canon)) == 0, "thread %d: create %s gave key \"%s\"",
           w->index, want, key);

    void *a = NULL, *b = NULL;
    uint64_t asize = 0, bsize = 0;
    if (EXPECT_RC(w, shmlib_attach(key, NULL, 0, &a, &asize), 0)) {
        EXPECT(w, asize == size, "thread %d: attach %s: size %" PRIu64 ", want %" PRIu64, w->index,
               key, asize, size);
        harness_fill(a, size, tag);
    }
    if (EXPECT_RC(w, shmlib_attach(key, NULL, SHMLIB_RDONLY, &b, &bsize), 0) && a != NULL) {
        EXPECT(w, b != a, "thread %d: two attaches of %s at one address", w->index, key);
        size_t bad = harness_verify(b, size, tag);
        EXPECT(w, bad == size, "thread %d: %s read back through a second mapping: byte %zu differs",
               w->index, key, bad);
    }
    if (j % 16 == 0) {
        shmlib_stat_t st;
        if (EXPECT_RC(w, shmlib_stat(key, &st), 0)) {
            EXPECT(w, st.size == size && strcmp(st.key, key) == 0 &&
                          st.backend == (uint32_t)(sysv ? SHMLIB_BACKEND_SYSV : SHMLIB_BACKEND_POSIX),
                   "thread %d: stat %s: key %s size %" PRIu64 " backend %u", w->index, key, st.key,
                   st.size, st.backend);
            if (sysv)
                EXPECT(w, st.nattach == 2, "thread %d: stat %s: nattach %" PRId64 ", want 2",
                       w->index, key, st.nattach);
        }
    }
    if (b != NULL)
        EXPECT_RC(w, shmlib_detach(b), 0);
    if (a != NULL) {
        EXPECT_RC(w, shmlib_detach(a), 0);
        /* No second detach of a here: another thread may be handed the
         * same address at once, and the detach would then be its. */
    }
    EXPECT_RC(w, shmlib_destroy(key), 0);
    void *c = NULL;
    if (EXPECT_RC(w, shmlib_attach(key, NULL, 0, &c, NULL), SHMLIB_ENOENT))
        expect_message_about(w, "attach", key);
    else if (c != NULL)
        shmlib_detach(c);
    if (EXPECT_RC(w, shmlib_destroy(key), SHMLIB_ENOENT))
        expect_message_about(w, "destroy", key);
}

static void *run(void *arg)
{
    struct worker *w = arg;
    for (long j = 0; j < cycles && w->failures < MAX_FAILURES_PER_THREAD; j++) {
        cycle(w, j);
        w->cycles_done++;
    }
    if (w->failures >= MAX_FAILURES_PER_THREAD)
        printf("thread %d: stopped after %d failures\n", w->index, w->failures);
    return NULL;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    stress_isolate(&argc, argv, "1g", 256ull << 20);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0)
            cycles = 500;
        else if (strcmp(argv[i], "--cycles") == 0 && i + 1 < argc)
            cycles = stress_parse_count(argv[++i]);
        else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc)
            nthreads = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: %s [--quick] [--threads N] [--cycles N] [--no-isolate]\n", argv[0]);
            return 2;
        }
    }
    if (nthreads < 1 || nthreads > 256 || cycles < 1) {
        fprintf(stderr, "threads: bad --threads or --cycles\n");
        return 2;
    }
    snprintf(prefix, sizeof prefix, "libshm-stress-thr-%d", (int)getpid());
    stress_say_where();
    printf("threads: %d threads x %ld cycles, both backends\n", nthreads, cycles);

    /* One cycle first: the Go runtime in libshm opens descriptors of its
     * own on first use (its poller), which are not leaks. */
    struct worker warm = {.index = nthreads};
    cycle(&warm, 0);
    int maps0 = stress_count_shm_mappings(), fds0 = harness_count_fds();
    struct worker *ws = calloc((size_t)nthreads, sizeof *ws);
    int64_t t0 = stress_now_ns();
    for (int i = 0; i < nthreads; i++) {
        ws[i].index = i;
        if (pthread_create(&ws[i].thread, NULL, run, &ws[i]) != 0) {
            harness_fail(__FILE__, __LINE__, "pthread_create: %s", strerror(errno));
            nthreads = i;
            break;
        }
    }
    long done = 0, calls = 0;
    for (int i = 0; i < nthreads; i++) {
        pthread_join(ws[i].thread, NULL);
        done += ws[i].cycles_done;
        calls += ws[i].calls;
    }
    double secs = (double)(stress_now_ns() - t0) / 1e9;
    printf("threads: %ld cycles, %ld calls in %.2f s (%.0f cycles/s)\n", done, calls, secs,
           (double)done / secs);
    CHECK_INT(done, (long long)nthreads * cycles);

    /* Leaks: every mapping detached, every descriptor closed, every segment gone. */
    int maps1 = stress_count_shm_mappings(), fds1 = harness_count_fds();
    CHECKF(maps1 == maps0, "shared memory mappings: %d before, %d after", maps0, maps1);
    if (!CHECKF(fds1 == fds0, "file descriptors: %d before, %d after", fds0, fds1))
        stress_show_fds("threads");
    struct stress_owner owner = {prefix, NULL, 0};
    int leaked = stress_check_no_segments(&owner, "threads");
    printf("threads: leaks: %d segments, %d mappings, %d descriptors\n", leaked, maps1 - maps0,
           fds1 - fds0);
    free(ws);
    return harness_finish();
}
