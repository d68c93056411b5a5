/*
 * The table of open channel ends, in C, so that a data-plane call finds its
 * end from the handle without entering Go.
 *
 * A handle is (generation << 20) | (slot << 3): the slot says where the end
 * is, the generation that it is still the same end (slots are reused, a
 * handle never is). Slots live in chunks that are allocated once and never
 * freed, so a stale handle can always be looked at safely and refused.
 *
 * A call must find the end free, or fail with SHMLIB_EBUSY: one thread at
 * a time. Taking it with a compare-and-swap costs an atomic
 * read-modify-write per call, four per message in place: several times
 * what a plain ring costs here. So an end is biased to the thread that
 * uses it (owner): that thread enters with a plain store of the end into a
 * flag of its own (thread_in[its slot]), a compiler barrier and a load of
 * revoke. Any other thread takes the slow path: a compare-and-swap of the
 * slot's state from "handle" to "handle | CH_BUSY", then, if the end is
 * biased to another thread, it raises revoke and calls
 * membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED), which runs a full barrier
 * on every thread of the process: after it, either the owner's store of
 * its flag is visible (it is in a call: SHMLIB_EBUSY) or the owner's load
 * of revoke will see it (it backs off to the slow path). Then the bias
 * passes to the new thread. Each thread writes only its own flag, so a
 * thread that lost the bias while it was about to enter cannot hide the
 * new owner's call. Where membarrier is missing, every call takes the
 * slow path.
 *
 * Close and handover (Go) first quiesce the end: they raise CH_SIG_CLOSING,
 * wake a waiter, and take the end as a slow call would; a thread that died
 * inside a call (killed, cancelled asynchronously) does not hold it for
 * good: its id no longer names a live thread.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <linux/membarrier.h>
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

/* The calling thread's id, asked of the kernel once per thread: calls
 * record it for close to tell a thread that died in a call. */
static int gettid_(void)
{
    /* initial-exec: a plain TLS load, not a __tls_get_addr call per call */
    static __thread int tid __attribute__((tls_model("initial-exec")));
    if (tid == 0)
        tid = (int)syscall(SYS_gettid);
    return tid;
}

/* Whether thread tid of this process still runs. */
static int thread_alive(int tid)
{
    return tid == 0 || syscall(SYS_tgkill, getpid(), tid, 0) == 0 || errno != ESRCH;
}

static int biased; /* membarrier is registered: ends may be biased */
static pthread_once_t biased_once = PTHREAD_ONCE_INIT;

/* Per-thread flags: thread_in[slot] is the end the thread with that slot
 * is in a fast call on, else NULL. Written only by that thread (and
 * cleared when it exits); slots are reused, never freed. */
#define THREAD_SLOTS 16384
static struct chan_end *_Atomic thread_in[THREAD_SLOTS];
static uint32_t thread_slots_used, thread_slots_free[THREAD_SLOTS], thread_slots_nfree;
static pthread_key_t thread_slot_key;
/* This thread's slot + 1; 0 before it has one, NO_SLOT if none is left. */
#define NO_SLOT UINT32_MAX
static __thread uint32_t my_slot __attribute__((tls_model("initial-exec")));

static void thread_exits(void *slot)
{
    uint32_t i = (uint32_t)(uintptr_t)slot - 1;
    atomic_store(&thread_in[i], NULL);
    pthread_mutex_lock(&table_lock);
    thread_slots_free[thread_slots_nfree++] = i;
    pthread_mutex_unlock(&table_lock);
}

static void register_membarrier(void)
{
    biased = pthread_key_create(&thread_slot_key, thread_exits) == 0 &&
             syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0;
}

static uint32_t this_slot(void)
{
    if (my_slot == 0) {
        uint32_t s = NO_SLOT;
        int was; /* no asynchronous cancel while the table's lock is held */
        pthread_setcanceltype(PTHREAD_CANCEL_DEFERRED, &was);
        pthread_mutex_lock(&table_lock);
        if (thread_slots_nfree > 0)
            s = thread_slots_free[--thread_slots_nfree] + 1;
        else if (thread_slots_used < THREAD_SLOTS)
            s = ++thread_slots_used;
        pthread_mutex_unlock(&table_lock);
        if (s != NO_SLOT && pthread_setspecific(thread_slot_key, (void *)(uintptr_t)s) != 0) {
            thread_exits((void *)(uintptr_t)s);
            s = NO_SLOT;
        }
        my_slot = s;
        pthread_setcanceltype(was, NULL);
    }
    return my_slot;
}

/* Takes the bias away from the end's owner, if any and not the caller.
 * The caller holds the slow lock (state | CH_BUSY). Returns 0, or 1 if
 * the owner is in a call and keeps the bias. */
static int revoke_bias(struct chan_end *e, uint32_t me)
{
    uint32_t o = atomic_load(&e->owner);
    if (o == 0 || o == me)
        return 0;
    atomic_store(&e->revoke, 1);
    syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0);
    if (atomic_load(&thread_in[o - 1]) == e) {
        atomic_store(&e->revoke, 0);
        return 1;
    }
    atomic_store(&e->owner, 0);
    atomic_store(&e->revoke, 0);
    return 0;
}

static int busy(const char *op, struct chan_end *e)
{
    return chan_fail(e, op, SHMLIB_EBUSY,
                     "another thread is in a call on this %s end; an end is used by one thread at a time",
                     e->end == SHMLIB_CHAN_PRODUCER ? "producer" : "consumer");
}

static int enter_slow(const char *op, shmlib_chan_t h, struct chan_end *e, uint32_t me)
{
    uint64_t idle = h;
    if (!atomic_compare_exchange_strong_explicit(&e->state, &idle, h | CH_BUSY, memory_order_acquire,
                                                 memory_order_relaxed))
        return (idle & ~(uint64_t)CH_BUSY) != h ? not_open(op, h) : busy(op, e);
    if ((atomic_load_explicit(&e->signals, memory_order_relaxed) & CH_SIG_CLOSING) || revoke_bias(e, me)) {
        int closing = atomic_load(&e->signals) & CH_SIG_CLOSING;
        atomic_store_explicit(&e->state, h, memory_order_release);
        return closing ? not_open(op, h) : busy(op, e);
    }
    if (biased && me != NO_SLOT && atomic_load_explicit(&e->owner, memory_order_relaxed) != me)
        atomic_store(&e->owner, me); /* the next call of this thread is fast */
    atomic_store_explicit(&e->busy_tid, gettid_(), memory_order_relaxed);
    e->entered_slow = 1;
    return SHMLIB_OK;
}

int chan_enter(const char *op, shmlib_chan_t h, struct chan_end **out)
{
    struct chan_end *e = slot_of(h);
    if (e == NULL)
        return not_open(op, h);
    uint32_t me = this_slot();
    if (atomic_load_explicit(&e->owner, memory_order_relaxed) == me) {
        struct chan_end *_Atomic *flag = &thread_in[me - 1];
        atomic_store_explicit(flag, e, memory_order_relaxed);
        /* The other side of this barrier is revoke_bias's membarrier. */
        atomic_signal_fence(memory_order_seq_cst);
        if (!atomic_load_explicit(&e->revoke, memory_order_acquire) &&
            atomic_load_explicit(&e->owner, memory_order_relaxed) == me &&
            atomic_load_explicit(&e->state, memory_order_acquire) == h &&
            !(atomic_load_explicit(&e->signals, memory_order_relaxed) & CH_SIG_CLOSING)) {
            e->entered_slow = 0;
            *out = e;
            return SHMLIB_OK;
        }
        atomic_store_explicit(flag, NULL, memory_order_release);
    }
    int rc = enter_slow(op, h, e, me);
    if (rc == SHMLIB_OK)
        *out = e;
    return rc;
}

/* Enters h by the slow path alone, for a call that holds several ends at
 * once (shmlib_chan_wait_any): a thread's fast-path flag names one end. */
int chan_enter_slow(const char *op, shmlib_chan_t h, struct chan_end **out)
{
    struct chan_end *e = slot_of(h);
    if (e == NULL)
        return not_open(op, h);
    int rc = enter_slow(op, h, e, this_slot());
    if (rc == SHMLIB_OK)
        *out = e;
    return rc;
}

void chan_leave(struct chan_end *e)
{
    if (!e->entered_slow) {
        atomic_store_explicit(&thread_in[my_slot - 1], NULL, memory_order_release);
        return;
    }
    e->entered_slow = 0;
    atomic_store_explicit(&e->busy_tid, 0, memory_order_relaxed);
    uint64_t h = atomic_load_explicit(&e->state, memory_order_relaxed) & ~(uint64_t)CH_BUSY;
    atomic_store_explicit(&e->state, h, memory_order_release);
}

int libshm_chan_register(void *base, uint64_t capacity, uint64_t max_msg, int end, int eintr,
                         int lock_fd, uint64_t pid_ns, uint64_t pos, const char *key,
                         const struct bcast_end *bcast, uint64_t data_off, uint64_t *out_handle)
{
    pthread_once(&biased_once, register_membarrier);
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
    e->data_off = data_off;
    e->notify_fd = -1;
    e->watcher = NULL;
    e->bcast = bcast != NULL;
    if (bcast)
        e->b = *bcast;
    e->pending = 0;
    e->pend_pad = e->pend_size = 0;
    e->spin_ns = 20000;
    snprintf(e->key, sizeof e->key, "%s", key);
    atomic_store_explicit(&e->signals, 0, memory_order_relaxed);
    atomic_store_explicit(&e->busy_tid, 0, memory_order_relaxed);
    atomic_store_explicit(&e->owner, 0, memory_order_relaxed);
    atomic_store_explicit(&e->revoke, 0, memory_order_relaxed);
    e->entered_slow = 0;
    atomic_store_explicit(&e->state, h, memory_order_release); /* publishes the fields */
    *out_handle = h;
    return SHMLIB_OK;
}

/* Wakes a call in flight on e from whichever sequence word it may sleep
 * on (it sees CH_SIG_CLOSING and returns), then lets it run. */
static void nudge(struct chan_end *e, int round)
{
    _Atomic uint32_t *seq = ch_u32(e, e->end == SHMLIB_CHAN_PRODUCER ? CH_OFF_SPACE_SEQ : CH_OFF_DATA_SEQ);
    if (round % 64 == 0) {
        atomic_fetch_add(seq, 1);
        chan_futex_wake(seq);
    }
    struct timespec ts = {0, 20000};
    nanosleep(&ts, NULL);
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
    /* The slow lock, as a call takes it: a slow call in flight ends first. */
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
        nudge(e, round);
    }
    /* Then a call of the thread the end is biased to; revoke stays raised
     * until the end is unregistered, so that none starts again. */
    if (biased) {
        atomic_store(&e->revoke, 1);
        syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0);
        uint32_t o = atomic_load(&e->owner);
        for (int round = 0; o != 0 && atomic_load(&thread_in[o - 1]) == e; round++)
            nudge(e, round); /* a thread that exits clears its flag */
        atomic_store(&e->owner, 0);
    }
    while (atomic_load(&e->wakers) != 0)
        sched_yield();
    chan_notify_forget(e); /* before the ring goes: the watcher reads it */
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
    atomic_store(&e->revoke, 0);
    atomic_store(&e->state, h);
}

/* Frees the slot of a quiesced end h; h is refused from now on. */
void libshm_chan_unregister(uint64_t h)
{
    struct chan_end *e = slot_of(h);
    if (e == NULL)
        return;
    chan_notify_close(e);
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
