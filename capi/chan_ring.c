/*
 * The channel data plane: reserve, commit, send (producer); peek, release,
 * recv (consumer), over the ring PROTOCOL.md describes, in C. The Go
 * implementation of the same protocol is internal/channel; where the two
 * read the same shared word they make the same checks and give the same
 * codes.
 *
 * Every value read from shared memory is checked before it is used as a
 * length or an offset: any process attached to the segment may scribble.
 */
#include <string.h>

#include "chan.h"
#include "chan_user.h"

static uint64_t align_up(uint64_t n) { return (n + CH_ALIGN - 1) & ~(uint64_t)(CH_ALIGN - 1); }

static int bad_pointer(const struct chan_end *e, const char *op)
{
    return chan_fail(e, op, SHMLIB_EFAULT, "a pointer argument points to memory that cannot be accessed");
}

/* The out-parameters of a call: probed once, before it waits or changes
 * anything the peer sees, and written at its end (chan_user.c). */
struct outs {
    int n, probed;
    void *dst[CHAN_USER_MAX];
    size_t len[CHAN_USER_MAX];
};

static int probe(struct chan_end *e, const char *op, struct outs *o)
{
    if (o->probed)
        return 0;
    o->probed = 1;
    return chan_user_probe(o->dst, o->len, o->n) ? 0 : bad_pointer(e, op);
}

static void write_header(struct chan_end *e, uint64_t pos, uint32_t length, uint32_t kind)
{
    uint32_t h[4] = {length, kind, 0, 0};
    memcpy(ch_data(e, pos), h, sizeof h);
}

/* --------------------------------------------------------------- producer */

/* ready: the ring has room for *total bytes. */
static int room(struct chan_end *e, const char *op, void *total)
{
    uint64_t head = atomic_load_explicit(ch_u64(e, CH_OFF_HEAD), memory_order_acquire);
    if (head > e->pos || e->pos - head > e->capacity)
        return chan_fail(e, op, SHMLIB_ECORRUPT, "head %llu does not fit tail %llu", (unsigned long long)head,
                         (unsigned long long)e->pos);
    return e->capacity - (e->pos - head) >= *(uint64_t *)total;
}

static int reserve(struct chan_end *e, const char *op, size_t len, int64_t timeout_ns, void **out, struct outs *o)
{
    if (e->end != SHMLIB_CHAN_PRODUCER)
        return chan_fail(e, op, SHMLIB_EINVAL, "only the producer end sends");
    if (e->pending)
        return chan_fail(e, op, SHMLIB_EINVAL, "a reservation is pending; commit it first");
    if (len > e->max_msg)
        return chan_fail(e, op, SHMLIB_EMSGSIZE, "%zu bytes is over this channel's limit of %llu (half its capacity, less 16)",
                         len, (unsigned long long)e->max_msg);
    uint64_t need = CH_RECORD_HDR + align_up(len);
    uint64_t pos = e->pos % e->capacity, pad = 0;
    if (need > e->capacity - pos)
        pad = e->capacity - pos; /* a padding record fills the rest; the message starts over */
    uint64_t total = pad + need;
    /* A broadcast producer waits for its subscribers' heads instead. */
    uint64_t floor = e->bcast ? bcast_floor(e, total) : 0;
    chan_ready_fn fits = e->bcast ? bcast_room : room;
    void *arg = e->bcast ? (void *)&floor : (void *)&total;
    int rc = fits(e, op, arg);
    if (rc < 0 || (rc == 0 && ((rc = probe(e, op, o)) != 0 || (rc = chan_wait(e, op, timeout_ns, fits, arg)) != 0)))
        return rc;
    if (pad > 0)
        write_header(e, pos, 0, CH_KIND_PADDING); /* it always runs to the end */
    e->pending = 1;
    e->pend_pad = pad;
    e->pend_size = len;
    *out = ch_data(e, (e->pos + pad) % e->capacity + CH_RECORD_HDR);
    return SHMLIB_OK;
}

static int commit(struct chan_end *e, const char *op, size_t len)
{
    if (e->end != SHMLIB_CHAN_PRODUCER)
        return chan_fail(e, op, SHMLIB_EINVAL, "only the producer end sends");
    if (!e->pending)
        return chan_fail(e, op, SHMLIB_EINVAL, "nothing is reserved");
    if (len > e->pend_size)
        return chan_fail(e, op, SHMLIB_EINVAL, "%zu bytes is more than the %llu reserved", len,
                         (unsigned long long)e->pend_size);
    if (e->bcast)
        return bcast_commit(e, op, len);
    write_header(e, (e->pos + e->pend_pad) % e->capacity, (uint32_t)len, CH_KIND_MESSAGE);
    e->pos += e->pend_pad + CH_RECORD_HDR + align_up(len);
    e->pending = 0;
    atomic_store_explicit(ch_u64(e, CH_OFF_TAIL), e->pos, memory_order_release);
    chan_bump(ch_u32(e, CH_OFF_DATA_SEQ), ch_u32(e, CH_OFF_CONS_WAITING));
    return SHMLIB_OK;
}

int libshm_chan_reserve(shmlib_chan_t h, size_t len, int64_t timeout_ns, void **out_ptr)
{
    static const char op[] = "chan_reserve";
    struct chan_end *e;
    int rc = chan_enter(op, h, &e);
    if (rc != 0)
        return rc;
    void *p;
    struct outs o = {1, 0, {out_ptr}, {sizeof *out_ptr}};
    if (out_ptr == NULL) {
        rc = chan_fail(e, op, SHMLIB_EINVAL, "out_ptr is NULL");
    } else if ((rc = reserve(e, op, len, timeout_ns, &p, &o)) == 0 &&
               chan_user_deliver(o.dst, (const void *[]){&p}, o.len, 1) != 0) {
        e->pending = 0; /* nothing reserved after all */
        rc = bad_pointer(e, op);
    }
    chan_leave(e);
    return rc;
}

int libshm_chan_commit(shmlib_chan_t h, size_t len)
{
    static const char op[] = "chan_commit";
    struct chan_end *e;
    int rc = chan_enter(op, h, &e);
    if (rc != 0)
        return rc;
    rc = commit(e, op, len);
    chan_leave(e);
    return rc;
}

int libshm_chan_send(shmlib_chan_t h, const void *buf, size_t len, int64_t timeout_ns)
{
    static const char op[] = "chan_send";
    struct chan_end *e;
    int rc = chan_enter(op, h, &e);
    if (rc != 0)
        return rc;
    void *p;
    struct outs none = {0, 1, {NULL}, {0}};
    if (buf == NULL && len > 0) {
        rc = chan_fail(e, op, SHMLIB_EINVAL, "buf is NULL");
    } else if ((rc = reserve(e, op, len, timeout_ns, &p, &none)) == 0) {
        /* Copied before anything is published: a buffer that cannot be
         * read sends nothing and leaves no reservation behind. */
        if (chan_user_read(p, buf, len) != 0) {
            e->pending = 0;
            rc = bad_pointer(e, op);
        } else {
            rc = commit(e, op, len);
        }
    }
    chan_leave(e);
    return rc;
}

/* --------------------------------------------------------------- consumer */

/* ready: a record lies between head and tail, or the stream has ended;
 * *tail receives the tail seen. */
static int data(struct chan_end *e, const char *op, void *tail_out)
{
    /* closed is read before tail: the producer sets it after its last
     * commit, so seeing it means seeing every commit. */
    int closed = atomic_load_explicit(ch_u32(e, CH_OFF_CLOSED), memory_order_acquire) != 0;
    uint64_t tail = atomic_load_explicit(ch_u64(e, CH_OFF_TAIL), memory_order_acquire);
    *(uint64_t *)tail_out = tail;
    if (tail < e->pos || tail - e->pos > e->capacity || tail % CH_ALIGN != 0)
        return chan_fail(e, op, SHMLIB_ECORRUPT, "tail %llu does not fit head %llu", (unsigned long long)tail,
                         (unsigned long long)e->pos);
    if (tail != e->pos)
        return 1;
    if (closed)
        return chan_fail(e, op, SHMLIB_EEOS, "the producer closed the channel and every message has been received");
    return 0;
}

/* Releases n bytes to the producer and wakes it if it sleeps. */
static void advance(struct chan_end *e, uint64_t n)
{
    e->pos += n;
    if (e->bcast) {
        bcast_release(e);
        return;
    }
    atomic_store_explicit(ch_u64(e, CH_OFF_HEAD), e->pos, memory_order_release);
    chan_bump(ch_u32(e, CH_OFF_SPACE_SEQ), ch_u32(e, CH_OFF_PROD_WAITING));
}

/* Waits for the next message and holds it: *msg, *len. */
static int peek(struct chan_end *e, const char *op, int64_t timeout_ns, const unsigned char **msg, uint64_t *len,
                struct outs *o)
{
    if (e->end != SHMLIB_CHAN_CONSUMER)
        return chan_fail(e, op, SHMLIB_EINVAL, "only the consumer end receives");
    if (e->pending)
        return chan_fail(e, op, SHMLIB_EINVAL, "a message is held; release it first");
    if (e->bcast)
        return bcast_peek(e, op, timeout_ns, msg, len);
    for (;;) {
        uint64_t tail;
        int rc = data(e, op, &tail);
        if (rc != 1 && (rc = probe(e, op, o)) == 0)
            rc = chan_wait(e, op, timeout_ns, data, &tail);
        else if (rc == 1)
            rc = 0;
        if (rc != 0)
            return rc;
        uint64_t pos = e->pos % e->capacity, to_end = e->capacity - pos;
        /* Each header field is read once: the values checked are the values used. */
        uint32_t hdr[2];
        memcpy(hdr, ch_data(e, pos), sizeof hdr);
        __asm__ __volatile__("" ::: "memory");
        uint64_t length = hdr[0];
        uint32_t kind = hdr[1];
        if (kind == CH_KIND_PADDING && e->pos + to_end <= tail) {
            if ((rc = probe(e, op, o)) != 0) /* before the peer sees any change */
                return rc;
            advance(e, to_end);
            continue;
        }
        if (kind == CH_KIND_MESSAGE && length <= e->max_msg && CH_RECORD_HDR + align_up(length) <= to_end &&
            e->pos + CH_RECORD_HDR + align_up(length) <= tail) {
            e->pending = 1;
            e->pend_size = CH_RECORD_HDR + align_up(length);
            *msg = ch_data(e, pos + CH_RECORD_HDR);
            *len = length;
            return SHMLIB_OK;
        }
        return chan_fail(e, op, SHMLIB_ECORRUPT, "bad record at offset %llu: kind %u, length %llu (head %llu, tail %llu)",
                         (unsigned long long)pos, kind, (unsigned long long)length, (unsigned long long)e->pos,
                         (unsigned long long)tail);
    }
}

int libshm_chan_peek(shmlib_chan_t h, int64_t timeout_ns, const void **out_ptr, size_t *out_len)
{
    static const char op[] = "chan_peek";
    struct chan_end *e;
    int rc = chan_enter(op, h, &e);
    if (rc != 0)
        return rc;
    const unsigned char *msg;
    uint64_t len;
    struct outs o = {2, 0, {(void *)out_ptr, out_len}, {sizeof *out_ptr, sizeof *out_len}};
    if (out_ptr == NULL || out_len == NULL) {
        rc = chan_fail(e, op, SHMLIB_EINVAL, "out_ptr or out_len is NULL");
    } else if ((rc = peek(e, op, timeout_ns, &msg, &len, &o)) == 0) {
        size_t n = (size_t)len;
        if (chan_user_deliver(o.dst, (const void *[]){&msg, &n}, o.len, 2) != 0) {
            e->pending = 0; /* not held after all: the next peek gets it */
            if (e->bcast)
                atomic_store_explicit(bcast_head(e), e->pos, memory_order_release);
            rc = bad_pointer(e, op);
        }
    }
    chan_leave(e);
    return rc;
}

int libshm_chan_release(shmlib_chan_t h)
{
    static const char op[] = "chan_release";
    struct chan_end *e;
    int rc = chan_enter(op, h, &e);
    if (rc != 0)
        return rc;
    if (e->end != SHMLIB_CHAN_CONSUMER || !e->pending) {
        rc = chan_fail(e, op, SHMLIB_EINVAL, "no message is held");
    } else {
        e->pending = 0;
        advance(e, e->pend_size);
    }
    chan_leave(e);
    return rc;
}

/* recv's end: copies the message peek found into buf and its length
 * into *out_len, or leaves it in the channel (not held) when it does not
 * fit (SHMLIB_ERANGE, with *out_len) or buf or out_len cannot be written. */
static int copy_out(struct chan_end *e, const char *op, const unsigned char *msg, uint64_t len, void *buf, size_t cap,
                    size_t *out_len)
{
    size_t n = (size_t)len;
    e->pending = 0;
    if (e->bcast) /* not held any more (a release moves past it) */
        atomic_store_explicit(bcast_head(e), e->pos, memory_order_release);
    if (len > cap) {
        if (chan_user_deliver((void *[]){out_len}, (const void *[]){&n}, (size_t[]){sizeof n}, 1) != 0)
            return bad_pointer(e, op);
        return chan_fail(e, op, SHMLIB_ERANGE, "the message has %llu bytes; the buffer holds %zu",
                         (unsigned long long)len, cap);
    }
    /* buf first: if it cannot be written, *out_len is left as it was. */
    if (chan_user_deliver((void *[]){buf, out_len}, (const void *[]){msg, &n}, (size_t[]){n, sizeof n}, 2) != 0)
        return bad_pointer(e, op);
    advance(e, e->pend_size);
    return SHMLIB_OK;
}

int libshm_chan_recv(shmlib_chan_t h, void *buf, size_t cap, size_t *out_len, int64_t timeout_ns)
{
    static const char op[] = "chan_recv";
    struct chan_end *e;
    int rc = chan_enter(op, h, &e);
    if (rc != 0)
        return rc;
    const unsigned char *msg;
    uint64_t len;
    struct outs o = {1, 0, {out_len}, {sizeof *out_len}};
    if (out_len == NULL || (buf == NULL && cap > 0)) {
        rc = chan_fail(e, op, SHMLIB_EINVAL, "out_len is NULL, or buf is NULL with a capacity");
    } else {
        if (cap > e->max_msg)
            cap = (size_t)e->max_msg; /* no message is longer, so neither need buf be */
        if ((uintptr_t)buf + cap < (uintptr_t)buf)
            rc = chan_fail(e, op, SHMLIB_EFAULT, "a buffer of %zu bytes at %p runs past the end of the address space",
                           cap, buf);
        else if ((rc = peek(e, op, timeout_ns, &msg, &len, &o)) == 0)
            rc = copy_out(e, op, msg, len, buf, cap, out_len);
    }
    chan_leave(e);
    return rc;
}
