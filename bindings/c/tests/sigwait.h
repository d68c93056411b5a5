/*
 * sigwait.h - a host that takes SIGINT and SIGTERM with sigwait(), as many
 * servers do, with libshm busy inside it. Shared by test_signals.c (libshm
 * linked) and test_loading.c (libshm dlopen()ed).
 *
 * The host's threads all block the two signals, so a process-directed one
 * stays pending until sigwait() takes it, unless a thread that does not
 * block it exists: the Go runtime's threads must not be such threads, or
 * the signal's default action ends the host.
 */
#ifndef LIBSHM_TEST_SIGWAIT_H
#define LIBSHM_TEST_SIGWAIT_H

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <time.h>

#include "harness.h"

#define SIGWAIT_SIGNALS 10

typedef int (*sigwait_stat_fn)(const char *key, shmlib_stat_t *out);

struct sigwait_caller {
    sigwait_stat_fn stat;
    volatile int stop;
};

/* Keeps the runtime busy (failing calls allocate, so the collector runs
 * and the runtime starts threads) while the signals come. */
static void *sigwait_calls(void *arg)
{
    struct sigwait_caller *c = arg;
    shmlib_stat_t st;
    while (!c->stop)
        c->stat("posix:/libshm-sigwait-test-no-such-segment", &st);
    return NULL;
}

/* The signal the host is sent i-th. */
static int sigwait_nth(int i) { return i % 2 ? SIGTERM : SIGINT; }

/*
 * Sends SIGINT and SIGTERM, SIGWAIT_SIGNALS in all, to this process (kill(),
 * so process-directed) one at a time from a child, and takes them with
 * sigtimedwait() while two threads make libshm calls. Returns how many came
 * (a lost one times out after 5 s). The caller must have both signals
 * blocked; if a runtime thread takes one, the process dies instead.
 */
static int sigwait_receive(sigwait_stat_fn stat)
{
    int ack[2];
    if (pipe(ack) != 0)
        return -1;
    struct sigwait_caller caller = {stat, 0};
    pthread_t threads[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&threads[i], NULL, sigwait_calls, &caller);

    pid_t host = getpid();
    fflush(stdout);
    pid_t sender = fork();
    if (sender == 0) {
        /* Plain C, no libshm: a forked child of a libshm process may. */
        close(ack[1]);
        for (int i = 0; i < SIGWAIT_SIGNALS; i++) {
            kill(host, sigwait_nth(i));
            struct pollfd p = {ack[0], POLLIN, 0};
            char b;
            if (poll(&p, 1, 6000) != 1 || read(ack[0], &b, 1) != 1)
                _exit(1);
        }
        _exit(0);
    }
    close(ack[0]);

    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    struct timespec patience = {5, 0};
    int got = 0;
    for (int i = 0; sender > 0 && i < SIGWAIT_SIGNALS; i++) {
        int sig = sigtimedwait(&set, NULL, &patience);
        if (sig != sigwait_nth(i)) {
            printf("sigwait: signal %d of %d: got %d (%s), want %d\n", i + 1, SIGWAIT_SIGNALS,
                   sig, sig < 0 ? strerror(errno) : "another signal", sigwait_nth(i));
            break;
        }
        got++;
        if (write(ack[1], "a", 1) != 1)
            break;
    }
    close(ack[1]);
    caller.stop = 1;
    for (int i = 0; i < 2; i++)
        pthread_join(threads[i], NULL);
    if (sender > 0)
        harness_wait(sender);
    return got;
}

/* Blocks (how = SIG_BLOCK) or unblocks SIGINT and SIGTERM in this thread. */
static void sigwait_mask(int how)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(how, &set, NULL);
}

#endif
