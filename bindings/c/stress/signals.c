/*
 * signals.c - RUNS runs (default 20; --quick: 2) of the C host of
 * ../tests/sighost.h, each a process of its own: handlers installed after
 * the load with signal() (no SA_ONSTACK), 50,000 SIGCHLD and a 1 kHz
 * ITIMER_PROF while 8 threads make calls that enter libshm's Go code. A run
 * that crashes or hangs (30 s) fails; the target is none in 20.
 *
 *   signals [--quick] [--runs N] [--no-isolate]
 */
#include "stress.h"
#include "../tests/sighost.h"

#define RUN_MS 1000
#define SIGCHLDS 50000

static int run_one(void)
{
    harness_child_begin("[host] ");
    sighost_run("libshm-stress-sig", RUN_MS, SIGCHLDS);
    harness_child_exit();
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc == 2 && strcmp(argv[1], "--host") == 0)
        return run_one();
    stress_isolate(&argc, argv, "64m", 64ull << 20);
    int runs = 20;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0)
            runs = 2;
        else if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc)
            runs = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: %s [--quick] [--runs N] [--no-isolate]\n", argv[0]);
            return 2;
        }
    }
    stress_say_where();
    printf("signals: %d runs of a host with late handlers, %d SIGCHLD, 1 kHz ITIMER_PROF, %d threads\n",
           runs, SIGCHLDS, SIGHOST_THREADS);
    int crashed = 0, hung = 0;
    for (int i = 0; i < runs; i++) {
        fflush(stdout);
        pid_t pid = fork();
        if (pid == 0) {
            execl("/proc/self/exe", "signals", "--host", (char *)NULL);
            _exit(127);
        }
        int status = -1;
        if (pid < 0 || stress_wait_timeout(pid, 30 * 1000000000LL, &status) != 0)
            hung++;
        else if (!CHECK_EXIT_OK(status, "host run"))
            crashed++;
    }
    CHECKF(hung == 0, "%d of %d runs hung", hung, runs);
    /* A crashed run leaves its segments (POSIX only, named by the prefix). */
    struct stress_owner owner = {"libshm-stress-sig", NULL, 0};
    stress_check_no_segments(&owner, "signals");
    printf("signals: %d crashed, %d hung in %d runs\n", crashed, hung, runs);
    return harness_finish();
}
