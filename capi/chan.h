/*
 * Internal to capi/: the channel data plane in C.
 *
 * The ring's layout and rules are internal/channel/PROTOCOL.md; this is the
 * C implementation of them (internal/channel is the Go one). Go keeps the
 * control plane: it maps the segment, takes the end, and then registers the
 * end here (libshm_chan_register), which hands out the handle C callers
 * hold. Every data-plane call and every wait runs here and never enters Go.
 */
#ifndef LIBSHM_CHAN_H
#define LIBSHM_CHAN_H

#include <stdatomic.h>
#include <stdint.h>

#include "shmlib.h"

/* The layout (PROTOCOL.md, "Layout"). */
enum {
    CH_DATA_OFFSET = 4096,
    CH_RECORD_HDR = 16,
    CH_ALIGN = 16,
    CH_OFF_TAIL = 64,
    CH_OFF_PRODUCER = 72,
    CH_OFF_CLOSED = 80,
    CH_OFF_DATA_SEQ = 84,
    CH_OFF_CONS_WAITING = 88,
    CH_OFF_PRODUCER_NS = 96,
    CH_OFF_HEAD = 128,
    CH_OFF_CONSUMER = 136,
    CH_OFF_CONS_LEFT = 144,
    CH_OFF_SPACE_SEQ = 148,
    CH_OFF_PROD_WAITING = 152,
    CH_OFF_CONSUMER_NS = 160,
    CH_KIND_MESSAGE = 1,
    CH_KIND_PADDING = 2,
};

/* What a broadcast end keeps besides a channel end's fields (bcast_ring.c;
 * internal/broadcast/PROTOCOL.md). The subscriber's pos is its head. */
struct bcast_end {
    uint32_t slots, policy, slot; /* slot: a subscriber's own */
    uint64_t oldest;   /* producer, overwrite-oldest: start of the oldest record kept */
    uint64_t messages; /* producer: messages committed */
    uint64_t limit;    /* producer: every live head was at least this when last looked */
};

/* Bits of chan_end.signals: what another thread asks of the call in flight. */
#define CH_SIG_WAKE 1u    /* shmlib_chan_wake: end the next (or current) wait */
#define CH_SIG_CLOSING 2u /* close or handover is under way: end any wait now */

/* The low bit of chan_end.state while a call is in flight on the end. */
#define CH_BUSY 1u

/*
 * One open end. Slots are never freed (a late caller holding a stale handle
 * may still look at one), only reused under a new handle.
 */
struct chan_end {
    /* The handle this slot serves, | CH_BUSY during a slow-path call (see
     * chan_table.c); 0 when free. Only the thread in such a call, or a
     * closer that made itself that thread, changes it. */
    _Atomic uint64_t state;
    _Atomic uint32_t signals; /* CH_SIG_*, set by other threads */
    _Atomic int busy_tid;     /* the thread in a slow-path call, for a closer to tell a dead one */
    _Atomic int wakers;       /* shmlib_chan_wake calls touching the ring right now */
    /* The fast path (chan_table.c): the thread the end is biased to enters
     * with plain stores; others revoke the bias first. */
    _Atomic uint32_t owner;  /* the biased thread's slot + 1 (chan_table.c); 0: none */
    _Atomic uint32_t revoke; /* 1 while another thread takes the bias away */
    int entered_slow;           /* the call in flight took the slow path */
    /* While a call sleeps: its place in chan_watch.c's list. */
    struct chan_end *watch_prev, *watch_next;

    unsigned char *base; /* the mapping */
    uint64_t capacity, max_msg;
    int end;        /* SHMLIB_CHAN_PRODUCER or SHMLIB_CHAN_CONSUMER */
    int eintr;      /* SHMLIB_CHAN_EINTR was given: a signal ends a wait */
    int lock_fd;    /* the segment's file, OFD-locked for this end; -1 on System V */
    uint64_t pid_ns; /* this process's pid namespace (System V liveness) */
    uint64_t data_off; /* where the data area starts: CH_DATA_OFFSET, or further in a broadcast */
    int bcast;         /* a broadcast end (bcast_ring.c): then b holds the rest */
    struct bcast_end b;
    int notify_fd;     /* notify.c: the end's eventfd, -1 until shmlib_chan_fd; 0 unused */
    struct notifier *watcher; /* notify.c: the watcher it is armed with, or NULL */

    uint64_t pos;       /* this end's own copy of tail (producer) or head (consumer) */
    int pending;        /* a reservation (producer) or a held message (consumer) */
    uint64_t pend_pad;  /* producer: padding record before the reservation */
    uint64_t pend_size; /* producer: bytes reserved; consumer: bytes to release */
    int64_t spin_ns;    /* adaptive spin budget, see chan_wait.c */

    char key[SHMLIB_KEY_MAX];
};

/* Shared words of the mapped channel. */
static inline _Atomic uint64_t *ch_u64(const struct chan_end *e, unsigned off)
{
    return (_Atomic uint64_t *)(e->base + off);
}
static inline _Atomic uint32_t *ch_u32(const struct chan_end *e, unsigned off)
{
    return (_Atomic uint32_t *)(e->base + off);
}
static inline unsigned char *ch_data(const struct chan_end *e, uint64_t pos)
{
    return e->base + e->data_off + pos;
}

/* chan_table.c: handles. */
int chan_enter(const char *op, shmlib_chan_t h, struct chan_end **out);
int chan_enter_slow(const char *op, shmlib_chan_t h, struct chan_end **out);
void chan_leave(struct chan_end *e);

/* chan_wait.c: waiting. ready() returns 1 when the call can go on, 0 to
 * wait on, or a negative code (message set). */
typedef int (*chan_ready_fn)(struct chan_end *e, const char *op, void *arg);
int chan_wait(struct chan_end *e, const char *op, int64_t timeout_ns, chan_ready_fn ready, void *arg);
void chan_futex_wake(_Atomic uint32_t *word);
int chan_interrupted(struct chan_end *e, const char *op); /* SHMLIB_EWOKEN if a wake or close asks */
void chan_duration(char *buf, size_t len, int64_t ns);    /* "100ms", as Go prints durations */
int64_t chan_now_ns(void);                                /* CLOCK_MONOTONIC */
void chan_bump(_Atomic uint32_t *seq, _Atomic uint32_t *waiting);

/* A channel's waiting word is a flag of one sleeper, which the waker
 * lowers (chan_bump); a broadcast's is a count several sleepers share
 * (subscribers), which wakers never lower (internal/broadcast/PROTOCOL.md).
 * A sleeper raises it before each sleep and lowers it after. */
static inline void chan_waiting_raise(const struct chan_end *e, _Atomic uint32_t *waiting)
{
    if (e->bcast)
        atomic_fetch_add(waiting, 1);
    else
        atomic_store(waiting, 1);
}
static inline void chan_waiting_lower(const struct chan_end *e, _Atomic uint32_t *waiting)
{
    if (e->bcast)
        atomic_fetch_sub(waiting, 1);
    else
        atomic_store(waiting, 0);
}

/* chan_peer.c: liveness of the other end (PROTOCOL.md, "Liveness"). */
/* 0 if the peer may still act, a negative code (SHMLIB_EPEER) if it is
 * gone, 1 if ready() turned true meanwhile. */
int chan_peer_gone(struct chan_end *e, const char *op, chan_ready_fn ready, void *arg);
/* Whether anyone holds the OFD lock of the byte at off of fd (1 when the
 * kernel cannot say: never call a live holder dead). */
int chan_lock_held(int fd, unsigned off);
/* 1 if the peer looks gone from the shared state alone (*o: its owner word;
 * a broadcast producer: some subscriber slot's holder died). */
int chan_peer_looks_gone(struct chan_end *e, uint64_t *o);

/* chan_watch.c: one thread judges every sleeping waiter's peer. */
int chan_watch_begin(struct chan_end *e); /* 1 if watched: sleep without slices */
void chan_watch_end(struct chan_end *e);

/* Sets the calling thread's last error to "op key: message" and returns code. */
int chan_fail(const struct chan_end *e, const char *op, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* For the Go control plane (capi/channels.go). */
int libshm_chan_register(void *base, uint64_t capacity, uint64_t max_msg, int end, int eintr,
                         int lock_fd, uint64_t pid_ns, uint64_t pos, const char *key,
                         const struct bcast_end *bcast, uint64_t data_off, uint64_t *out_handle);
int libshm_chan_quiesce(const char *op, uint64_t h);
void libshm_chan_unquiesce(uint64_t h);
void libshm_chan_unregister(uint64_t h);

/* The data-plane exports' bodies (guard.c forwards to them). */
int libshm_chan_send(shmlib_chan_t h, const void *buf, size_t len, int64_t timeout_ns);
int libshm_chan_reserve(shmlib_chan_t h, size_t len, int64_t timeout_ns, void **out_ptr);
int libshm_chan_commit(shmlib_chan_t h, size_t len);
int libshm_chan_recv(shmlib_chan_t h, void *buf, size_t cap, size_t *out_len, int64_t timeout_ns);
int libshm_chan_peek(shmlib_chan_t h, int64_t timeout_ns, const void **out_ptr, size_t *out_len);
int libshm_chan_release(shmlib_chan_t h);
int libshm_chan_wake(shmlib_chan_t h);
int libshm_chan_lost(shmlib_chan_t h, uint64_t *out_lost);
int libshm_chan_wait_any(const shmlib_chan_t *chans, size_t n, int64_t timeout_ns, size_t *out_index);

/* waitset.c: readiness of an entered end without changing it, and the
 * futex word it sleeps on. */
int chan_end_ready(struct chan_end *e);
/* notify.c: an end being closed is taken out of its watcher (before the
 * ring is unmapped); an end let go of closes its eventfd. */
void chan_notify_forget(struct chan_end *e);
void chan_notify_close(struct chan_end *e);
int libshm_chan_fd(shmlib_chan_t h, int *out_fd);
int libshm_chan_arm(shmlib_chan_t h);
_Atomic uint32_t *chan_end_seq(struct chan_end *e);
/* Where a producer's next message of the largest size would overwrite
 * from: the bytes before it must be free for the end to be ready. */
uint64_t chan_largest_floor(const struct chan_end *e);

/* bcast_ring.c: what differs in a broadcast end (chan_ring.c dispatches). */
uint64_t bcast_floor(const struct chan_end *e, uint64_t total);
int bcast_room(struct chan_end *e, const char *op, void *floor);
int bcast_dead_slot(struct chan_end *e);
int bcast_commit(struct chan_end *e, const char *op, size_t len);
int bcast_peek(struct chan_end *e, const char *op, int64_t timeout_ns, const unsigned char **msg, uint64_t *len);
_Atomic uint64_t *bcast_head(struct chan_end *e);
void bcast_release(struct chan_end *e);
int bcast_reap(struct chan_end *e, void *arg);

#endif
