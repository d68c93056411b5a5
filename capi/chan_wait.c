/*
 * Waiting in the C data plane: spin briefly, then sleep on the ring's futex
 * word (PROTOCOL.md, "Waiting"), waking at least every 100 ms to see
 * whether the peer died. Nothing here enters Go.
 *
 * What ends a wait besides the ring: shmlib_chan_wake and a close or
 * handover from another thread (SHMLIB_EWOKEN, seen through the end's
 * signals word); a signal, for an end opened with SHMLIB_CHAN_EINTR
 * (SHMLIB_EINTR: the futex sleep returns EINTR when any handler ran, since
 * it always has a timeout); a deferred pthread_cancel, acted on after each
 * sleep slice (at most 2 s), with a cleanup handler that gives the end
 * back so that the handle stays usable from another thread.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "chan.h"
#include "guard.h"

/* The spin budget is time, not iterations, and adapts as in the Go ring:
 * doubled when spinning paid off, halved when it did not. */
#define SPIN_MIN_NS 5000
#define SPIN_MAX_NS 100000
/* A dead process never bumps the futex word: the watcher (chan_watch.c)
 * looks every 100 ms and wakes us; without it, we wake that often to look.
 * Watched sleeps are still sliced: a futex wait without a timeout is
 * restarted after SA_RESTART handlers, with one it ends with EINTR; and a
 * deferred pthread_cancel sends no signal to a thread outside glibc's own
 * cancellation points, so the end of a slice is where it is acted on. */
#define PEER_CHECK_NS 100000000
#define WATCHED_SLICE_NS 2000000000LL

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* The futex words are shared between processes: no FUTEX_PRIVATE_FLAG. */
void chan_futex_wake(_Atomic uint32_t *word)
{
    syscall(SYS_futex, word, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

/* Sleeps while *word == val, at most ns; reports whether a signal ended it. */
static int futex_sleep(_Atomic uint32_t *word, uint32_t val, int64_t ns)
{
    struct timespec ts = {ns / 1000000000, ns % 1000000000};
    return syscall(SYS_futex, word, FUTEX_WAIT, val, &ts, NULL, 0) == -1 && errno == EINTR;
}

/* Progress made: bump the sequence (a full barrier, which orders the store
 * of head or tail before the read of the flag) and wake a sleeper. The
 * flag is lowered by the one who wakes, not only by the sleeper once it
 * runs again: the commits made meanwhile then skip a futex call each that
 * could only wake nobody. A sleeper raises the flag again before each
 * sleep, so it is never left unwoken. */
void chan_bump(_Atomic uint32_t *seq, _Atomic uint32_t *waiting)
{
    atomic_fetch_add(seq, 1);
    if (atomic_load(waiting) != 0 && atomic_exchange(waiting, 0) != 0)
        chan_futex_wake(seq);
}

/* SHMLIB_EWOKEN if another thread asked this wait to end. A wake is used
 * up by the wait it ends. */
static int interrupted(struct chan_end *e, const char *op)
{
    uint32_t s = atomic_load_explicit(&e->signals, memory_order_acquire);
    if (s & CH_SIG_CLOSING)
        return chan_fail(e, op, SHMLIB_EWOKEN, "another thread is closing this end");
    if ((s & CH_SIG_WAKE) && (atomic_fetch_and(&e->signals, ~CH_SIG_WAKE) & CH_SIG_WAKE))
        return chan_fail(e, op, SHMLIB_EWOKEN, "woken by shmlib_chan_wake");
    return 0;
}

/* "after 100ms": d in the form Go's time.Duration prints, so that both
 * implementations word a timeout alike. */
static void put_frac(char **p, char *end, uint64_t v, uint64_t frac, int digits, const char *unit)
{
    char f[16];
    int n = 0;
    for (int i = 0; i < digits; i++) {
        f[digits - 1 - i] = (char)('0' + frac % 10);
        frac /= 10;
    }
    for (n = digits; n > 0 && f[n - 1] == '0'; n--)
        ;
    int w = n > 0 ? snprintf(*p, end - *p, "%llu.%.*s%s", (unsigned long long)v, n, f, unit)
                  : snprintf(*p, end - *p, "%llu%s", (unsigned long long)v, unit);
    *p += w < end - *p ? w : end - *p - 1;
}

static void duration(char *buf, size_t len, int64_t ns)
{
    char *p = buf, *end = buf + len;
    uint64_t d = (uint64_t)ns;
    if (d < 1000) {
        snprintf(buf, len, "%lluns", (unsigned long long)d);
    } else if (d < 1000000) {
        put_frac(&p, end, d / 1000, d % 1000, 3, "\u00b5s");
    } else if (d < 1000000000) {
        put_frac(&p, end, d / 1000000, d % 1000000, 6, "ms");
    } else {
        uint64_t s = d / 1000000000, h = s / 3600, m = s / 60 % 60;
        int w = h ? snprintf(p, end - p, "%lluh%llum", (unsigned long long)h, (unsigned long long)m)
                  : m ? snprintf(p, end - p, "%llum", (unsigned long long)m) : 0;
        p += w;
        put_frac(&p, end, s % 60, d % 1000000000, 9, "s");
    }
}

struct sleeping {
    struct chan_end *e;
    _Atomic uint32_t *waiting;
    int watched;
};

/* A deferred cancel acted on while the end sleeps: lower the flag, leave
 * the watcher's list and give the end back, as a return would. */
static void cancelled(void *arg)
{
    struct sleeping *s = arg;
    chan_waiting_lower(s->e, s->waiting);
    if (s->watched)
        chan_watch_end(s->e);
    chan_leave(s->e);
}

static int spin(struct chan_end *e, const char *op, chan_ready_fn ready, void *arg)
{
    int64_t start = now_ns();
    for (unsigned i = 1;; i++) {
        int r = ready(e, op, arg);
        if (r != 0) {
            e->spin_ns = e->spin_ns * 2 > SPIN_MAX_NS ? SPIN_MAX_NS : e->spin_ns * 2;
            return r;
        }
        cpu_relax();
        /* Reading the clock costs more than a look at the ring. */
        if (i % 32 == 0) {
            if (atomic_load_explicit(&e->signals, memory_order_relaxed) != 0)
                return 0;
            if (now_ns() - start > e->spin_ns) {
                e->spin_ns = e->spin_ns / 2 < SPIN_MIN_NS ? SPIN_MIN_NS : e->spin_ns / 2;
                return 0;
            }
        }
    }
}

static int sleep_loop(struct chan_end *e, const char *op, int64_t timeout_ns, chan_ready_fn ready, void *arg)
{
    int producer = e->end == SHMLIB_CHAN_PRODUCER;
    _Atomic uint32_t *seq = ch_u32(e, producer ? CH_OFF_SPACE_SEQ : CH_OFF_DATA_SEQ);
    struct sleeping s = {e, ch_u32(e, producer ? CH_OFF_PROD_WAITING : CH_OFF_CONS_WAITING), chan_watch_begin(e)};
    libshm_onstack_now_and_then();
    int64_t deadline = timeout_ns > 0 ? now_ns() + timeout_ns : 0;
    int r = 0;
    pthread_cleanup_push(cancelled, &s);
    for (;;) {
        int64_t slice = s.watched ? WATCHED_SLICE_NS : PEER_CHECK_NS;
        if (deadline != 0) {
            int64_t left = deadline - now_ns();
            if (left <= 0) {
                char d[64];
                duration(d, sizeof d, timeout_ns);
                r = chan_fail(e, op, SHMLIB_ETIMEDOUT, "timed out after %s", d);
                break;
            }
            slice = left < slice ? left : slice;
        }
        /* Raise the flag before the last look: a peer that makes progress
         * after that look sees the flag and wakes us; one that made it
         * before is seen by the look. seq is read before both, so a wake
         * in between makes the sleep return at once. */
        uint32_t v = atomic_load(seq);
        chan_waiting_raise(e, s.waiting);
        int signalled = 0;
        r = ready(e, op, arg);
        if (r == 0 && (r = interrupted(e, op)) == 0) {
            signalled = futex_sleep(seq, v, slice);
            r = ready(e, op, arg);
        }
        chan_waiting_lower(e, s.waiting);
        if (r != 0 || (r = interrupted(e, op)) != 0)
            break;
        if (signalled && e->eintr) {
            r = chan_fail(e, op, SHMLIB_EINTR, "a signal arrived while waiting (the end was opened with SHMLIB_CHAN_EINTR)");
            break;
        }
        pthread_testcancel();
        if ((r = chan_peer_gone(e, op, ready, arg)) != 0)
            break;
    }
    pthread_cleanup_pop(0);
    if (s.watched)
        chan_watch_end(e);
    return r;
}

int chan_wait(struct chan_end *e, const char *op, int64_t timeout_ns, chan_ready_fn ready, void *arg)
{
    int r = ready(e, op, arg);
    if (r == 0 && timeout_ns == 0) {
        if ((r = chan_peer_gone(e, op, ready, arg)) == 0)
            r = chan_fail(e, op, SHMLIB_ETIMEDOUT, "would block (timeout 0)");
    }
    if (r == 0 && (r = interrupted(e, op)) == 0 && (r = spin(e, op, ready, arg)) == 0)
        r = sleep_loop(e, op, timeout_ns, ready, arg);
    return r < 0 ? r : 0;
}

/* For waits over several ends (waitset.c), which follow the same rules. */
int chan_interrupted(struct chan_end *e, const char *op) { return interrupted(e, op); }
void chan_duration(char *buf, size_t len, int64_t ns) { duration(buf, len, ns); }
int64_t chan_now_ns(void) { return now_ns(); }
