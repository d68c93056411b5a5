/*
 * libshm as a guest in the host's process: what keeps the host's signal
 * handling working with a Go runtime inside.
 *
 * 1. sigwait() hosts. A host that blocks SIGINT and SIGTERM and takes them
 *    with sigwait() relies on no thread of the process leaving them
 *    unblocked; the Go runtime's threads would, and the signal's default
 *    action would end the host. The runtime's threads take their signal
 *    mask from the thread that runs its initializer (_rt0_amd64_linux_lib,
 *    an unprioritized .init_array entry), and every thread it starts later
 *    takes the mask that thread had (the runtime's initSigmask), less the
 *    signals it must have (SIGCHLD, SIGPROF, SIGURG and the synchronous
 *    ones). So a constructor of priority 101, which runs before the
 *    runtime's, blocks the asynchronous signals in the loading thread, and
 *    an unprioritized one in this file, which the linker places after the
 *    runtime's (go.o comes first on its command line), restores the
 *    loading thread's mask. test_signals.c and test_loading.c check the
 *    outcome in the threads' masks and with real sigwait() hosts.
 *
 * 2. Handlers without SA_ONSTACK. A host handler installed after the load
 *    without SA_ONSTACK (signal() installs them so) runs on whatever stack
 *    the thread is on; in Go code that is a small goroutine stack, which it
 *    overruns, and the process aborts. Every call into Go therefore goes
 *    through libshm_go_enter/leave:
 *      - the asynchronous signals are blocked for the length of the call
 *        (not in calls that may wait: see enum libshm_go_call), and the
 *        caller's mask is restored after it: the runtime unblocks SIGCHLD
 *        and SIGPROF on a thread's first call and would leave them so;
 *      - SA_ONSTACK is added to the host's handlers that lack it, for the
 *        signals the runtime's own threads leave unblocked (SIGCHLD,
 *        SIGPROF, glibc's SIGCANCEL); before a call that may wait, for
 *        every signal; at load too. Every Go thread has an alternate
 *        signal stack, so there the handler runs on it; a host thread that
 *        never called in has none, and there it runs as before.
 *    What stays open: a handler installed while a runtime thread runs Go
 *    code, until the next call into libshm fixes it.
 */
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "guard.h"

/* What the library blocks: all but the synchronous signals, which the
 * runtime turns into errors and must receive, and SIGURG, its own
 * preemption signal (handled on its signal stack). glibc never blocks its
 * internal SIGCANCEL and SIGSETXID, whatever the set says. */
static sigset_t async_signals;

static void make_async_signals(void)
{
    static const int synchronous[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS, SIGURG};
    sigfillset(&async_signals);
    for (size_t i = 0; i < sizeof synchronous / sizeof synchronous[0]; i++)
        sigdelset(&async_signals, synchronous[i]);
}

/* ---------------------------------------------------------------- load */

static sigset_t loader_mask;

__attribute__((constructor(101))) static void block_before_runtime(void)
{
    make_async_signals();
    pthread_sigmask(SIG_BLOCK, &async_signals, &loader_mask);
}

__attribute__((constructor)) static void restore_after_runtime(void)
{
    pthread_sigmask(SIG_SETMASK, &loader_mask, NULL);
    libshm_onstack_all();
}

/* ------------------------------------------------------------ SA_ONSTACK */

/* The kernel's struct sigaction: read and written back as it is (glibc's
 * sigaction() refuses its internal signals and rewrites sa_restorer). */
struct ksigaction {
    void *handler;
    unsigned long flags;
    void *restorer;
    uint64_t mask;
};

static int ksigaction(int sig, const struct ksigaction *act, struct ksigaction *old)
{
    return (int)syscall(SYS_rt_sigaction, sig, act, old, sizeof(uint64_t));
}

/*
 * Adds SA_ONSTACK to sig's handler if it is a function without it. Reading
 * and writing are two calls: if the host installed another handler in
 * between, the write returned it, and it is put back (with SA_ONSTACK).
 */
static void add_onstack(int sig)
{
    struct ksigaction cur, want, was;
    if (ksigaction(sig, NULL, &cur) != 0)
        return;
    for (int tries = 0; tries < 8; tries++) {
        if (cur.handler == (void *)SIG_DFL || cur.handler == (void *)SIG_IGN ||
            (cur.flags & SA_ONSTACK) != 0)
            return;
        want = cur;
        want.flags |= SA_ONSTACK;
        if (ksigaction(sig, &want, &was) != 0 || memcmp(&was, &cur, sizeof cur) == 0)
            return;
        cur = was;
    }
    /* Changing under us all along: leave the host's latest as it was. */
    ksigaction(sig, &cur, NULL);
}

/* __SIGRTMIN, glibc's pthread_cancel() signal: its handler is installed
 * on the first cancel, without SA_ONSTACK. */
#define GLIBC_SIGCANCEL 32

/* The signals the runtime's threads never block. */
static void onstack_runtime_signals(void)
{
    add_onstack(SIGCHLD);
    add_onstack(SIGPROF);
    add_onstack(GLIBC_SIGCANCEL);
}

void libshm_onstack_all(void)
{
    for (int sig = 1; sig <= 64; sig++)
        if (sig != SIGKILL && sig != SIGSTOP)
            add_onstack(sig);
}

/* ------------------------------------------------------------ each call */

void libshm_go_enter(sigset_t *saved, enum libshm_go_call kind)
{
    switch (kind) {
    case LIBSHM_GO_BRIEF:
        onstack_runtime_signals();
        pthread_sigmask(SIG_BLOCK, &async_signals, saved);
        return;
    case LIBSHM_GO_MAY_WAIT:
        libshm_onstack_all();
        break;
    case LIBSHM_GO_DATA:
        onstack_runtime_signals();
        break;
    }
    pthread_sigmask(SIG_BLOCK, NULL, saved);
}

void libshm_go_leave(const sigset_t *saved) { pthread_sigmask(SIG_SETMASK, saved, NULL); }
