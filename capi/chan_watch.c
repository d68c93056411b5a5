/*
 * The watcher: one thread that judges, every 100 ms, whether the peer of
 * each sleeping waiter is gone, and wakes the waiters whose peer is (they
 * then judge it themselves and return SHMLIB_EPEER). A dead process never
 * bumps a futex word, so somebody must look; one thread looking for all
 * of them costs one wakeup per 100 ms for the process, where each waiter
 * waking itself would cost one each: 256 idle waiters used 4.4% of a core
 * that way, mostly in timer wakeups.
 *
 * The thread starts with the first sleep, blocks every signal (it must
 * never take one meant for the host), never enters Go, and sleeps on a
 * condition variable while nobody waits. If it cannot be started, waiters
 * wake every 100 ms and look themselves, as before.
 *
 * A waiter is in the list from just before it sleeps until it returns;
 * the list's lock is held while the thread looks at a ring, so that a
 * waiter (and so a close, which waits for it) cannot leave and unmap the
 * ring under it.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <time.h>

#include "chan.h"

#define WATCH_NS 100000000

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t someone = PTHREAD_COND_INITIALIZER;
static struct chan_end *head;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static int running;

static void look(void)
{
    for (struct chan_end *e = head; e != NULL; e = e->watch_next) {
        uint64_t o;
        if (chan_peer_looks_gone(e, &o)) {
            _Atomic uint32_t *seq = ch_u32(e, e->end == SHMLIB_CHAN_PRODUCER ? CH_OFF_SPACE_SEQ : CH_OFF_DATA_SEQ);
            atomic_fetch_add(seq, 1);
            chan_futex_wake(seq);
        }
    }
}

static void *watch(void *unused)
{
    (void)unused;
    struct timespec period = {0, WATCH_NS};
    for (;;) {
        pthread_mutex_lock(&lock);
        while (head == NULL)
            pthread_cond_wait(&someone, &lock);
        pthread_mutex_unlock(&lock);
        clock_nanosleep(CLOCK_MONOTONIC, 0, &period, NULL);
        pthread_mutex_lock(&lock);
        look();
        pthread_mutex_unlock(&lock);
    }
    return NULL;
}

static void start(void)
{
    sigset_t all, was;
    pthread_attr_t a;
    pthread_t t;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &was); /* the thread inherits it */
    if (pthread_attr_init(&a) == 0) {
        pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
        pthread_attr_setstacksize(&a, 64 * 1024);
        running = pthread_create(&t, &a, watch, NULL) == 0;
        pthread_attr_destroy(&a);
    }
    pthread_sigmask(SIG_SETMASK, &was, NULL);
}

/* The list's lock is never held by a thread that an asynchronous cancel
 * could end: that would stop the watcher and every waiter for good. */
static int deferred(void)
{
    int was;
    pthread_setcanceltype(PTHREAD_CANCEL_DEFERRED, &was);
    return was;
}

int chan_watch_begin(struct chan_end *e)
{
    pthread_once(&once, start);
    if (!running)
        return 0;
    int was = deferred();
    pthread_mutex_lock(&lock);
    e->watch_prev = NULL;
    e->watch_next = head;
    if (head != NULL)
        head->watch_prev = e;
    else
        pthread_cond_signal(&someone);
    head = e;
    pthread_mutex_unlock(&lock);
    pthread_setcanceltype(was, NULL);
    return 1;
}

void chan_watch_end(struct chan_end *e)
{
    int was = deferred();
    pthread_mutex_lock(&lock);
    if (e->watch_prev != NULL)
        e->watch_prev->watch_next = e->watch_next;
    else
        head = e->watch_next;
    if (e->watch_next != NULL)
        e->watch_next->watch_prev = e->watch_prev;
    e->watch_prev = e->watch_next = NULL;
    pthread_mutex_unlock(&lock);
    pthread_setcanceltype(was, NULL);
}
