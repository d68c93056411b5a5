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
 *      - brief calls (the control plane) block the asynchronous signals
 *        for their length: there no host handler can run on the
 *        goroutine's stack, whatever its flags;
 *      - the caller's mask is restored after the call wherever it may have
 *        changed: the runtime unblocks SIGCHLD and SIGPROF on a thread's
 *        first call and would leave them so;
 *      - SA_ONSTACK is added to the host's handlers that lack it: for the
 *        signals the runtime leaves unblocked on its own threads (SIGCHLD,
 *        SIGPROF, glibc's SIGCANCEL) before each channel call that may wait
 *        in Go, and at other calls at most every 50 us; for every signal at
 *        load and before a call that may wait for another process
 *        (memfd_recv). Every
 *        Go thread has an alternate signal stack, so there the handler runs
 *        on it; a host thread that never called in has none, and there it
 *        runs as before.
 *    What stays open: a late handler of SIGCHLD or SIGPROF on the runtime's
 *    threads, until the next call that checks; a late handler of another
 *    signal, in a channel call that waits in Go (enum libshm_go_call).
 */
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "guard.h"

/* What the library blocks: all but the synchronous signals, which the
 * runtime turns into errors and must receive, and SIGURG, its own
 * preemption signal (handled on its signal stack). glibc never blocks its
 * internal SIGCANCEL and SIGSETXID, whatever the set says. */
static sigset_t async_signals;

static void make_async_signals(void)
{
    static const int never[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS, SIGURG};
    sigfillset(&async_signals);
    for (size_t i = 0; i < sizeof never / sizeof never[0]; i++)
        sigdelset(&async_signals, never[i]);
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

/* Marks the threads that have called into Go: the runtime sets a thread's
 * mask on its first call only (it then keeps its M bound to the thread). */
static pthread_key_t entered_key;
static int entered_key_made;

/* When the runtime's signals were last given SA_ONSTACK, in ns of
 * CLOCK_MONOTONIC. Three system calls cost more than a whole brief call:
 * checked at most every 50 us, which keeps the window for a late SIGCHLD
 * or SIGPROF handler that short while calls come. (With the same throttle
 * on channel waits, 1 run in 140 of test_signals' host crashed.) */
static int64_t onstack_checked_ns;
#define ONSTACK_EVERY_NS 50000

void libshm_onstack_now_and_then(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    int64_t now = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
    int64_t last = __atomic_load_n(&onstack_checked_ns, __ATOMIC_RELAXED);
    if (now - last < ONSTACK_EVERY_NS ||
        !__atomic_compare_exchange_n(&onstack_checked_ns, &last, now, 0, __ATOMIC_RELAXED,
                                     __ATOMIC_RELAXED))
        return;
    onstack_runtime_signals();
}

/* Made before anything can call in (environment.c does at load). */
__attribute__((constructor(101))) static void make_entered_key(void)
{
    entered_key_made = pthread_key_create(&entered_key, NULL) == 0;
}

void libshm_go_enter(struct libshm_go_entry *e, enum libshm_go_call kind)
{
    /* Without the key, every call counts as a first one. */
    int first = !entered_key_made || pthread_getspecific(entered_key) == NULL;
    if (first && entered_key_made)
        pthread_setspecific(entered_key, &entered_key);
    e->restore = 1;
    switch (kind) {
    case LIBSHM_GO_BRIEF:
        libshm_onstack_now_and_then();
        pthread_sigmask(SIG_BLOCK, &async_signals, &e->mask);
        return;
    case LIBSHM_GO_INSTANT:
        libshm_onstack_now_and_then();
        e->restore = first;
        break;
    case LIBSHM_GO_MAY_WAIT:
        libshm_onstack_all();
        break;
    }
    if (e->restore)
        pthread_sigmask(SIG_BLOCK, NULL, &e->mask);
}

void libshm_go_leave(const struct libshm_go_entry *e)
{
    if (e->restore)
        pthread_sigmask(SIG_SETMASK, &e->mask, NULL);
}
