/*
 * Pollable ends: shmlib_chan_fd and shmlib_chan_arm.
 *
 * A ring in shared memory has no kernel object that poll() could watch,
 * and one that both processes shared would have to be passed between them
 * (a pipe through the segment's creator, a socket the producer writes).
 * Instead each process watches its own ends: an armed end is handed to a
 * watcher, a C thread of this process that sleeps in futex_waitv on the
 * futex words of up to WATCH_MAX armed ends (and a word of its own, to be
 * told of changes), and when one becomes ready writes to that end's
 * eventfd and disarms it. The peer process does nothing new: it bumps and
 * wakes the futex word as it always does, since the watcher counts itself
 * in the end's waiting word like any waiter.
 *
 * Cost: an idle watcher sleeps in the kernel, waking every 100 ms to judge
 * the peers of the ends it watches (as any wait does), so a dead peer makes
 * its end ready. One thread per WATCH_MAX armed ends, started when needed,
 * never stopped; each blocks every signal, so none lands on it. A ready
 * end costs one thread switch (watcher, then the caller's poll) more than
 * a pipe would.
 *
 * The watcher reads an armed end's shared state while the caller's thread
 * may use it; every read is one the caller's own call would make, and a
 * close takes the end out of its watcher (chan_notify_forget, under the
 * one lock of all watchers) before the ring is unmapped.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "chan.h"
#include "chan_out.h"

#ifndef SYS_futex_waitv
#define SYS_futex_waitv 449
#endif

#define WATCH_MAX (FUTEX_WAITV_MAX - 1) /* one word is the watcher's own */
#define PEER_CHECK_NS 100000000

/* One lock for every watcher's set and every end's watcher field: an arm
 * must see, atomically, whether its end is still watched or was just let
 * go of (a watcher that signals drops the end under it first). */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

struct notifier {
    _Atomic uint32_t control; /* bumped when the set changes */
    struct chan_end *ends[WATCH_MAX];
    int n;
    struct notifier *next;
};

static struct notifier *notifiers;

static void poke(struct notifier *w)
{
    atomic_fetch_add(&w->control, 1);
    syscall(SYS_futex, &w->control, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

static _Atomic uint32_t *waiting_word(struct chan_end *e)
{
    return ch_u32(e, e->end == SHMLIB_CHAN_PRODUCER ? CH_OFF_PROD_WAITING : CH_OFF_CONS_WAITING);
}

static void signal_ready(struct chan_end *e)
{
    uint64_t one = 1;
    (void)!write(e->notify_fd, &one, sizeof one);
}

/* Removes ends[i] of w (the lock held): it is no longer armed. */
static void drop(struct notifier *w, int i)
{
    struct chan_end *e = w->ends[i];
    if (e->bcast) /* a channel's flag is left to its waker to lower */
        atomic_fetch_sub(waiting_word(e), 1);
    e->watcher = NULL;
    w->ends[i] = w->ends[--w->n];
}

static int ready_fn(struct chan_end *e, const char *op, void *arg)
{
    (void)op;
    (void)arg;
    return chan_end_ready(e);
}

static void *watch(void *arg)
{
    struct notifier *w = arg;
    struct futex_waitv v[FUTEX_WAITV_MAX];
    int64_t last_check = chan_now_ns();
    for (;;) {
        pthread_mutex_lock(&lock);
        int64_t now = chan_now_ns();
        int judge = now - last_check >= PEER_CHECK_NS;
        if (judge)
            last_check = now;
        v[0] = (struct futex_waitv){.val = atomic_load(&w->control), .uaddr = (uintptr_t)&w->control,
                                    .flags = FUTEX_32 | FUTEX_PRIVATE_FLAG};
        int n = 1;
        for (int i = 0; i < w->n;) {
            struct chan_end *e = w->ends[i];
            /* The word is read before the look: a bump after it ends the sleep. */
            _Atomic uint32_t *seq = chan_end_seq(e);
            uint32_t val = atomic_load(seq);
            if (!e->bcast)
                atomic_store(waiting_word(e), 1); /* the waker lowers it: raise it each round */
            uint64_t floor = chan_largest_floor(e); /* a broadcast producer's reap reads it */
            if (chan_end_ready(e) || (judge && chan_peer_gone(e, "chan_arm", ready_fn, &floor) != 0)) {
                drop(w, i);
                signal_ready(e);
                continue;
            }
            v[n++] = (struct futex_waitv){.val = val, .uaddr = (uintptr_t)seq, .flags = FUTEX_32};
            i++;
        }
        pthread_mutex_unlock(&lock);
        int64_t until = chan_now_ns() + PEER_CHECK_NS;
        struct timespec ts = {until / 1000000000, until % 1000000000};
        if (syscall(SYS_futex_waitv, v, n, 0, n > 1 ? &ts : NULL, CLOCK_MONOTONIC) < 0 && errno == ENOSYS) {
            struct timespec poll_period = {0, 10000000}; /* no futex_waitv: look every 10 ms */
            nanosleep(&poll_period, NULL);
        }
    }
    return NULL;
}

/* A watcher with room, started if none has any (the lock held). */
static struct notifier *watcher_with_room(void)
{
    for (struct notifier *w = notifiers; w != NULL; w = w->next)
        if (w->n < WATCH_MAX)
            return w;
    struct notifier *w = calloc(1, sizeof *w);
    if (w == NULL)
        return NULL;
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old); /* inherited: no signal lands on it */
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 64 << 10);
    int rc = pthread_create(&t, &attr, watch, w);
    pthread_attr_destroy(&attr);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        free(w);
        return NULL;
    }
    w->next = notifiers;
    notifiers = w;
    return w;
}

/* The end's eventfd, made on first use (the caller has entered the end). */
static int fd_of(struct chan_end *e, const char *op)
{
    if (e->notify_fd < 0) {
        e->notify_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (e->notify_fd < 0)
            return chan_fail(e, op, SHMLIB_EOS, "eventfd: %s", errno == EMFILE ? "too many open files" : "failed");
    }
    return SHMLIB_OK;
}

int libshm_chan_fd(shmlib_chan_t h, int *out_fd)
{
    static const char op[] = "chan_fd";
    struct chan_end *e;
    int rc = chan_enter(op, h, &e);
    if (rc != 0)
        return rc;
    if (out_fd == NULL)
        rc = chan_fail(e, op, SHMLIB_EINVAL, "out_fd is NULL");
    else if ((rc = fd_of(e, op)) == SHMLIB_OK && chan_out_put(out_fd, &e->notify_fd, sizeof *out_fd) != 0)
        rc = chan_fail(e, op, SHMLIB_EFAULT, "a pointer argument points to memory that cannot be accessed");
    chan_leave(e);
    return rc;
}

int libshm_chan_arm(shmlib_chan_t h)
{
    static const char op[] = "chan_arm";
    struct chan_end *e;
    int rc = chan_enter(op, h, &e);
    if (rc != 0)
        return rc;
    if ((rc = fd_of(e, op)) == SHMLIB_OK) {
        uint64_t n;
        pthread_mutex_lock(&lock);
        (void)!read(e->notify_fd, &n, sizeof n); /* not readable until ready again */
        if (e->watcher != NULL) {
            poke(e->watcher); /* still armed: the watcher looks again */
        } else if (chan_end_ready(e)) {
            signal_ready(e);
        } else {
            struct notifier *w = watcher_with_room();
            if (w == NULL) {
                rc = chan_fail(e, op, SHMLIB_ENOMEM, "cannot start a watcher thread");
            } else {
                /* Counted among a broadcast's sleepers for as long as it is
                 * armed; a channel's flag is raised before each sleep. */
                if (e->bcast)
                    atomic_fetch_add(waiting_word(e), 1);
                w->ends[w->n++] = e;
                e->watcher = w;
                poke(w);
            }
        }
        pthread_mutex_unlock(&lock);
    }
    chan_leave(e);
    return rc;
}

void chan_notify_forget(struct chan_end *e)
{
    pthread_mutex_lock(&lock);
    struct notifier *w = e->watcher;
    for (int i = 0; w != NULL && i < w->n; i++)
        if (w->ends[i] == e) {
            drop(w, i);
            poke(w);
            break;
        }
    pthread_mutex_unlock(&lock);
}

void chan_notify_close(struct chan_end *e)
{
    if (e->notify_fd >= 0)
        close(e->notify_fd);
    e->notify_fd = -1;
}
