/*
 * The broadcast data plane in C: what a broadcast end does differently
 * from a channel end (internal/broadcast/PROTOCOL.md; the Go
 * implementation of the same protocol is internal/broadcast). chan_ring.c
 * runs both and calls in here where they differ: how the producer waits
 * for room, how it commits, how a subscriber claims the next record, and
 * where a subscriber's head lives. Nothing here enters Go.
 */
#include <string.h>

#include "chan.h"
#include "chan_out.h"

/* The layout (PROTOCOL.md, "Layout") beyond what a channel shares. */
enum {
    BC_OFF_OLDEST = 96,
    BC_OFF_MESSAGES = 104,
    BC_SLOTS_OFFSET = 4096,
    BC_SLOT_SIZE = 64,
    BC_LOSSLESS = 1,
    BC_OVERWRITE = 2,
};
#define BC_HELD 1u

static unsigned slot_off(uint32_t i) { return BC_SLOTS_OFFSET + i * BC_SLOT_SIZE; }
static _Atomic uint64_t *slot_owner(struct chan_end *e, uint32_t i) { return ch_u64(e, slot_off(i)); }
static _Atomic uint64_t *slot_head(struct chan_end *e, uint32_t i) { return ch_u64(e, slot_off(i) + 8); }
static _Atomic uint64_t *slot_lost(struct chan_end *e, uint32_t i) { return ch_u64(e, slot_off(i) + 16); }

_Atomic uint64_t *bcast_head(struct chan_end *e) { return slot_head(e, e->b.slot); }

static uint64_t align_up(uint64_t n) { return (n + CH_ALIGN - 1) & ~(uint64_t)(CH_ALIGN - 1); }

/* One record header, read once: the values checked are the values used. */
struct header {
    uint64_t length, number;
    uint32_t kind;
};

static struct header read_header(struct chan_end *e, uint64_t pos)
{
    uint32_t w[2];
    uint64_t number;
    const unsigned char *p = ch_data(e, pos);
    memcpy(w, p, sizeof w);
    memcpy(&number, p + 8, sizeof number);
    __asm__ __volatile__("" ::: "memory");
    return (struct header){w[0], number, w[1]};
}

/* --------------------------------------------------------------- producer */

/* Overwrite-oldest: walks records from oldest until it reaches floor,
 * checking each as a subscriber would. */
static int advance_oldest(struct chan_end *e, const char *op, uint64_t floor)
{
    while (e->b.oldest < floor) {
        uint64_t pos = e->b.oldest % e->capacity, to_end = e->capacity - pos;
        struct header h = read_header(e, pos);
        if (h.kind == CH_KIND_PADDING && e->b.oldest + to_end <= e->pos)
            e->b.oldest += to_end;
        else if (h.kind == CH_KIND_MESSAGE && h.length <= e->max_msg && CH_RECORD_HDR + align_up(h.length) <= to_end &&
                 e->b.oldest + CH_RECORD_HDR + align_up(h.length) <= e->pos)
            e->b.oldest += CH_RECORD_HDR + align_up(h.length);
        else
            return chan_fail(e, op, SHMLIB_ECORRUPT, "bad record at offset %llu: kind %u, length %llu (oldest %llu, tail %llu)",
                             (unsigned long long)pos, h.kind, (unsigned long long)h.length,
                             (unsigned long long)e->b.oldest, (unsigned long long)e->pos);
    }
    return 0;
}

/* The number of the first message at or after the record boundary pos
 * (pos <= tail, not yet overwritten); 0 and a message set if corrupt. */
static uint64_t number_at(struct chan_end *e, const char *op, uint64_t pos)
{
    for (int i = 0; i < 2 && pos < e->pos; i++) {
        uint64_t at = pos % e->capacity;
        struct header h = read_header(e, at);
        if (h.kind == CH_KIND_MESSAGE && h.number != 0 && h.number <= e->b.messages)
            return h.number;
        if (h.kind != CH_KIND_PADDING || i != 0) {
            chan_fail(e, op, SHMLIB_ECORRUPT, "bad record at offset %llu: kind %u, number %llu", (unsigned long long)at,
                      h.kind, (unsigned long long)h.number);
            return 0;
        }
        pos += e->capacity - at;
    }
    if (pos != e->pos) {
        chan_fail(e, op, SHMLIB_ECORRUPT, "no message after padding at %llu (tail %llu)", (unsigned long long)pos,
                  (unsigned long long)e->pos);
        return 0;
    }
    return e->b.messages + 1;
}

/* ready: no live subscriber needs a byte before *floor; under
 * overwrite-oldest, lagging subscribers that hold nothing are moved to the
 * oldest record kept and told how many messages they lost. */
int bcast_room(struct chan_end *e, const char *op, void *arg)
{
    uint64_t floor = *(uint64_t *)arg;
    int overwrite = e->b.policy == BC_OVERWRITE;
    int rc;
    /* oldest first, also when no subscriber needs looking at: the records
     * about to be overwritten must not stay counted as kept. */
    if (overwrite && (rc = advance_oldest(e, op, floor)) != 0)
        return rc;
    if (floor <= e->b.limit)
        return 1;
    uint64_t least = e->pos;
    for (uint32_t i = 0; i < e->b.slots; i++) {
        if (atomic_load_explicit(slot_owner(e, i), memory_order_acquire) == 0)
            continue;
        _Atomic uint64_t *head = slot_head(e, i);
        for (;;) {
            uint64_t h = atomic_load_explicit(head, memory_order_acquire), hp = h & ~(uint64_t)BC_HELD;
            if (hp > e->pos || e->pos - hp > e->capacity || hp % CH_ALIGN != 0)
                return chan_fail(e, op, SHMLIB_ECORRUPT, "subscriber %u's head %llu does not fit tail %llu", i,
                                 (unsigned long long)hp, (unsigned long long)e->pos);
            if (hp >= floor || !overwrite || (h & BC_HELD)) {
                if (hp < floor)
                    return 0;
                least = hp < least ? hp : least;
                break;
            }
            uint64_t from = number_at(e, op, hp), to = number_at(e, op, e->b.oldest);
            if (from == 0 || to == 0)
                return SHMLIB_ECORRUPT;
            if (to < from)
                return chan_fail(e, op, SHMLIB_ECORRUPT, "message numbers at %llu and %llu out of order",
                                 (unsigned long long)hp, (unsigned long long)e->b.oldest);
            if (atomic_compare_exchange_strong(head, &h, e->b.oldest)) {
                atomic_fetch_add(slot_lost(e, i), to - from);
                least = e->b.oldest < least ? e->b.oldest : least;
                break;
            }
        }
    }
    e->b.limit = least;
    return 1;
}

/* Where a message of total bytes (padding included) sent now starts
 * overwriting: bytes before it must be free. */
uint64_t bcast_floor(const struct chan_end *e, uint64_t total)
{
    return e->pos + total > e->capacity ? e->pos + total - e->capacity : 0;
}

/* Whether a slot's holder died: its owner word is set, its lock free. */
static int slot_dead(struct chan_end *e, uint32_t i, uint64_t *o)
{
    *o = atomic_load(slot_owner(e, i));
    return *o != 0 && !chan_lock_held(e->lock_fd, slot_off(i));
}

/* 1 if some subscriber slot's holder died (the watcher of sleeping
 * waiters, chan_watch.c, then wakes the producer, which lets it go). */
int bcast_dead_slot(struct chan_end *e)
{
    uint64_t o;
    for (uint32_t i = 0; i < e->b.slots; i++)
        if (slot_dead(e, i, &o))
            return 1;
    return 0;
}

/* A waiting producer's liveness look: frees the slots of dead subscribers
 * (lock free, owner word not). The word names the join, so a subscriber
 * that took the slot meanwhile keeps it. Never fails. */
int bcast_reap(struct chan_end *e, void *arg)
{
    (void)arg;
    uint64_t o;
    for (uint32_t i = 0; i < e->b.slots; i++)
        if (slot_dead(e, i, &o))
            atomic_compare_exchange_strong(slot_owner(e, i), &o, 0);
    return 0;
}

int bcast_commit(struct chan_end *e, const char *op, size_t len)
{
    (void)op;
    uint64_t pos = (e->pos + e->pend_pad) % e->capacity;
    uint32_t h[2] = {(uint32_t)len, CH_KIND_MESSAGE};
    uint64_t number = ++e->b.messages;
    memcpy(ch_data(e, pos), h, sizeof h);
    memcpy(ch_data(e, pos) + 8, &number, sizeof number);
    e->pos += e->pend_pad + CH_RECORD_HDR + align_up(len);
    e->pending = 0;
    atomic_store_explicit(ch_u64(e, CH_OFF_TAIL), e->pos, memory_order_release);
    atomic_store_explicit(ch_u64(e, BC_OFF_MESSAGES), e->b.messages, memory_order_relaxed);
    if (e->b.policy == BC_OVERWRITE)
        atomic_store_explicit(ch_u64(e, BC_OFF_OLDEST), e->b.oldest, memory_order_relaxed);
    /* Subscribers count themselves in the waiting word: never lowered here
     * (a channel's waker lowers its flag; this word has many sleepers). */
    atomic_fetch_add(ch_u32(e, CH_OFF_DATA_SEQ), 1);
    if (atomic_load(ch_u32(e, CH_OFF_CONS_WAITING)) != 0)
        chan_futex_wake(ch_u32(e, CH_OFF_DATA_SEQ));
    return SHMLIB_OK;
}

/* ------------------------------------------------------------- subscriber */

struct look {
    uint64_t tail, head;
};

/* ready: a record lies between this subscriber's head and tail, or the
 * stream has ended. */
static int data(struct chan_end *e, const char *op, void *arg)
{
    struct look *l = arg;
    int closed = atomic_load_explicit(ch_u32(e, CH_OFF_CLOSED), memory_order_acquire) != 0;
    l->tail = atomic_load_explicit(ch_u64(e, CH_OFF_TAIL), memory_order_acquire);
    l->head = atomic_load_explicit(bcast_head(e), memory_order_acquire);
    if ((l->head & BC_HELD) || l->tail < l->head || l->tail - l->head > e->capacity || l->tail % CH_ALIGN != 0 ||
        l->head % CH_ALIGN != 0)
        return chan_fail(e, op, SHMLIB_ECORRUPT, "tail %llu does not fit this subscriber's head %llu",
                         (unsigned long long)l->tail, (unsigned long long)l->head);
    if (l->tail != l->head)
        return 1;
    if (closed)
        return chan_fail(e, op, SHMLIB_EEOS, "the producer closed the channel and every message has been received");
    return 0;
}

int bcast_peek(struct chan_end *e, const char *op, int64_t timeout_ns, const unsigned char **msg, uint64_t *len)
{
    _Atomic uint64_t *head = bcast_head(e);
    for (;;) {
        struct look l;
        int rc = chan_wait(e, op, timeout_ns, data, &l);
        if (rc != 0)
            return rc;
        /* Claim the record: from here the producer cannot overwrite it.
         * A lossless producer never moves a head, nor overwrites what
         * any head has not passed: nothing to claim. */
        uint64_t h = l.head;
        if (e->b.policy == BC_OVERWRITE && !atomic_compare_exchange_strong(head, &h, l.head | BC_HELD))
            continue; /* the producer moved the head past what it overwrote */
        e->pos = l.head;
        uint64_t pos = e->pos % e->capacity, to_end = e->capacity - pos;
        struct header r = read_header(e, pos);
        if (r.kind == CH_KIND_PADDING && e->pos + to_end <= l.tail) {
            e->pos += to_end;
            bcast_release(e);
            continue;
        }
        if (r.kind == CH_KIND_MESSAGE && r.length <= e->max_msg && CH_RECORD_HDR + align_up(r.length) <= to_end &&
            e->pos + CH_RECORD_HDR + align_up(r.length) <= l.tail) {
            e->pending = 1;
            e->pend_size = CH_RECORD_HDR + align_up(r.length);
            *msg = ch_data(e, pos + CH_RECORD_HDR);
            *len = r.length;
            return SHMLIB_OK;
        }
        atomic_store_explicit(head, e->pos, memory_order_release);
        return chan_fail(e, op, SHMLIB_ECORRUPT, "bad record at offset %llu: kind %u, length %llu (head %llu, tail %llu)",
                         (unsigned long long)pos, r.kind, (unsigned long long)r.length, (unsigned long long)e->pos,
                         (unsigned long long)l.tail);
    }
}

/* A subscriber's release: its head moves to e->pos. The store is
 * sequentially consistent (a full barrier), so a producer that raised its
 * waiting flag before looking at the heads either sees this head or is
 * seen here and woken; the space sequence is bumped only then (PROTOCOL.md,
 * "Subscriber"): subscribers do not all write one shared word per message. */
void bcast_release(struct chan_end *e)
{
    atomic_store(bcast_head(e), e->pos);
    if (atomic_load(ch_u32(e, CH_OFF_PROD_WAITING)) != 0) {
        atomic_fetch_add(ch_u32(e, CH_OFF_SPACE_SEQ), 1);
        chan_futex_wake(ch_u32(e, CH_OFF_SPACE_SEQ));
    }
}

int libshm_chan_lost(shmlib_chan_t h, uint64_t *out_lost)
{
    static const char op[] = "chan_lost";
    struct chan_end *e;
    int rc = chan_enter(op, h, &e);
    if (rc != 0)
        return rc;
    if (out_lost == NULL)
        rc = chan_fail(e, op, SHMLIB_EINVAL, "out_lost is NULL");
    else if (!e->bcast || e->end != SHMLIB_CHAN_CONSUMER)
        rc = chan_fail(e, op, SHMLIB_EINVAL, "only a broadcast subscriber loses messages");
    else if (!chan_out_writable(out_lost, sizeof *out_lost))
        rc = chan_fail(e, op, SHMLIB_EFAULT, "a pointer argument points to memory that cannot be accessed");
    else {
        uint64_t lost = atomic_exchange(slot_lost(e, e->b.slot), 0);
        if (chan_out_put(out_lost, &lost, sizeof lost) != 0) { /* unmapped meanwhile: keep the count */
            atomic_fetch_add(slot_lost(e, e->b.slot), lost);
            rc = chan_fail(e, op, SHMLIB_EFAULT, "a pointer argument points to memory that cannot be accessed");
        }
    }
    chan_leave(e);
    return rc;
}
