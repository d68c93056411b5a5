/*
 * sighost.h - a C host that handles signals the way most C code does, with
 * libshm busy inside it: handlers installed after the load with signal()
 * (no SA_ONSTACK), a flood of SIGCHLD and a 1 kHz ITIMER_PROF profiler,
 * while SIGHOST_THREADS threads make calls that enter libshm's Go code
 * (stat, attach, detach, channel open and close, peek with a timeout).
 * Shared by test_signals.c (a short run) and stress/signals.c (many runs).
 *
 * A handler that runs on a goroutine stack overruns it and the Go runtime
 * aborts the process, so the test is that the host survives.
 */
#ifndef LIBSHM_TEST_SIGHOST_H
#define LIBSHM_TEST_SIGHOST_H

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "harness.h"

#define SIGHOST_THREADS 8

static volatile sig_atomic_t sighost_stop;
static unsigned long sighost_caught[2]; /* SIGCHLD, SIGPROF */
static unsigned long sighost_calls[SIGHOST_THREADS];

/* Uses some stack, as real handlers do (formatting a message, say). */
static void sighost_handler(int sig)
{
    volatile char scratch[2048];
    scratch[0] = (char)sig;
    scratch[sizeof scratch - 1] = scratch[0];
    __atomic_fetch_add(&sighost_caught[sig == SIGPROF], 1, __ATOMIC_RELAXED);
}

struct sighost_thread {
    int index;
    char key[SHMLIB_KEY_MAX];     /* a segment to attach and detach */
    char channel[SHMLIB_KEY_MAX]; /* a channel nobody sends on */
};

static void *sighost_calls_loop(void *arg)
{
    struct sighost_thread *t = arg;
    unsigned long n = 0;
    while (!sighost_stop) {
        shmlib_stat_t st;
        void *addr;
        shmlib_stat(t->key, &st);
        shmlib_stat("posix:/libshm-sighost-no-such-segment", &st); /* a failure: it allocates */
        if (shmlib_attach(t->key, NULL, 0, &addr, NULL) == 0)
            shmlib_detach(addr);
        shmlib_chan_t ch;
        if (shmlib_chan_open(t->channel, SHMLIB_CHAN_CONSUMER, &ch) == 0) {
            const void *p;
            size_t len;
            shmlib_chan_peek(ch, 200000, &p, &len); /* waits 200 us, times out */
            shmlib_chan_close(ch);
        }
        n += 5;
    }
    sighost_calls[t->index] = n;
    return NULL;
}

/*
 * One run of the host, in this process: RUN_MS milliseconds of calls, with
 * the handlers installed once the threads are calling in and SIGCHLDS
 * SIGCHLDs sent by a child. Returns 0 when every call ran and both
 * handlers were called (the caller's check is that it gets here at all).
 */
static int sighost_run(const char *prefix, int run_ms, int sigchlds)
{
    struct sighost_thread t[SIGHOST_THREADS];
    pthread_t tid[SIGHOST_THREADS];
    int made = 0;
    for (int i = 0; i < SIGHOST_THREADS; i++, made++) {
        char name[SHMLIB_KEY_MAX];
        t[i].index = i;
        snprintf(name, sizeof name, "posix:/%s-%d-seg%d", prefix, (int)getpid(), i);
        if (!CHECK_RC(shmlib_create(name, 4096, 0, 0, t[i].key, sizeof t[i].key), 0))
            break;
        snprintf(name, sizeof name, "posix:/%s-%d-chan%d", prefix, (int)getpid(), i);
        if (!CHECK_RC(shmlib_chan_create(name, 4096, 0, 0, t[i].channel, sizeof t[i].channel), 0)) {
            shmlib_destroy(t[i].key);
            break;
        }
    }
    sighost_stop = 0;
    for (int i = 0; i < made; i++)
        pthread_create(&tid[i], NULL, sighost_calls_loop, &t[i]);

    /* After the load, and with the threads inside libshm: plain signal(),
     * as most C code installs its handlers. */
    struct timespec settle = {0, 20 * 1000 * 1000};
    nanosleep(&settle, NULL);
    signal(SIGCHLD, sighost_handler);
    signal(SIGPROF, sighost_handler);
    struct itimerval prof = {{0, 1000}, {0, 1000}};
    setitimer(ITIMER_PROF, &prof, NULL);

    pid_t host = getpid();
    fflush(stdout);
    pid_t sender = fork();
    if (sender == 0) {
        for (int i = 0; i < sigchlds; i++)
            kill(host, SIGCHLD);
        _exit(0);
    }
    struct timespec run = {run_ms / 1000, (long)(run_ms % 1000) * 1000000L};
    while (nanosleep(&run, &run) != 0)
        ;
    sighost_stop = 1;
    for (int i = 0; i < made; i++)
        pthread_join(tid[i], NULL);
    struct itimerval off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_PROF, &off, NULL);
    int status = sender > 0 ? harness_wait(sender) : -1;
    CHECK_EXIT_OK(status, "SIGCHLD sender");
    signal(SIGPROF, SIG_DFL);
    signal(SIGCHLD, SIG_DFL);

    int ok = made == SIGHOST_THREADS;
    for (int i = 0; i < made; i++) {
        ok &= CHECKF(sighost_calls[i] > 0, "thread %d made no calls", i);
        CHECK_RC(shmlib_destroy(t[i].key), 0);
        CHECK_RC(shmlib_destroy(t[i].channel), 0);
    }
    ok &= CHECKF(sighost_caught[0] > 0 && sighost_caught[1] > 0, "handlers ran: %lu SIGCHLD, %lu SIGPROF",
                 sighost_caught[0], sighost_caught[1]);
    return ok ? 0 : -1;
}

#endif
