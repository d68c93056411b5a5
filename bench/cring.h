/*
 * bench/cring.h - the "c-ring" baseline: a plain C single-producer,
 * single-consumer ring of variable-length records in shared memory, with
 * the same waiting as libshm's channels (spin up to 20 us, then sleep on a
 * futex word that the other side bumps, raising a waiting flag first). No
 * handles, no checks of what the peer wrote, no liveness: what a careful
 * programmer writes for one program. Records are a 16-byte header and the
 * payload padded to 16, and a record never wraps (a padding record fills
 * the end), as in libshm.
 */
#ifndef BENCH_CRING_H
#define BENCH_CRING_H

#include <limits.h>
#include <linux/futex.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

struct cring {
    _Alignas(64) _Atomic uint64_t tail;
    _Atomic uint32_t data_seq, cons_waiting;
    _Alignas(64) _Atomic uint64_t head;
    _Atomic uint32_t space_seq, prod_waiting;
    _Alignas(64) uint64_t capacity;
};

#define CRING_DATA(r) ((unsigned char *)(r) + 4096)
#define CRING_SPIN_NS 20000

static inline uint64_t cring_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Waits until ready(r, arg) holds: spin, then futex. */
static inline void cring_wait(_Atomic uint32_t *seq, _Atomic uint32_t *waiting,
                              int (*ready)(struct cring *, uint64_t), struct cring *r, uint64_t arg)
{
    if (ready(r, arg))
        return; /* the clock is read only when there is a wait */
    uint64_t start = cring_now();
    for (unsigned i = 1; !ready(r, arg); i++) {
        __builtin_ia32_pause();
        if (i % 32 == 0 && cring_now() - start > CRING_SPIN_NS) {
            for (;;) {
                uint32_t v = atomic_load(seq);
                atomic_store(waiting, 1);
                if (ready(r, arg))
                    break;
                syscall(SYS_futex, seq, FUTEX_WAIT, v, NULL, NULL, 0);
            }
            atomic_store(waiting, 0);
            return;
        }
    }
}

static inline void cring_bump(_Atomic uint32_t *seq, _Atomic uint32_t *waiting)
{
    atomic_fetch_add(seq, 1);
    if (atomic_load(waiting))
        syscall(SYS_futex, seq, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

static inline uint64_t cring_align(uint64_t n) { return (n + 15) & ~(uint64_t)15; }

static inline int cring_room(struct cring *r, uint64_t want)
{
    uint64_t used = atomic_load_explicit(&r->tail, memory_order_relaxed) -
                    atomic_load_explicit(&r->head, memory_order_acquire);
    return r->capacity - used >= want;
}

/* Producer: a place for len bytes; *pos is the producer's own tail. */
static inline void *cring_reserve(struct cring *r, uint64_t pos, size_t len, uint64_t *pad)
{
    uint64_t need = 16 + cring_align(len), at = pos % r->capacity;
    *pad = need > r->capacity - at ? r->capacity - at : 0;
    cring_wait(&r->space_seq, &r->prod_waiting, cring_room, r, *pad + need);
    if (*pad) {
        uint32_t h[4] = {0, 2, 0, 0};
        memcpy(CRING_DATA(r) + at, h, 16);
    }
    return CRING_DATA(r) + (pos + *pad) % r->capacity + 16;
}

static inline uint64_t cring_commit(struct cring *r, uint64_t pos, uint64_t pad, size_t len)
{
    uint32_t h[4] = {(uint32_t)len, 1, 0, 0};
    memcpy(CRING_DATA(r) + (pos + pad) % r->capacity, h, 16);
    pos += pad + 16 + cring_align(len);
    atomic_store_explicit(&r->tail, pos, memory_order_release);
    cring_bump(&r->data_seq, &r->cons_waiting);
    return pos;
}

static inline int cring_data(struct cring *r, uint64_t head)
{
    return atomic_load_explicit(&r->tail, memory_order_acquire) != head;
}

/* Consumer: the next message; *pos is the consumer's own head, advanced past
 * padding. */
static inline const void *cring_peek(struct cring *r, uint64_t *pos, size_t *len, uint64_t *size)
{
    for (;;) {
        cring_wait(&r->data_seq, &r->cons_waiting, cring_data, r, *pos);
        uint64_t at = *pos % r->capacity;
        uint32_t h[2];
        memcpy(h, CRING_DATA(r) + at, 8);
        if (h[1] == 2) {
            *pos += r->capacity - at;
            atomic_store_explicit(&r->head, *pos, memory_order_release);
            cring_bump(&r->space_seq, &r->prod_waiting);
            continue;
        }
        *len = h[0];
        *size = 16 + cring_align(h[0]);
        return CRING_DATA(r) + at + 16;
    }
}

static inline void cring_release(struct cring *r, uint64_t *pos, uint64_t size)
{
    *pos += size;
    atomic_store_explicit(&r->head, *pos, memory_order_release);
    cring_bump(&r->space_seq, &r->prod_waiting);
}

#endif
