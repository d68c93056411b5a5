/*
 * test_signals.c - libshm (linked) does not break its host's signal
 * handling; see "THREADS, FORK, SIGNALS" in shmlib.h.
 *
 *   - The Go runtime's threads block every signal a host may wait for, so a
 *     process-directed SIGINT or SIGTERM stays for the host; the host's own
 *     mask is as it was, at load and after calls.
 *   - sigwait() hosts get all SIGWAIT_SIGNALS signals, with the signals
 *     blocked before the load (inherited through exec) or after it.
 *   - A host with handlers installed after the load without SA_ONSTACK,
 *     flooded with SIGCHLD and profiled at 1 kHz, survives (sighost.h);
 *     stress/signals.c runs it many times.
 *   - The library's own socket writes raise no SIGPIPE.
 *
 * Each case runs this program again with a role, so that a crash fails one
 * case, and the masks checked are those of a fresh process.
 */
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"
#include "sighost.h"
#include "sigwait.h"

/* The blocked-signal mask of task tid of this process, from /proc. */
static int task_mask(const char *tid, unsigned long long *out)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/self/task/%s/status", tid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1; /* gone meanwhile */
    int found = -1;
    while (fgets(line, sizeof line, f) != NULL)
        if (sscanf(line, "SigBlk: %llx", out) == 1)
            found = 0;
    fclose(f);
    return found;
}

static unsigned long long bit(int sig) { return 1ULL << (sig - 1); }

/* Signals a host may wait for or handle that the runtime has no business
 * taking: each runtime thread must block all of them. */
static const int host_signals[] = {SIGHUP, SIGINT, SIGQUIT, SIGUSR1, SIGUSR2, SIGPIPE,
                                   SIGALRM, SIGTERM, SIGWINCH, SIGIO, 36 /* SIGRTMIN + 2 */};

/* Every thread of this process but the host's own (main, and up to two
 * others) blocks host_signals. Returns how many such threads there were. */
static int check_runtime_threads(pid_t host_a, pid_t host_b)
{
    DIR *d = opendir("/proc/self/task");
    if (!CHECK(d != NULL))
        return 0;
    int runtime = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        pid_t tid = (pid_t)atoi(e->d_name);
        unsigned long long mask;
        if (tid <= 0 || tid == getpid() || tid == host_a || tid == host_b ||
            task_mask(e->d_name, &mask) != 0)
            continue;
        runtime++;
        for (size_t i = 0; i < sizeof host_signals / sizeof host_signals[0]; i++)
            CHECKF(mask & bit(host_signals[i]),
                   "runtime thread %d leaves signal %d unblocked (mask %llx): did capi/signals.c's "
                   "constructor(101) run before the runtime's initializer? (objdump -s -j .init_array)",
                   (int)tid, host_signals[i], mask);
    }
    closedir(d);
    return runtime;
}

static void *caller(void *arg)
{
    pid_t *me = arg;
    *me = gettid();
    shmlib_stat_t st;
    for (int i = 0; i < 20000; i++)
        shmlib_stat("posix:/libshm-signals-no-such-segment", &st);
    return NULL;
}

/* Role --masks: run with SIGUSR2 (only) blocked by the parent. */
static int role_masks(void)
{
    harness_child_begin("[masks] ");
    unsigned long long mine = 0;
    char self[32];
    snprintf(self, sizeof self, "%d", (int)gettid());
    CHECK(task_mask(self, &mine) == 0);
    /* The load left this thread's mask as exec gave it. */
    CHECK_INT(mine, bit(SIGUSR2));
    /* The runtime started threads at load, all blocking the host's signals. */
    CHECKF(check_runtime_threads(0, 0) >= 1, "no runtime threads found");

    /* Calls (the first on this thread among them) leave the caller's mask
     * as it was: SIGCHLD and SIGPROF, which the runtime unblocks for
     * itself, stay blocked. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGPROF);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    shmlib_stat_t st;
    CHECK_RC(shmlib_stat("posix:/libshm-signals-no-such-segment", &st), SHMLIB_ENOENT);
    CHECK_RC(shmlib_stat("posix:/libshm-signals-no-such-segment", &st), SHMLIB_ENOENT);
    CHECK(task_mask(self, &mine) == 0);
    CHECK_INT(mine, bit(SIGUSR2) | bit(SIGCHLD) | bit(SIGPROF));

    /* Threads the runtime starts later (calls from two threads at once,
     * collections) block them too. */
    pid_t tids[2];
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&th[i], NULL, caller, &tids[i]);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    check_runtime_threads(tids[0], tids[1]);
    harness_child_exit();
}

/* Role --sigwait-before: run with SIGINT and SIGTERM blocked by the parent
 * (so since before the load); --sigwait-after blocks them itself. */
static int role_sigwait(int before)
{
    harness_child_begin(before ? "[sigwait, blocked before load] " : "[sigwait, blocked after load] ");
    if (!before)
        sigwait_mask(SIG_BLOCK);
    CHECK_INT(sigwait_receive(shmlib_stat), SIGWAIT_SIGNALS);
    harness_child_exit();
}

/* Role --host MS SIGCHLDS: one run of the host. */
static int role_host(char **argv)
{
    harness_child_begin("[host] ");
    sighost_run("libshm-signals", atoi(argv[2]), atoi(argv[3]));
    harness_child_exit();
}

static void test_masks(void)
{
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR2);
    pthread_sigmask(SIG_SETMASK, &set, &old);
    int status = harness_run_self((char *[]){"--masks", NULL});
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    CHECK_EXIT_OK(status, "--masks");
}

static void test_sigwait(void)
{
    sigset_t old;
    pthread_sigmask(SIG_BLOCK, NULL, &old);
    sigwait_mask(SIG_BLOCK);
    int status = harness_run_self((char *[]){"--sigwait-before", NULL});
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    CHECK_EXIT_OK(status, "sigwait host, signals blocked before the load");
    CHECK_EXIT_OK(harness_run_self((char *[]){"--sigwait-after", NULL}),
                  "sigwait host, signals blocked after the load");
}

/* RUNS runs of the host, each a process of its own. */
static void test_host_handlers(int runs, const char *ms, const char *sigchlds)
{
    int crashed = 0;
    for (int i = 0; i < runs; i++) {
        int status = harness_run_self((char *[]){"--host", (char *)ms, (char *)sigchlds, NULL});
        if (!CHECK_EXIT_OK(status, "host with handlers installed after load"))
            crashed++;
    }
    printf("host with late handlers: %d crashes in %d runs\n", crashed, runs);
}

/* memfd_send on a socket whose peer closed: EPIPE as SHMLIB_EOS, and no
 * SIGPIPE, not even one left pending on a thread that blocks it (it would
 * kill the host when unblocked). */
static void test_no_sigpipe(void)
{
    char key[SHMLIB_KEY_MAX];
    int sv[2];
    if (!CHECK_RC(shmlib_create("memfd:", 4096, 0, 0, key, sizeof key), 0) ||
        !CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0))
        return;
    close(sv[1]);
    sigset_t pipe_only, old, pending;
    sigemptyset(&pipe_only);
    sigaddset(&pipe_only, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_only, &old);
    CHECK_RC(shmlib_memfd_send(sv[0], key), SHMLIB_EOS);
    sigpending(&pending);
    CHECK(!sigismember(&pending, SIGPIPE));
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    close(sv[0]);
    CHECK_RC(shmlib_destroy(key), 0);
}

/* test_signals [--runs N]: N runs of the host (default 2). */
int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "--masks") == 0)
        return role_masks();
    if (argc >= 2 && strcmp(argv[1], "--sigwait-before") == 0)
        return role_sigwait(1);
    if (argc >= 2 && strcmp(argv[1], "--sigwait-after") == 0)
        return role_sigwait(0);
    if (argc >= 4 && strcmp(argv[1], "--host") == 0)
        return role_host(argv);
    int runs = argc >= 3 && strcmp(argv[1], "--runs") == 0 ? atoi(argv[2]) : 2;

    test_masks();
    test_sigwait();
    test_no_sigpipe();
    test_host_handlers(runs, "1000", "50000");
    return harness_finish();
}
