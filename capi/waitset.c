/*
 * Waiting on many ends at once: shmlib_chan_wait_any. One thread waits
 * until any of up to 128 ends (channel or broadcast, either direction) is
 * ready, sleeping on all their futex words at once with futex_waitv
 * (Linux 5.16), and says which. Nothing here enters Go.
 *
 * Ready means that the end's next call would not wait: a consumer or
 * subscriber has a message (or the end of the stream); a producer has room
 * for a message of the channel's largest size. An end whose peer is found
 * gone (judged every 100 ms, as a single wait does) is ready too: its next
 * call reports it.
 *
 * The ends are entered as a call enters them (another thread's call on one
 * gets SHMLIB_EBUSY meanwhile), by the slow path: a thread's fast-path flag
 * names a single end. A wake or a close of any of them from another
 * thread ends the wait (SHMLIB_EWOKEN), since it bumps the very word that
 * end sleeps on.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/futex.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "chan.h"
#include "chan_out.h"
#include "guard.h"

#ifndef SYS_futex_waitv
#define SYS_futex_waitv 449
#endif

#define BC_SLOTS_OFFSET 4096
#define BC_SLOT_SIZE 64
#define BC_OVERWRITE 2
/* The spin budget adapts as a single wait's does (chan_wait.c), kept in
 * the first end: doubled when spinning paid off, halved when not. */
#define SPIN_MIN_NS 5000
#define SPIN_MAX_NS 100000
#define PEER_CHECK_NS 100000000

static uint64_t align_up(uint64_t n) { return (n + CH_ALIGN - 1) & ~(uint64_t)(CH_ALIGN - 1); }

/* Where the producer's next message of the largest size would end up
 * overwriting from: bytes before it must be free. */
uint64_t chan_largest_floor(const struct chan_end *e)
{
    uint64_t need = CH_RECORD_HDR + align_up(e->max_msg), pos = e->pos % e->capacity;
    uint64_t total = need + (need > e->capacity - pos ? e->capacity - pos : 0);
    return e->pos + total > e->capacity ? e->pos + total - e->capacity : 0;
}

int chan_end_ready(struct chan_end *e)
{
    if (e->end == SHMLIB_CHAN_CONSUMER) {
        uint64_t head = e->pos;
        if (e->bcast)
            head = atomic_load_explicit(ch_u64(e, BC_SLOTS_OFFSET + e->b.slot * BC_SLOT_SIZE + 8),
                                        memory_order_acquire) & ~(uint64_t)1;
        return atomic_load_explicit(ch_u32(e, CH_OFF_CLOSED), memory_order_acquire) != 0 ||
               atomic_load_explicit(ch_u64(e, CH_OFF_TAIL), memory_order_acquire) != head;
    }
    uint64_t floor = chan_largest_floor(e);
    if (!e->bcast)
        return atomic_load_explicit(ch_u64(e, CH_OFF_HEAD), memory_order_acquire) >= floor;
    for (uint32_t i = 0; i < e->b.slots; i++) {
        unsigned off = BC_SLOTS_OFFSET + i * BC_SLOT_SIZE;
        if (atomic_load_explicit(ch_u64(e, off), memory_order_acquire) == 0)
            continue;
        uint64_t h = atomic_load_explicit(ch_u64(e, off + 8), memory_order_acquire);
        if ((h & ~(uint64_t)1) < floor && (e->b.policy != BC_OVERWRITE || (h & 1)))
            return 0;
    }
    return 1;
}

/* chan_peer_gone's form of chan_end_ready. */
static int ready_fn(struct chan_end *e, const char *op, void *arg)
{
    (void)op;
    (void)arg;
    return chan_end_ready(e);
}

_Atomic uint32_t *chan_end_seq(struct chan_end *e)
{
    return ch_u32(e, e->end == SHMLIB_CHAN_PRODUCER ? CH_OFF_SPACE_SEQ : CH_OFF_DATA_SEQ);
}

static _Atomic uint32_t *waiting_word(struct chan_end *e)
{
    return ch_u32(e, e->end == SHMLIB_CHAN_PRODUCER ? CH_OFF_PROD_WAITING : CH_OFF_CONS_WAITING);
}

static int first_ready(struct chan_end **ends, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (chan_end_ready(ends[i]))
            return (int)i;
    return -1;
}

/* The wait itself, over entered ends: the index of a ready end, or a code. */
static int wait_ends(const char *op, struct chan_end **ends, size_t n, int64_t timeout_ns)
{
    int i = first_ready(ends, n);
    if (i >= 0)
        return i;
    int64_t start = chan_now_ns(), deadline = timeout_ns >= 0 ? start + timeout_ns : INT64_MAX;
    if (timeout_ns == 0)
        return chan_fail(NULL, op, SHMLIB_ETIMEDOUT, "would block (timeout 0)");
    int64_t *budget = &ends[0]->spin_ns;
    for (unsigned k = 1; chan_now_ns() - start < *budget; k++) {
        if ((i = first_ready(ends, n)) >= 0) {
            *budget = *budget * 2 > SPIN_MAX_NS ? SPIN_MAX_NS : *budget * 2;
            return i;
        }
        if (k % 8 == 0 && atomic_load_explicit(&ends[0]->signals, memory_order_relaxed) != 0)
            break;
    }
    *budget = *budget / 2 < SPIN_MIN_NS ? SPIN_MIN_NS : *budget / 2;
    struct futex_waitv w[FUTEX_WAITV_MAX];
    libshm_onstack_now_and_then(); /* before sleeping, as a single wait does */
    int eintr = 0;
    for (size_t j = 0; j < n; j++)
        eintr |= ends[j]->eintr;
    int64_t last_check = chan_now_ns();
    for (;;) {
        for (size_t j = 0; j < n; j++) {
            w[j] = (struct futex_waitv){.val = atomic_load(chan_end_seq(ends[j])),
                                        .uaddr = (uintptr_t)chan_end_seq(ends[j]),
                                        .flags = FUTEX_32};
            chan_waiting_raise(ends[j], waiting_word(ends[j]));
        }
        i = first_ready(ends, n);
        int rc = 0, signalled = 0;
        for (size_t j = 0; i < 0 && rc == 0 && j < n; j++)
            rc = chan_interrupted(ends[j], op);
        if (i < 0 && rc == 0) {
            int64_t now = chan_now_ns(), until = now + PEER_CHECK_NS < deadline ? now + PEER_CHECK_NS : deadline;
            struct timespec ts = {until / 1000000000, until % 1000000000};
            if (syscall(SYS_futex_waitv, w, n, 0, &ts, CLOCK_MONOTONIC) < 0) {
                if (errno == ENOSYS)
                    rc = chan_fail(NULL, op, SHMLIB_ENOTSUP, "this kernel has no futex_waitv (Linux 5.16 or later)");
                signalled = errno == EINTR;
            }
            i = first_ready(ends, n);
        }
        for (size_t j = 0; j < n; j++)
            chan_waiting_lower(ends[j], waiting_word(ends[j]));
        if (i >= 0 || rc != 0)
            return i >= 0 ? i : rc;
        for (size_t j = 0; j < n; j++)
            if ((rc = chan_interrupted(ends[j], op)) != 0)
                return rc;
        if (signalled && eintr)
            return chan_fail(NULL, op, SHMLIB_EINTR, "a signal arrived while waiting (an end was opened with SHMLIB_CHAN_EINTR)");
        int64_t now = chan_now_ns();
        if (now >= deadline) {
            char d[64];
            chan_duration(d, sizeof d, timeout_ns);
            return chan_fail(NULL, op, SHMLIB_ETIMEDOUT, "timed out after %s", d);
        }
        if (now - last_check >= PEER_CHECK_NS) {
            last_check = now;
            for (size_t j = 0; j < n; j++) {
                uint64_t floor = chan_largest_floor(ends[j]); /* a broadcast producer's reap needs it */
                if (chan_peer_gone(ends[j], op, ready_fn, &floor) != 0)
                    return (int)j; /* its next call reports what happened */
            }
        }
    }
}

int libshm_chan_wait_any(const shmlib_chan_t *chans, size_t n, int64_t timeout_ns, size_t *out_index)
{
    static const char op[] = "chan_wait_any";
    shmlib_chan_t hs[FUTEX_WAITV_MAX];
    struct chan_end *ends[FUTEX_WAITV_MAX];
    if (chans == NULL || out_index == NULL || n == 0 || n > FUTEX_WAITV_MAX)
        return chan_fail(NULL, op, SHMLIB_EINVAL, "chans or out_index is NULL, or n (%zu) is not 1..%d", n,
                         FUTEX_WAITV_MAX);
    if (chan_user_read(hs, chans, n * sizeof *chans) != 0 || !chan_out_writable(out_index, sizeof *out_index))
        return chan_fail(NULL, op, SHMLIB_EFAULT, "a pointer argument points to memory that cannot be accessed");
    size_t entered = 0;
    int rc = 0;
    for (; entered < n; entered++)
        if ((rc = chan_enter_slow(op, hs[entered], &ends[entered])) != 0) {
            /* An end given twice is busy with this very call. */
            for (size_t j = 0; rc == SHMLIB_EBUSY && j < entered; j++)
                if (hs[j] == hs[entered])
                    rc = chan_fail(NULL, op, SHMLIB_EINVAL, "handle %llu is given twice",
                                   (unsigned long long)hs[entered]);
            break;
        }
    if (rc == 0) {
        rc = wait_ends(op, ends, n, timeout_ns);
        size_t idx = (size_t)rc;
        if (rc >= 0)
            rc = chan_out_put(out_index, &idx, sizeof idx) == 0
                     ? SHMLIB_OK
                     : chan_fail(NULL, op, SHMLIB_EFAULT, "a pointer argument points to memory that cannot be accessed");
    }
    while (entered > 0)
        chan_leave(ends[--entered]);
    return rc;
}
