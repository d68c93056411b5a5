/*
 * adversarial/calls_channels.h - part of adversarial.c (one program, built from that
 * file, which includes its parts once, in order): the channel calls: chan_create, chan_open, chan_close, chan_max_message, send, reserve, commit, recv, peek, release, against the model of each ring.
 */
/* ---------------------------------------------------------------- channels */

static uint64_t align16(uint64_t n) { return (n + 15) & ~(uint64_t)15; }

/* Does a message of n bytes fit now? *pad: the padding it needs first. */
static int ring_room(const struct seg *g, uint64_t n, uint32_t *pad)
{
    uint64_t need = 16 + align16(n), pos = g->tail % g->cap, p = 0;
    if (g->cap - pos < need)
        p = g->cap - pos;
    *pad = (uint32_t)p;
    return g->cap - (g->tail - g->head) >= p + need;
}

static void ring_commit(struct seg *g, uint32_t pad, uint64_t len)
{
    g->tail += pad + 16 + align16(len);
    struct msg *m = &g->q[(g->qhead + g->qlen) % (g->cap / 16 + 1)];
    m->seq = g->next_seq++;
    m->len = (uint32_t)len;
    m->pad = pad;
    g->qlen++;
}

static struct msg *ring_front(struct seg *g) { return g->qlen ? &g->q[g->qhead] : NULL; }

static void ring_pop(struct seg *g)
{
    struct msg *m = ring_front(g);
    g->head += m->pad + 16 + align16(m->len);
    g->qhead = (g->qhead + 1) % (g->cap / 16 + 1);
    g->qlen--;
}

/* Message seq of a channel: its number in the first 8 bytes (as many as
 * fit), then pattern bytes; any prefix of one is a message of that length. */
static void fill_msg(unsigned char *buf, const struct seg *g, uint64_t seq, size_t len)
{
    uint64_t tag = (g->id << 32) ^ seq;
    memcpy(buf, &seq, len < 8 ? len : 8);
    if (len > 8)
        harness_fill(buf + 8, len - 8, tag);
}

static int msg_ok(const unsigned char *buf, const struct seg *g, uint64_t seq, size_t len)
{
    uint64_t tag = (g->id << 32) ^ seq;
    if (memcmp(buf, &seq, len < 8 ? len : 8) != 0)
        return 0;
    return len <= 8 || harness_verify(buf + 8, len - 8, tag) == len - 8;
}

/* In an unchecked channel: is it some message of this channel, intact? */
static int msg_plausible(const unsigned char *buf, const struct seg *g, size_t len)
{
    if (len < 8)
        return 1;
    uint64_t seq;
    memcpy(&seq, buf, 8);
    return seq > 0 && seq < g->next_seq && msg_ok(buf, g, seq, len);
}

static void verify_delivery(const unsigned char *buf, struct seg *g, size_t len, const char *how)
{
    struct msg *m = ring_front(g);
    if (g->unchecked) {
        if (!msg_plausible(buf, g, len))
            violation(V_DATA, "%s: %zu bytes that are no message of this channel", how, len);
        return;
    }
    if (m == NULL) {
        violation(V_DATA, "%s: a message delivered from an empty channel", how);
        return;
    }
    if (len != m->len || !msg_ok(buf, g, m->seq, len))
        violation(V_DATA, "%s: got %zu bytes, want message %" PRIu64 " of %u bytes (first differing: %s)",
                  how, len, m->seq, m->len, len != m->len ? "length" : "content");
    stat_msgs_checked++;
}

static int nhnds(void)
{
    int n = 0;
    for (int i = 0; i < MAXHND; i++)
        n += hnds[i].used;
    return n;
}

static int hnd_slot(shmlib_chan_t h)
{
    if (h == 0)
        return -1;
    for (int i = 0; i < MAXHND; i++)
        if (hnds[i].used && hnds[i].h == h)
            return i;
    return -1;
}

/* A handle: mostly an open end of the kind wanted, else any kind of wrong. */
static shmlib_chan_t gen_handle(int want_end, int *slot)
{
    int idx[MAXHND], n = 0, other[MAXHND], no = 0;
    for (int i = 0; i < MAXHND; i++)
        if (hnds[i].used) {
            if (hnds[i].end == want_end)
                idx[n++] = i;
            else
                other[no++] = i;
        }
    shmlib_chan_t h;
    int r = (int)stress_below(&rng, 20);
    if (r < 16 && n > 0)
        h = hnds[idx[stress_below(&rng, (uint64_t)n)]].h;
    else if (r < 16 && no > 0)
        h = hnds[other[stress_below(&rng, (uint64_t)no)]].h;
    else if (r < 18 && nstale_hnds > 0)
        h = stale_hnds[stress_below(&rng, (uint64_t)nstale_hnds)];
    else if (r == 18)
        h = 0;
    else
        h = stress_below(&rng, 2) ? stress_rand(&rng) : max_handle + 1 + stress_below(&rng, 3);
    *slot = hnd_slot(h);
    return h;
}

/* A fault on the output of a call on an open end: the library may have
 * acted before it faulted (the probes say what it does). The end is closed
 * to start over from a known state, and its channel is no longer modelled
 * message by message. */
static void close_slot(int i);

static void taint(int slot)
{
    bug_tainted++;
    segs[hnds[slot].seg].unchecked = 1;
    close_slot(slot);
}

static void close_slot(int i)
{
    struct hnd *x = &hnds[i];
    struct seg *g = &segs[x->seg];
    begin(F_CHAN_CLOSE);
    describe("shmlib_chan_close(%" PRIu64 ") [cleanup of a %s end]", x->h,
             x->end == SHMLIB_CHAN_PRODUCER ? "producer" : "consumer");
    int rc = shmlib_chan_close(x->h);
    check(rc, B(0), 0);
    if (x->end == SHMLIB_CHAN_PRODUCER) {
        g->closed = 1;
        g->prod = -1;
    } else {
        g->cons = -1;
        g->cons_left = 1;
    }
    add_stale_hnd(x->h);
    int s = x->seg;
    memset(x, 0, sizeof *x);
    orphan_check(s);
}

static void call_chan_open(void)
{
    begin(F_CHAN_OPEN);
    struct key k;
    gen_key(&k, 1, 0, 1);
    int exists, unknown;
    uint32_t errs = key_errors(&k, 0, &exists, &unknown);
    int end;
    switch (stress_below(&rng, 14)) {
    case 0: end = 0; break;
    case 1: end = 3; break;
    case 2: end = -1; break;
    case 3: end = (int)stress_rand(&rng); break;
    case 4: case 5: case 6: end = 1 + (int)stress_below(&rng, 2); break;
    default:
        /* Mostly an end that is free to take. */
        end = 1 + (int)stress_below(&rng, 2);
        if (exists && segs[k.seg].chan) {
            if (segs[k.seg].prod < 0 && !segs[k.seg].closed)
                end = SHMLIB_CHAN_PRODUCER;
            else if (segs[k.seg].cons < 0)
                end = SHMLIB_CHAN_CONSUMER;
        }
        break;
    }
    if (end != SHMLIB_CHAN_PRODUCER && end != SHMLIB_CHAN_CONSUMER)
        errs |= B(SHMLIB_EINVAL);
    int ocls;
    shmlib_chan_t *out = out_param(OFF_CHAN, 6, &ocls);
    if (ocls == P_NULL)
        errs |= B(SHMLIB_EINVAL);
    struct seg *g = exists ? &segs[k.seg] : NULL;
    uint32_t allowed = 0;
    if (!unknown) {
        if (!exists)
            allowed = B(SHMLIB_ENOENT);
        else if (!g->chan)
            allowed = B(SHMLIB_EINVAL) | (g->size > (1ull << 44) ? B(SHMLIB_ENOMEM) : 0);
        else if ((end == SHMLIB_CHAN_PRODUCER ? g->prod : g->cons) >= 0)
            allowed = B(SHMLIB_EBUSY);
        else if (end == SHMLIB_CHAN_PRODUCER && g->closed)
            allowed = B(SHMLIB_EEOS);
        else
            allowed = faults(ocls) ? B(SHMLIB_EFAULT) : B(0);
        if (errs)
            allowed = errs | (allowed & ~B(0));
    }
    if (allowed == B(0) && nhnds() >= MAXHND - 1) {
        /* No room for another end: close one instead. */
        for (int i = 0; i < MAXHND; i++)
            if (hnds[i].used) {
                close_slot(i);
                return;
            }
    }
    describe("shmlib_chan_open(");
    describe_key(&k);
    describe(", end=%d, out_chan=%s)", end, pname(ocls));
    if (good(ocls))
        sentinel(out, sizeof *out);
    uintptr_t before[512];
    int nbefore = allowed == B(0) ? shm_starts(before, 512) : 0;
    int rc = shmlib_chan_open(k.p, end, out);
    check(rc, allowed, key_faults(&k) || faults(ocls));
    if (rc == 0) {
        if (!good(ocls) || unknown || !exists) {
            violation(V_STATE, "an end was opened the model cannot account for");
            return;
        }
        shmlib_chan_t h;
        memcpy(&h, (unsigned char *)out, sizeof h);
        if (h == 0 || h <= max_handle)
            violation(V_DATA, "handle %" PRIu64 " (0, or not new: the last was %" PRIu64 ")", h, max_handle);
        if (h > max_handle)
            max_handle = h;
        int i = free_slot(hnds, sizeof hnds[0], MAXHND);
        hnds[i] = (struct hnd){.used = 1, .h = h, .seg = k.seg, .end = end};
        hnds[i].chan_start = new_mapping(before, nbefore);
        if (hnds[i].chan_start == NULL)
            harness_fail(__FILE__, __LINE__, "call #%ld: cannot find the mapping of the new end", call_no);
        if (end == SHMLIB_CHAN_PRODUCER) {
            g->prod = i;
        } else {
            g->cons = i;
            g->cons_left = 0;
        }
        stat_handles_made++;
    } else {
        expect_untouched(ocls, out, sizeof *out, "out_chan");
        if (rc == SHMLIB_EFAULT && allowed == B(SHMLIB_EFAULT)) {
            /* Handles are numbered in order: an end the library opened
             * and could not hand back is the next number. */
            shmlib_chan_t ghost = max_handle + 1;
            int r2 = shmlib_chan_close(ghost);
            if (r2 == 0) {
                bug_open_leak++;
                max_handle = ghost;
                if (end == SHMLIB_CHAN_PRODUCER)
                    g->closed = 1;
                else
                    g->cons_left = 1;
                if (!probe_open_leak)
                    violation(V_STATE, "chan_open failed with SHMLIB_EFAULT but left end %d open as handle %" PRIu64,
                              end, ghost);
            }
        }
    }
}

static void call_chan_close(void)
{
    begin(F_CHAN_CLOSE);
    int slot;
    shmlib_chan_t h = gen_handle(stress_below(&rng, 2) ? SHMLIB_CHAN_PRODUCER : SHMLIB_CHAN_CONSUMER, &slot);
    if (slot >= 0) {
        close_slot(slot);
        return;
    }
    describe("shmlib_chan_close(%" PRIu64 ")", h);
    check(shmlib_chan_close(h), B(SHMLIB_EINVAL), 0);
}

static void call_chan_max(void)
{
    begin(F_CHAN_MAX);
    int slot, ocls;
    shmlib_chan_t h = gen_handle(stress_below(&rng, 2) ? SHMLIB_CHAN_PRODUCER : SHMLIB_CHAN_CONSUMER, &slot);
    uint64_t *out = out_param(OFF_SIZE, 10, &ocls);
    uint32_t allowed = slot < 0 || ocls == P_NULL ? B(SHMLIB_EINVAL) : faults(ocls) ? B(SHMLIB_EFAULT) : B(0);
    if (slot < 0 && ocls == P_NULL)
        allowed = B(SHMLIB_EINVAL);
    describe("shmlib_chan_max_message(%" PRIu64 ", %s)", h, pname(ocls));
    if (good(ocls))
        sentinel(out, 8);
    int rc = shmlib_chan_max_message(h, out);
    check(rc, allowed, faults(ocls));
    if (rc == 0 && good(ocls)) {
        uint64_t v;
        memcpy(&v, (unsigned char *)out, 8);
        if (v != segs[hnds[slot].seg].maxmsg)
            violation(V_DATA, "max message %" PRIu64 ", want %" PRIu64, v, segs[hnds[slot].seg].maxmsg);
    } else if (rc != 0) {
        expect_untouched(ocls, out, 8, "out_size");
    }
}

static size_t gen_len(uint64_t maxmsg)
{
    /* Messages that are written are at most 1 MiB: a big channel is sparse,
     * and filling gigabytes of it would fill /dev/shm (and SIGBUS). */
    uint64_t fill_max = maxmsg < BIGBUF_LEN ? maxmsg : BIGBUF_LEN;
    switch (stress_below(&rng, 40)) {
    case 0: case 1: return 0;
    case 2: case 3: return (size_t)fill_max;
    case 4: case 5: return (size_t)maxmsg + 1 + (size_t)stress_below(&rng, 100);
    case 6: return SIZE_MAX - (size_t)stress_below(&rng, 2);
    case 7: return (size_t)1 << 62;
    case 8: case 9: case 10: case 11: case 12: case 13: return (size_t)stress_below(&rng, fill_max + 1);
    default: return 1 + (size_t)stress_below(&rng, 256);
    }
}

static void call_chan_send(int reserve)
{
    begin(reserve ? F_CHAN_RESERVE : F_CHAN_SEND);
    int slot;
    shmlib_chan_t h = gen_handle(SHMLIB_CHAN_PRODUCER, &slot);
    struct hnd *x = slot >= 0 ? &hnds[slot] : NULL;
    struct seg *g = x ? &segs[x->seg] : NULL;
    size_t len = gen_len(g ? g->maxmsg : 100);
    int bcls = P_GOOD, ocls = P_GOOD;
    const void *buf = bigbuf;
    void **out = NULL;
    if (!reserve) {
        switch (stress_below(&rng, 100)) {
        case 0: buf = NULL; bcls = P_NULL; break;
        case 1: buf = none_page; bcls = P_NONE; break;
        case 2: buf = hole_now(); bcls = P_HOLE; break;
        case 3: buf = wild_pointer(); bcls = P_WILD; break;
        default: break;
        }
    } else {
        out = out_param(OFF_PTR, 3, &ocls);
    }
    uint32_t errs = 0;
    if (x == NULL || x->end != SHMLIB_CHAN_PRODUCER)
        errs |= B(SHMLIB_EINVAL);
    else if (x->reserved)
        errs |= B(SHMLIB_EINVAL);
    if (!reserve && buf == NULL && len > 0)
        errs |= B(SHMLIB_EINVAL);
    if (reserve && ocls == P_NULL)
        errs |= B(SHMLIB_EINVAL);
    if (g != NULL && x->end == SHMLIB_CHAN_PRODUCER && len > g->maxmsg)
        errs |= B(SHMLIB_EMSGSIZE);
    int fault = (!reserve && faults(bcls) && len > 0) || (reserve && faults(ocls));
    uint32_t pad = 0;
    int room = 0;
    uint32_t allowed;
    if (errs) {
        allowed = errs;
    } else if (g->unchecked) {
        allowed = 0;
    } else {
        room = ring_room(g, len, &pad);
        /* No room: a consumer that closed its end will make none. */
        allowed = room ? (fault ? B(SHMLIB_EFAULT) : B(0))
                       : g->cons_left ? B(SHMLIB_EPEER) : B(SHMLIB_ETIMEDOUT);
    }
    int64_t timeout = gen_timeout(allowed == B(0));
    /* A positive timeout may run out before the wait looks at the peer. */
    if (allowed == B(SHMLIB_EPEER) && timeout > 0)
        allowed |= B(SHMLIB_ETIMEDOUT);
    if (!errs && !reserve && bcls == P_GOOD && len <= BIGBUF_LEN)
        fill_msg(bigbuf, g, g->next_seq, len);
    if (reserve) {
        describe("shmlib_chan_reserve(%" PRIu64 "%s, %zu, timeout=%" PRId64 ", out_ptr=%s)", h,
                 x ? (x->end == 1 ? " producer" : " consumer") : " not open", len, timeout, pname(ocls));
        if (good(ocls))
            sentinel(out, 8);
        int rc = shmlib_chan_reserve(h, len, timeout, out);
        check(rc, allowed, fault);
        if (rc == 0) {
            unsigned char *p;
            memcpy(&p, (unsigned char *)out, sizeof p);
            if (((uintptr_t)p % 16) != 0)
                violation(V_DATA, "reserved memory at %p is not 16-byte aligned", (void *)p);
            if (!g->unchecked)
                room = ring_room(g, len, &pad);
            fill_msg(p, g, g->next_seq, len);
            x->reserved = 1;
            x->res_len = len;
            x->res_pad = pad;
        } else {
            expect_untouched(ocls, out, 8, "out_ptr");
            if (rc == SHMLIB_EFAULT && slot >= 0)
                taint(slot);
        }
    } else {
        describe("shmlib_chan_send(%" PRIu64 "%s, buf=%s, %zu, timeout=%" PRId64 ")", h,
                 x ? (x->end == 1 ? " producer" : " consumer") : " not open", pname(bcls), len, timeout);
        int rc = shmlib_chan_send(h, buf, len, timeout);
        check(rc, allowed, fault);
        if (rc == 0 && !g->unchecked)
            ring_commit(g, pad, len);
        else if (rc == 0)
            g->next_seq++;
        if (rc == SHMLIB_EFAULT && slot >= 0)
            taint(slot);
    }
}

static void call_chan_commit(void)
{
    begin(F_CHAN_COMMIT);
    int slot;
    shmlib_chan_t h = gen_handle(SHMLIB_CHAN_PRODUCER, &slot);
    for (int i = 0; i < MAXHND && stress_below(&rng, 3) != 0; i++)
        if (hnds[i].used && hnds[i].reserved) {
            slot = i;
            h = hnds[i].h;
            break;
        }
    struct hnd *x = slot >= 0 ? &hnds[slot] : NULL;
    size_t len;
    if (x != NULL && x->reserved) {
        switch (stress_below(&rng, 10)) {
        case 0: len = x->res_len + 1 + (size_t)stress_below(&rng, 100); break;
        case 1: len = SIZE_MAX; break;
        case 2: len = x->res_len; break;
        default: len = (size_t)stress_below(&rng, x->res_len + 1); break;
        }
    } else {
        len = (size_t)stress_below(&rng, 300);
    }
    uint32_t allowed;
    if (x == NULL || x->end != SHMLIB_CHAN_PRODUCER || !x->reserved || len > x->res_len)
        allowed = B(SHMLIB_EINVAL);
    else
        allowed = B(0);
    describe("shmlib_chan_commit(%" PRIu64 "%s, %zu)", h,
             x ? (x->reserved ? " reserved" : " nothing reserved") : " not open", len);
    int rc = shmlib_chan_commit(h, len);
    check(rc, allowed, 0);
    if (rc == 0 && x != NULL) {
        struct seg *g = &segs[x->seg];
        if (!g->unchecked)
            ring_commit(g, x->res_pad, len);
        else
            g->next_seq++;
        x->reserved = 0;
    }
}

static void call_chan_recv(int peek)
{
    begin(peek ? F_CHAN_PEEK : F_CHAN_RECV);
    int slot;
    shmlib_chan_t h = gen_handle(SHMLIB_CHAN_CONSUMER, &slot);
    struct hnd *x = slot >= 0 ? &hnds[slot] : NULL;
    struct seg *g = x ? &segs[x->seg] : NULL;
    struct msg *front = g && !g->unchecked ? ring_front(g) : NULL;
    uint32_t errs = 0;
    if (x == NULL || x->end != SHMLIB_CHAN_CONSUMER || x->held)
        errs |= B(SHMLIB_EINVAL);
    int bcls = P_GOOD, lcls, pcls = P_GOOD;
    void *buf = bigbuf;
    size_t cap = 0;
    void **optr = NULL;
    size_t *olen = out_param(OFF_LEN, 3, &lcls);
    if (lcls == P_NULL)
        errs |= B(SHMLIB_EINVAL);
    if (!peek) {
        switch (stress_below(&rng, 100)) {
        case 0: buf = NULL; bcls = P_NULL; cap = stress_below(&rng, 2) ? 0 : 10; break;
        case 1: buf = none_page; bcls = P_NONE; cap = 4096; break;
        case 2: buf = ro_page; bcls = P_RO; cap = 4096; break;
        case 3: buf = hole_now(); bcls = P_HOLE; cap = 1 + (size_t)stress_below(&rng, 4096); break;
        case 4: case 5: case 6: case 7: case 8:
            cap = front && front->len ? (size_t)stress_below(&rng, front->len) : 0;
            break;
        case 9: cap = SIZE_MAX - (size_t)stress_below(&rng, 2); break; /* no message is that long */
        default: cap = BIGBUF_LEN - (size_t)stress_below(&rng, 1000); break;
        }
        if (buf == NULL && cap > 0)
            errs |= B(SHMLIB_EINVAL);
    } else {
        optr = out_param(OFF_PTR, 3, &pcls);
        if (pcls == P_NULL)
            errs |= B(SHMLIB_EINVAL);
    }
    uint32_t allowed;
    int fault = 0;
    if (errs) {
        allowed = errs;
        fault = faults(lcls) || faults(pcls); /* probed first: EFAULT may win */
    } else if (g->unchecked) {
        allowed = 0;
        fault = faults(bcls) || faults(lcls) || faults(pcls);
    } else if (front == NULL) {
        /* Out-parameters are checked before any waiting (shmlib.h, ERRORS). */
        fault = faults(lcls) || faults(pcls);
        allowed = fault ? B(SHMLIB_EFAULT) : g->closed ? B(SHMLIB_EEOS) : B(SHMLIB_ETIMEDOUT);
    } else if (!peek && front->len > cap) {
        allowed = faults(lcls) ? B(SHMLIB_EFAULT) : B(SHMLIB_ERANGE);
        fault = faults(lcls);
    } else {
        fault = faults(lcls) || faults(pcls) || (faults(bcls) && front->len > 0);
        allowed = fault ? B(SHMLIB_EFAULT) : B(0);
    }
    int64_t timeout = gen_timeout(!errs && !g->unchecked && (front != NULL || g->closed));
    if (peek)
        describe("shmlib_chan_peek(%" PRIu64 "%s, timeout=%" PRId64 ", out_ptr=%s, out_len=%s)", h,
                 x ? (x->end == 2 ? (x->held ? " holding" : " consumer") : " producer") : " not open",
                 timeout, pname(pcls), pname(lcls));
    else
        describe("shmlib_chan_recv(%" PRIu64 "%s, buf=%s, cap=%zu, out_len=%s, timeout=%" PRId64 ")", h,
                 x ? (x->end == 2 ? (x->held ? " holding" : " consumer") : " producer") : " not open",
                 pname(bcls), cap, pname(lcls), timeout);
    if (front != NULL)
        describe(" [next: message %" PRIu64 ", %u bytes]", front->seq, front->len);
    if (good(lcls))
        sentinel(olen, 8);
    if (peek && good(pcls))
        sentinel(optr, 8);
    int rc = peek ? shmlib_chan_peek(h, timeout, (const void **)optr, olen)
                  : shmlib_chan_recv(h, buf, cap, olen, timeout);
    check(rc, allowed, fault);
    size_t got = 0;
    if (good(lcls) && (rc == 0 || rc == SHMLIB_ERANGE))
        memcpy(&got, (unsigned char *)olen, sizeof got);
    if (rc == 0) {
        if (peek) {
            const unsigned char *p;
            memcpy(&p, (unsigned char *)optr, sizeof p);
            if (((uintptr_t)p % 16) != 0)
                violation(V_DATA, "peeked message at %p is not 16-byte aligned", (const void *)p);
            verify_delivery(p, g, got, "peek");
            x->held = 1;
            if (!g->unchecked) {
                g->head += front->pad;
                front->pad = 0;
            }
        } else {
            verify_delivery(bigbuf, g, got, "recv");
            if (!g->unchecked)
                ring_pop(g);
        }
    } else if (rc == SHMLIB_ERANGE && !peek) {
        if (!g->unchecked) {
            if (got != front->len)
                violation(V_DATA, "SHMLIB_ERANGE with *out_len %zu, the message has %u bytes", got, front->len);
            g->head += front->pad;
            front->pad = 0;
        }
    } else {
        if (!(rc == SHMLIB_ERANGE))
            expect_untouched(lcls, olen, 8, "out_len");
        if (peek && rc != SHMLIB_EFAULT) /* a fault on out_len: see the probes */
            expect_untouched(pcls, optr, 8, "out_ptr");
        if (rc == SHMLIB_EFAULT && slot >= 0)
            taint(slot);
        else if (rc == SHMLIB_EEOS && slot >= 0 && stress_below(&rng, 2) == 0)
            close_slot(slot); /* as a program would at the end of the stream */
    }
}

static void call_chan_release(void)
{
    begin(F_CHAN_RELEASE);
    int slot;
    shmlib_chan_t h = gen_handle(SHMLIB_CHAN_CONSUMER, &slot);
    for (int i = 0; i < MAXHND && stress_below(&rng, 3) != 0; i++)
        if (hnds[i].used && hnds[i].held) {
            slot = i;
            h = hnds[i].h;
            break;
        }
    struct hnd *x = slot >= 0 ? &hnds[slot] : NULL;
    uint32_t allowed = x == NULL || x->end != SHMLIB_CHAN_CONSUMER || !x->held ? B(SHMLIB_EINVAL) : B(0);
    describe("shmlib_chan_release(%" PRIu64 "%s)", h, x ? (x->held ? " holding" : " not holding") : " not open");
    int rc = shmlib_chan_release(h);
    check(rc, allowed, 0);
    if (rc == 0 && x != NULL) {
        x->held = 0;
        struct seg *g = &segs[x->seg];
        if (!g->unchecked)
            ring_pop(g);
    }
}

/* chan_unreserve and chan_unpeek: the loan goes back and nothing is
 * published or consumed; the ring model stays as it is (a peek already
 * skipped the padding before its message). */
static void call_chan_give_back(int unpeek)
{
    begin(unpeek ? F_CHAN_UNPEEK : F_CHAN_UNRESERVE);
    int end = unpeek ? SHMLIB_CHAN_CONSUMER : SHMLIB_CHAN_PRODUCER;
    int slot;
    shmlib_chan_t h = gen_handle(end, &slot);
    for (int i = 0; i < MAXHND && stress_below(&rng, 3) != 0; i++)
        if (hnds[i].used && (unpeek ? hnds[i].held : hnds[i].reserved)) {
            slot = i;
            h = hnds[i].h;
            break;
        }
    struct hnd *x = slot >= 0 ? &hnds[slot] : NULL;
    int lent = x != NULL && (unpeek ? x->held : x->reserved);
    uint32_t allowed = x == NULL || x->end != end || !lent ? B(SHMLIB_EINVAL) : B(0);
    describe("shmlib_chan_%s(%" PRIu64 "%s)", unpeek ? "unpeek" : "unreserve", h,
             x ? (lent ? " lending" : " not lending") : " not open");
    int rc = unpeek ? shmlib_chan_unpeek(h) : shmlib_chan_unreserve(h);
    check(rc, allowed, 0);
    if (rc == 0 && x != NULL) {
        x->held = 0;
        x->reserved = 0;
    }
}


/* --------------------------------------- broadcast, waiting on many, pollable ends */

static int gen_end(void) { return stress_below(&rng, 2) ? SHMLIB_CHAN_PRODUCER : SHMLIB_CHAN_CONSUMER; }

/* The model makes channels only: no handle is a broadcast subscriber's, so
 * every lost count is refused, before out_lost is looked at. */
static void call_chan_lost(void)
{
    begin(F_CHAN_LOST);
    int slot, ocls;
    shmlib_chan_t h = gen_handle(gen_end(), &slot);
    uint64_t *out = out_param(OFF_SIZE, 10, &ocls);
    describe("shmlib_chan_lost(%" PRIu64 ", %s)", h, pname(ocls));
    if (good(ocls))
        sentinel(out, 8);
    check(shmlib_chan_lost(h, out), B(SHMLIB_EINVAL), faults(ocls));
    expect_untouched(ocls, out, 8, "out_lost");
}

/* An open end's descriptor is open (closing the end closes it: the final
 * leak check counts descriptors). */
static void call_chan_fd(void)
{
    begin(F_CHAN_FD);
    int slot, ocls;
    shmlib_chan_t h = gen_handle(gen_end(), &slot);
    int *out = out_param(OFF_COUNT, 10, &ocls);
    uint32_t allowed = slot < 0 || ocls == P_NULL ? B(SHMLIB_EINVAL) : faults(ocls) ? B(SHMLIB_EFAULT) : B(0);
    describe("shmlib_chan_fd(%" PRIu64 ", %s)", h, pname(ocls));
    if (good(ocls))
        sentinel(out, sizeof *out);
    int rc = shmlib_chan_fd(h, out);
    check(rc, allowed, faults(ocls));
    if (rc == 0 && good(ocls)) {
        int fd;
        memcpy(&fd, (unsigned char *)out, sizeof fd);
        if (fd < 0 || fcntl(fd, F_GETFD) < 0)
            violation(V_DATA, "descriptor %d is not open", fd);
    } else if (rc != 0) {
        expect_untouched(ocls, out, sizeof *out, "out_fd");
    }
}

static void call_chan_arm(void)
{
    begin(F_CHAN_ARM);
    int slot;
    shmlib_chan_t h = gen_handle(gen_end(), &slot);
    describe("shmlib_chan_arm(%" PRIu64 ")", h);
    check(shmlib_chan_arm(h), slot < 0 ? B(SHMLIB_EINVAL) : B(0), 0);
}

/* Timeout 0 only: a set of open, distinct ends is ready or not; anything
 * else is refused. */
static void call_chan_wait_any(void)
{
    begin(F_CHAN_WAIT_ANY);
    static shmlib_chan_t hs[SHMLIB_WAIT_ANY_MAX + 1];
    size_t n;
    switch (stress_below(&rng, 10)) {
    case 0: n = 0; break;
    case 1: n = SHMLIB_WAIT_ANY_MAX + 1; break;
    default: n = 1 + (size_t)stress_below(&rng, 4);
    }
    int bad = n == 0 || n > SHMLIB_WAIT_ANY_MAX;
    for (size_t i = 0; i < n; i++) {
        int slot;
        hs[i] = gen_handle(gen_end(), &slot);
        bad |= slot < 0;
        for (size_t j = 0; j < i; j++)
            bad |= hs[j] == hs[i];
    }
    int ccls = P_GOOD, ocls;
    const shmlib_chan_t *chans = hs;
    if (stress_below(&rng, 10) == 0) {
        chans = NULL;
        ccls = P_NULL;
    }
    size_t *out = out_param(OFF_COUNT, 10, &ocls);
    uint32_t allowed = bad || ccls == P_NULL || ocls == P_NULL ? B(SHMLIB_EINVAL)
                       : faults(ocls)                           ? B(SHMLIB_EFAULT)
                                                                : B(0) | B(SHMLIB_ETIMEDOUT);
    describe("shmlib_chan_wait_any(%s, %zu, 0, %s)", pname(ccls), n, pname(ocls));
    if (good(ocls))
        sentinel(out, sizeof *out);
    int rc = shmlib_chan_wait_any(chans, n, 0, out);
    check(rc, allowed, faults(ocls));
    if (rc == 0 && good(ocls)) {
        size_t idx;
        memcpy(&idx, (unsigned char *)out, sizeof idx);
        if (idx >= n)
            violation(V_DATA, "index %zu of %zu ends", idx, n);
    } else if (rc != 0) {
        expect_untouched(ocls, out, sizeof *out, "out_index");
    }
}

