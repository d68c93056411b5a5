/*
 * The table of open channel ends, in C, so that a data-plane call finds its
 * end from the handle without entering Go.
 *
 * A handle is (generation << 20) | (slot << 3): the slot says where the end
 * is, the generation that it is still the same end (slots are reused, a
 * handle never is). Slots live in chunks that are allocated once and never
 * freed, so a stale handle can always be looked at safely and refused.
 *
 * A call takes its end by a compare-and-swap of the slot's state from
 * "handle" to "handle | CH_BUSY" and gives it back with a plain store: one
 * atomic read-modify-write per call, and a second thread on the same end
 * gets SHMLIB_EBUSY. Close and handover (Go) first quiesce the end: they
 * raise CH_SIG_CLOSING, wake a waiter, and take the end as a call would;
 * a thread that died inside a call (killed, cancelled asynchronously) does
 * not hold it for good: its busy_tid no longer exists.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "chan.h"
#include "guard.h"

#define CHUNK_SLOTS 1024
#define CHUNKS 128 /* 131072 ends open at once */
#define SLOT_SHIFT 3
#define GEN_SHIFT 20

static struct chan_end *_Atomic chunks[CHUNKS];
static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t next_gen = 1;
static uint32_t slots_used;       /* slots ever handed out */
static uint32_t free_list[CHUNKS * CHUNK_SLOTS];
static uint32_t free_count;

static struct chan_end *slot(uint32_t i)
{
    struct chan_end *c = atomic_load_explicit(&chunks[i / CHUNK_SLOTS], memory_order_acquire);
    return c ? &c[i % CHUNK_SLOTS] : NULL;
}

static struct chan_end *slot_of(uint64_t h)
{
    uint32_t i = (uint32_t)(h >> SLOT_SHIFT) & ((1u << (GEN_SHIFT - SLOT_SHIFT)) - 1);
    if (h == 0 || (h & ((1u << SLOT_SHIFT) - 1)) != 0 || i >= CHUNKS * CHUNK_SLOTS)
        return NULL;
    return slot(i);
}

int chan_fail(const struct chan_end *e, const char *op, int code, const char *fmt, ...)
{
    char msg[SHMLIB_ERROR_MAX];
    int n = e ? snprintf(msg, sizeof msg, "%s %s: ", op, e->key) : snprintf(msg, sizeof msg, "%s: ", op);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg + n, sizeof msg - n, fmt, ap);
    va_end(ap);
    libshm_set_error(msg, strlen(msg));
    return code;
}

static int not_open(const char *op, uint64_t h)
{
    return chan_fail(NULL, op, SHMLIB_EINVAL, "%llu is not an open channel handle", (unsigned long long)h);
}

static int gettid_(void) { return (int)syscall(SYS_gettid); }

int chan_enter(const char *op, shmlib_chan_t h, struct chan_end **out)
{
    struct chan_end *e = slot_of(h);
    if (e == NULL)
        return not_open(op, h);
    uint64_t idle = h;
    if (!atomic_compare_exchange_strong_explicit(&e->state, &idle, h | CH_BUSY, memory_order_acquire,
                                                 memory_order_relaxed)) {
        if ((idle & ~(uint64_t)CH_BUSY) != h)
            return not_open(op, h);
        return chan_fail(e, op, SHMLIB_EBUSY,
                         "another thread is in a call on this %s end; an end is used by one thread at a time",
                         e->end == SHMLIB_CHAN_PRODUCER ? "producer" : "consumer");
    }
    if (atomic_load_explicit(&e->signals, memory_order_relaxed) & CH_SIG_CLOSING) {
        atomic_store_explicit(&e->state, h, memory_order_release);
        return not_open(op, h);
    }
    atomic_store_explicit(&e->busy_tid, gettid_(), memory_order_relaxed);
    *out = e;
    return SHMLIB_OK;
}

void chan_leave(struct chan_end *e)
{
    atomic_store_explicit(&e->busy_tid, 0, memory_order_relaxed);
    uint64_t h = atomic_load_explicit(&e->state, memory_order_relaxed) & ~(uint64_t)CH_BUSY;
    atomic_store_explicit(&e->state, h, memory_order_release);
}

int libshm_chan_register(void *base, uint64_t capacity, uint64_t max_msg, int end, int eintr,
                         int lock_fd, uint64_t pid_ns, uint64_t pos, const char *key,
                         uint64_t *out_handle)
{
    pthread_mutex_lock(&table_lock);
    uint32_t i;
    if (free_count > 0) {
        i = free_list[--free_count];
    } else if (slots_used < CHUNKS * CHUNK_SLOTS) {
        i = slots_used;
        if (i % CHUNK_SLOTS == 0) {
            struct chan_end *c = calloc(CHUNK_SLOTS, sizeof *c);
            if (c == NULL) {
                pthread_mutex_unlock(&table_lock);
                return chan_fail(NULL, "chan_open", SHMLIB_ENOMEM, "no memory for another channel end");
            }
            atomic_store_explicit(&chunks[i / CHUNK_SLOTS], c, memory_order_release);
        }
        slots_used++;
    } else {
        pthread_mutex_unlock(&table_lock);
        return chan_fail(NULL, "chan_open", SHMLIB_ENOMEM, "%d channel ends are open in this process, the most it holds",
                         CHUNKS * CHUNK_SLOTS);
    }
    uint64_t h = (next_gen++ << GEN_SHIFT) | ((uint64_t)i << SLOT_SHIFT);
    pthread_mutex_unlock(&table_lock);

    struct chan_end *e = slot(i);
    e->base = base;
    e->capacity = capacity;
    e->max_msg = max_msg;
    e->end = end;
    e->eintr = eintr;
    e->lock_fd = lock_fd;
    e->pid_ns = pid_ns;
    e->pos = pos;
    e->pending = 0;
    e->pend_pad = e->pend_size = 0;
    e->spin_ns = 20000;
    snprintf(e->key, sizeof e->key, "%s", key);
    atomic_store_explicit(&e->signals, 0, memory_order_relaxed);
    atomic_store_explicit(&e->busy_tid, 0, memory_order_relaxed);
    atomic_store_explicit(&e->state, h, memory_order_release); /* publishes the fields */
    *out_handle = h;
    return SHMLIB_OK;
}

/* Whether thread tid of this process still runs. */
static int thread_alive(int tid)
{
    return tid == 0 || syscall(SYS_tgkill, getpid(), tid, 0) == 0 || errno != ESRCH;
}

/*
 * Takes end h away from any call in flight, for close or handover: wakes a
 * waiter (it returns SHMLIB_EWOKEN) and waits for the call to leave, or for
 * its thread to be found dead. After it, new calls on h get SHMLIB_EINVAL
 * and the caller owns the end until libshm_chan_unregister (or
 * libshm_chan_unquiesce, if closing failed).
 */
int libshm_chan_quiesce(const char *op, uint64_t h)
{
    struct chan_end *e = slot_of(h);
    if (e == NULL)
        return not_open(op, h);
    uint32_t was = atomic_fetch_or(&e->signals, CH_SIG_CLOSING);
    if ((atomic_load(&e->state) & ~(uint64_t)CH_BUSY) != h) {
        if (!(was & CH_SIG_CLOSING))
            atomic_fetch_and(&e->signals, ~CH_SIG_CLOSING);
        return not_open(op, h);
    }
    if (was & CH_SIG_CLOSING)
        return chan_fail(e, op, SHMLIB_EINVAL, "another thread is closing this end");
    for (int round = 0;; round++) {
        uint64_t idle = h;
        if (atomic_compare_exchange_strong(&e->state, &idle, h | CH_BUSY))
            break;
        int tid = atomic_load(&e->busy_tid);
        if (tid != 0 && !thread_alive(tid)) {
            /* Its thread died in the call: the end is the closer's now. */
            atomic_store(&e->busy_tid, 0);
            break;
        }
        /* Wake it from whichever sequence word it may sleep on. */
        _Atomic uint32_t *seq = ch_u32(e, e->end == SHMLIB_CHAN_PRODUCER ? CH_OFF_SPACE_SEQ : CH_OFF_DATA_SEQ);
        if (round % 64 == 0) {
            atomic_fetch_add(seq, 1);
            chan_futex_wake(seq);
        }
        struct timespec ts = {0, 20000};
        nanosleep(&ts, NULL);
    }
    while (atomic_load(&e->wakers) != 0)
        sched_yield();
    atomic_store(&e->busy_tid, gettid_());
    return SHMLIB_OK;
}

/* Undoes libshm_chan_quiesce when the close failed and the end stays open. */
void libshm_chan_unquiesce(uint64_t h)
{
    struct chan_end *e = slot_of(h);
    if (e == NULL)
        return;
    atomic_fetch_and(&e->signals, ~CH_SIG_CLOSING);
    atomic_store(&e->busy_tid, 0);
    atomic_store(&e->state, h);
}

/* Frees the slot of a quiesced end h; h is refused from now on. */
void libshm_chan_unregister(uint64_t h)
{
    struct chan_end *e = slot_of(h);
    if (e == NULL)
        return;
    atomic_store(&e->state, 0);
    atomic_store(&e->busy_tid, 0);
    pthread_mutex_lock(&table_lock);
    free_list[free_count++] = (uint32_t)(h >> SLOT_SHIFT) & ((1u << (GEN_SHIFT - SLOT_SHIFT)) - 1);
    pthread_mutex_unlock(&table_lock);
}

/*
 * Raises CH_SIG_WAKE and wakes a waiter by bumping the sequence word it
 * sleeps on. The wakers count keeps close from unmapping the ring while a
 * wake touches it: a waker counts itself before it checks for a close, and
 * a closer raises CH_SIG_CLOSING before it waits for the count to drop.
 */
int libshm_chan_wake(shmlib_chan_t h)
{
    static const char op[] = "chan_wake";
    struct chan_end *e = slot_of(h);
    if (e == NULL)
        return not_open(op, h);
    atomic_fetch_add(&e->wakers, 1);
    int rc = SHMLIB_OK;
    if ((atomic_load(&e->state) & ~(uint64_t)CH_BUSY) != h || (atomic_load(&e->signals) & CH_SIG_CLOSING)) {
        rc = not_open(op, h);
    } else {
        atomic_fetch_or(&e->signals, CH_SIG_WAKE);
        _Atomic uint32_t *seq = ch_u32(e, e->end == SHMLIB_CHAN_PRODUCER ? CH_OFF_SPACE_SEQ : CH_OFF_DATA_SEQ);
        atomic_fetch_add(seq, 1);
        chan_futex_wake(seq);
    }
    atomic_fetch_sub(&e->wakers, 1);
    return rc;
}
