/*
 * adversarial/calls_memfd_reap.h - part of adversarial.c (one program, built from that
 * file, which includes its parts once, in order): memfd_send and memfd_recv over the program's own socket pairs, and reap.
 */
/* ------------------------------------------------------ memfd over sockets */

/*
 * The program's own Unix socket pairs (stream or seqpacket), and what is in
 * flight on each: one byte per message, with a memfd (shmlib_memfd_send),
 * or, sent here with sendmsg, nothing, a descriptor that is not a memfd, an
 * unsealed memfd, or two descriptors. recv is only called where a message
 * is waiting or the peer has closed: it cannot block.
 */
#define NPAIR 2
#define MAXINFLIGHT 12
enum item_kind { I_MEMFD, I_PLAIN, I_FOREIGN, I_UNSEALED, I_TWO };
static const char *const item_name[] = {"memfd", "no descriptor", "/dev/null", "unsealed memfd", "two descriptors"};
struct item {
    int kind;
    uint64_t ino, size;
    uint32_t mode;
    int chan;
};
struct pair {
    int used, type;
    int fd[2], open[2];
    int reset[2];                   /* the peer closed with messages unread: ECONNRESET */
    struct item in[2][MAXINFLIGHT]; /* in[i]: readable at fd[i] */
    int head[2], len[2];
};
static struct pair pairs[NPAIR];
static int closed_fds[16], nclosed_fds;
static int devnull_fd = -1, pipe_fds[2] = {-1, -1};
static long stat_memfds_sent, stat_memfds_received, stat_injected;
static long bug_recv_lost;
static int probe_recv_lost, probe_reap_crash;

static void pair_close_end(int p, int i);

static void ensure_pairs(void)
{
    for (int p = 0; p < NPAIR; p++) {
        /* A half-closed pair is used up sooner or later. */
        if (pairs[p].used && (!pairs[p].open[0] || !pairs[p].open[1]) && stress_below(&rng, 4) == 0)
            pair_close_end(p, pairs[p].open[0] ? 0 : 1);
        if (pairs[p].used)
            continue;
        struct pair *x = &pairs[p];
        memset(x, 0, sizeof *x);
        x->type = stress_below(&rng, 2) ? SOCK_STREAM : SOCK_SEQPACKET;
        if (socketpair(AF_UNIX, x->type | SOCK_CLOEXEC, 0, x->fd) != 0) {
            harness_fail(__FILE__, __LINE__, "socketpair: %s", strerror(errno));
            continue;
        }
        x->used = x->open[0] = x->open[1] = 1;
    }
}

static void pair_close_end(int p, int i)
{
    struct pair *x = &pairs[p];
    close(x->fd[i]);
    x->open[i] = 0;
    /* The kernel tells the peer of a socket closed with unread data with
     * ECONNRESET, once, before the end of stream. */
    if (x->len[i] > 0)
        x->reset[1 - i] = 1;
    x->len[i] = 0; /* what was in flight to it goes with it */
    int j = nclosed_fds < 16 ? nclosed_fds++ : (int)stress_below(&rng, 16);
    closed_fds[j] = x->fd[i];
    if (!x->open[1 - i])
        x->used = 0;
}

static void pair_push(int p, int i, struct item it)
{
    struct pair *x = &pairs[p];
    x->in[i][(x->head[i] + x->len[i]) % MAXINFLIGHT] = it;
    x->len[i]++;
}

static struct item *pair_front(int p, int i)
{
    return pairs[p].len[i] ? &pairs[p].in[i][pairs[p].head[i]] : NULL;
}

static void pair_pop(int p, int i)
{
    pairs[p].head[i] = (pairs[p].head[i] + 1) % MAXINFLIGHT;
    pairs[p].len[i]--;
}

enum sclass { S_LIVE, S_NOTSOCK, S_CLOSED, S_BAD };
static const char *const sclass_name[] = {"live", "not a socket", "closed", "bad"};

/* What descriptor number fd is now; *p and *i for an end of ours. */
static int classify_fd(int fd, int *p, int *i)
{
    *p = *i = -1;
    if (fd < 0)
        return S_BAD;
    if (fcntl(fd, F_GETFD) < 0)
        return S_CLOSED;
    for (int q = 0; q < NPAIR; q++)
        for (int e = 0; e < 2; e++)
            if (pairs[q].used && pairs[q].open[e] && pairs[q].fd[e] == fd) {
                *p = q;
                *i = e;
                return S_LIVE;
            }
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode))
        return -1; /* somebody's socket: not for us */
    return S_NOTSOCK;
}

/* The descriptor of a memfd segment this process holds, from its key. */
static int memfd_fd_of(const struct seg *g)
{
    const char *f = strstr(g->key, ",fd=");
    return f ? atoi(f + 4) : -1;
}

static int gen_sock(int *cls, int *p, int *i)
{
    int fd;
    switch (stress_below(&rng, 20)) {
    case 14: {
        static const int bad[] = {-1, -2, INT32_MIN, INT32_MAX, 1 << 20};
        fd = bad[stress_below(&rng, 5)];
        break;
    }
    case 15: case 16:
        fd = nclosed_fds ? closed_fds[stress_below(&rng, (uint64_t)nclosed_fds)] : -1;
        break;
    case 17: {
        int c[3] = {devnull_fd, pipe_fds[0], pipe_fds[1]};
        fd = c[stress_below(&rng, 3)];
        break;
    }
    case 18: {
        int s = random_seg(-1);
        fd = s >= 0 && segs[s].memfd == 1 ? memfd_fd_of(&segs[s]) : devnull_fd;
        break;
    }
    case 19: fd = (int)stress_below(&rng, 40); break;
    default: {
        int idx[2 * NPAIR], n = 0;
        for (int q = 0; q < NPAIR; q++)
            for (int e = 0; e < 2; e++)
                if (pairs[q].used && pairs[q].open[e])
                    idx[n++] = q * 2 + e;
        fd = -1;
        if (n) {
            int w = idx[stress_below(&rng, (uint64_t)n)];
            fd = pairs[w / 2].fd[w % 2];
        }
        break;
    }
    }
    *cls = classify_fd(fd, p, i);
    if (*cls < 0) {
        fd = -1;
        *cls = S_BAD;
    }
    return fd;
}

/* Sends, with plain sendmsg, a message shmlib_memfd_recv must refuse. */
static void inject(void)
{
    int idx[2 * NPAIR], n = 0;
    for (int q = 0; q < NPAIR; q++)
        for (int e = 0; e < 2; e++)
            if (pairs[q].used && pairs[q].open[e] && pairs[q].open[1 - e] && pairs[q].len[1 - e] < MAXINFLIGHT)
                idx[n++] = q * 2 + e;
    if (n == 0)
        return;
    int w = idx[stress_below(&rng, (uint64_t)n)], p = w / 2, e = w % 2;
    struct item it = {.kind = I_PLAIN + (int)stress_below(&rng, 4)};
    int fds[2] = {devnull_fd, pipe_fds[0]}, nfd = it.kind == I_PLAIN ? 0 : it.kind == I_TWO ? 2 : 1;
    if (it.kind == I_UNSEALED)
        fds[0] = memfd_create("adversarial-unsealed", MFD_CLOEXEC);
    char byte = 'x';
    struct iovec iov = {&byte, 1};
    union {
        char buf[CMSG_SPACE(2 * sizeof(int))];
        struct cmsghdr align;
    } u;
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
    if (nfd) {
        memset(&u, 0, sizeof u);
        mh.msg_control = u.buf;
        mh.msg_controllen = CMSG_SPACE(nfd * sizeof(int));
        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(nfd * sizeof(int));
        memcpy(CMSG_DATA(c), fds, nfd * sizeof(int));
    }
    if (sendmsg(pairs[p].fd[e], &mh, MSG_NOSIGNAL) == 1) {
        pair_push(p, 1 - e, it);
        stat_injected++;
    } else {
        harness_fail(__FILE__, __LINE__, "sendmsg of a %s message: %s", item_name[it.kind], strerror(errno));
    }
    if (it.kind == I_UNSEALED)
        close(fds[0]);
}

static void call_memfd_send(void)
{
    ensure_pairs();
    if (stress_below(&rng, 8) == 0)
        inject();
    if (stress_below(&rng, 25) == 0) { /* a program closes a socket */
        int p = (int)stress_below(&rng, NPAIR), e = (int)stress_below(&rng, 2);
        if (pairs[p].used && pairs[p].open[e])
            pair_close_end(p, e);
        ensure_pairs();
    }
    begin(F_MEMFD_SEND);
    struct key k;
    int held_idx[MAXSEG], nheld = 0;
    for (int s = 0; s < MAXSEG; s++)
        if (segs[s].used == 1 && segs[s].memfd == 1)
            held_idx[nheld++] = s;
    if (nheld && stress_below(&rng, 2)) {
        memset(&k, 0, sizeof k);
        k.cls = K_LIVE;
        k.seg = held_idx[stress_below(&rng, (uint64_t)nheld)];
        snprintf((char *)keybuf, KEYBUF_LEN, "%s", segs[k.seg].key);
        k.p = (const char *)keybuf;
    } else {
        gen_key(&k, 0, 0, -1);
    }
    int exists, unknown;
    uint32_t kerr = key_errors(&k, 0, &exists, &unknown);
    int held = exists && segs[k.seg].memfd == 1;
    if (!kerr && !held && !unknown)
        kerr = B(SHMLIB_EINVAL); /* "not a memfd this process holds" */
    int scls, p, e;
    int sock = gen_sock(&scls, &p, &e);
    if (scls == S_LIVE && held && pairs[p].open[1 - e] && pairs[p].len[1 - e] >= MAXINFLIGHT) {
        sock = devnull_fd; /* the peer's queue is full enough: a send could block */
        scls = S_NOTSOCK;
    }
    uint32_t serr = scls == S_LIVE && pairs[p].open[1 - e] ? 0 : B(SHMLIB_EOS);
    uint32_t allowed = unknown ? 0 : kerr ? kerr | serr : serr ? serr : B(0);
    describe("shmlib_memfd_send(%d %s%s, ", sock, sclass_name[scls],
             scls == S_LIVE ? (pairs[p].open[1 - e] ? "" : " (peer closed)") : "");
    describe_key(&k);
    describe(")");
    int rc = shmlib_memfd_send(sock, k.p);
    check(rc, allowed, key_faults(&k));
    if (rc == 0 && held && scls == S_LIVE) {
        struct seg *g = &segs[k.seg];
        pair_push(p, 1 - e, (struct item){I_MEMFD, g->ino, g->size, g->mode, g->chan});
        stat_memfds_sent++;
    } else if (rc == 0) {
        violation(V_STATE, "a send the model cannot account for");
    }
}

static int lowest_free_fd(void)
{
    for (int fd = 0; fd < 1 << 16; fd++)
        if (fcntl(fd, F_GETFD) < 0)
            return fd;
    return -1;
}

static int inq(int fd)
{
    int n = -1;
    return ioctl(fd, FIONREAD, &n) == 0 ? n : -1;
}

static void call_memfd_recv(void)
{
    ensure_pairs();
    begin(F_MEMFD_RECV);
    int scls, p, e;
    int sock = gen_sock(&scls, &p, &e);
    if (scls == S_LIVE && pairs[p].len[e] == 0 && pairs[p].open[1 - e]) {
        /* Nothing will come: the peer closes, or another descriptor. */
        if (stress_below(&rng, 8) == 0) {
            pair_close_end(p, 1 - e);
        } else {
            sock = devnull_fd;
            scls = S_NOTSOCK;
        }
    }
    int ocls;
    char *out = out_param(OFF_KEY, 10, &ocls);
    /* The crash of probe 16 (a pointer below 4096 in a Go frame when the
     * collector scans it) strikes here too: those go to the probe. */
    if (probe_reap_crash && out != NULL && (uintptr_t)out < 4096)
        out = (char *)none_page;
    size_t outlen = SHMLIB_KEY_MAX;
    if (stress_below(&rng, 6) == 0)
        outlen = (size_t)stress_below(&rng, 60);
    if (ocls == P_MISALIGNED && outlen > 4000)
        outlen = 4000;
    struct item *front = scls == S_LIVE ? pair_front(p, e) : NULL;
    struct item it = front ? *front : (struct item){.kind = -1};
    char want[SHMLIB_KEY_MAX] = "";
    uint32_t allowed;
    int consumes = 0; /* on which codes the message is gone */
    /* ECONNRESET from a peer that closed with unread messages of its own
     * is "the socket failed" (SHMLIB_EOS), once, and takes nothing. */
    uint32_t reset = scls == S_LIVE && pairs[p].reset[e] && ocls != P_NULL ? B(SHMLIB_EOS) : 0;
    if (scls != S_LIVE) {
        allowed = B(SHMLIB_EOS) | (ocls == P_NULL ? B(SHMLIB_EINVAL) : 0);
    } else if (front == NULL) {
        /* The end of stream; "the socket failed" (SHMLIB_EOS) once if
         * the peer closed with unread messages of its own. */
        uint32_t eos = B(SHMLIB_EEOS) | reset;
        allowed = ocls == P_NULL ? B(SHMLIB_EINVAL) : faults(ocls) ? B(SHMLIB_EFAULT) | eos : eos;
    } else if (ocls == P_NULL) {
        allowed = B(SHMLIB_EINVAL); /* checked before anything is received */
    } else if (it.kind != I_MEMFD) {
        /* "the message carried no descriptor, or not a memfd segment: it
         * is closed, not kept" */
        allowed = B(SHMLIB_EINVAL) | (faults(ocls) ? B(SHMLIB_EFAULT) : 0);
        consumes = B(SHMLIB_EINVAL);
    } else {
        snprintf(want, sizeof want, "memfd:pid=%d,fd=%d,ino=%" PRIu64, (int)getpid(), lowest_free_fd(), it.ino);
        size_t l = strlen(want);
        allowed = outlen >= l + 2 ? B(0) : outlen + 1 <= l ? B(SHMLIB_ERANGE) : B(0) | B(SHMLIB_ERANGE);
        consumes = B(0) | B(SHMLIB_ERANGE);
        /* A faulting out_key is checked before the call changes anything
         * (then the message stays), unless too small anyway. */
        if (faults(ocls))
            allowed = (allowed & ~B(0)) | B(SHMLIB_EFAULT);
    }
    if (scls == S_LIVE && front != NULL)
        allowed |= reset;
    describe("shmlib_memfd_recv(%d %s%s, out_key=%s, %zu)", sock, sclass_name[scls],
             scls == S_LIVE ? (pairs[p].open[1 - e] ? "" : " (peer closed)") : "", pname(ocls), outlen);
    if (scls == S_LIVE)
        describe(" [%d waiting, next: %s]", pairs[p].len[e], front ? item_name[it.kind] : "end of stream");
    if (good(ocls))
        sentinel(out, SHMLIB_KEY_MAX);
    int fds0 = harness_count_fds();
    int rc = shmlib_memfd_recv(sock, out, outlen);
    int fds1 = harness_count_fds();
    check(rc, allowed, faults(ocls));
    if (scls == S_LIVE && (rc == SHMLIB_EOS || (front == NULL && rc == SHMLIB_EEOS)))
        pairs[p].reset[e] = 0;
    if (rc != 0)
        expect_untouched(ocls, out, SHMLIB_KEY_MAX, "out_key");
    if (fds1 != fds0 + (rc == 0))
        violation(V_STATE, "%d descriptors before, %d after (rc %d): a received descriptor %s", fds0, fds1, rc,
                  rc == 0 ? "is not held" : "was kept");
    if (front != NULL) {
        int gone = (consumes & B(rc)) != 0;
        if (rc == SHMLIB_EFAULT && it.kind == I_MEMFD) {
            int left = inq(sock);
            if (left == pairs[p].len[e] - 1) {
                bug_recv_lost++;
                if (!probe_recv_lost)
                    violation(V_STATE, "failed with SHMLIB_EFAULT but took the memfd off the socket and closed it");
                gone = 1;
            }
        }
        if (gone)
            pair_pop(p, e);
        int left = inq(sock);
        if (left != pairs[p].len[e]) {
            violation(V_STATE, "%d messages left on the socket, the model has %d", left, pairs[p].len[e]);
            pair_close_end(p, e);
            pair_close_end(p, 1 - e);
            return;
        }
    }
    if (rc == 0) {
        if (!good(ocls) || it.kind != I_MEMFD) {
            violation(V_STATE, "a descriptor received the model cannot account for");
            return;
        }
        char got[SHMLIB_KEY_MAX];
        snprintf(got, sizeof got, "%s", out);
        char pfx[64];
        snprintf(pfx, sizeof pfx, "memfd:pid=%d,fd=", (int)getpid());
        const char *ino = strstr(got, ",ino=");
        if (strncmp(got, pfx, strlen(pfx)) != 0 || ino == NULL || strtoull(ino + 5, NULL, 10) != it.ino)
            violation(V_DATA, "received key \"%s\", want about \"%s\"", got, want);
        stat_memfds_received++;
        /* The received key names the same segment: a channel is modelled
         * under one key only, so a received channel is let go again. */
        if (it.chan || nlive() >= MAXSEG - 2 || find_seg(got) >= 0) {
            int r2 = shmlib_destroy(got);
            if (r2 != 0)
                violation(V_STATE, "destroy of the received %s: %d", got, r2);
        } else {
            int s = track_segment(got, it.size, it.mode, 0, 0);
            if (s >= 0 && segs[s].ino != it.ino)
                violation(V_DATA, "received key \"%s\" has not the inode %" PRIu64, got, it.ino);
        }
    }
}

/* ------------------------------------------------------------------ reap */

static void call_reap(void)
{
    begin(F_REAP);
    uint32_t flags;
    switch (stress_below(&rng, 10)) {
    case 0: flags = (uint32_t)stress_rand(&rng); break;
    case 1: flags = 1u << stress_below(&rng, 32); break;
    /* Destroying only in isolation: outside, what it finds is somebody's. */
    case 2: case 3: case 4: flags = stress_isolated() ? SHMLIB_REAP_DESTROY : 0; break;
    default: flags = 0; break;
    }
    int icls, ccls;
    shmlib_stat_t *items;
    size_t cap;
    switch (stress_below(&rng, 8)) {
    case 0: items = NULL; icls = P_NULL; cap = 0; break;
    case 1: items = NULL; icls = P_NULL; cap = 1 + (size_t)stress_below(&rng, 100); break;
    case 2: items = (shmlib_stat_t *)none_page; icls = P_NONE; cap = 1 + (size_t)stress_below(&rng, 100); break;
    case 3: items = (shmlib_stat_t *)wild_pointer(); icls = P_WILD; cap = SIZE_MAX - (size_t)stress_below(&rng, 2); break;
    default: items = (shmlib_stat_t *)(outbuf + OFF_ITEMS); icls = P_GOOD; cap = (size_t)stress_below(&rng, 64); break;
    }
    size_t *count = out_param(OFF_COUNT, 10, &ccls);
    /* Pointers below 4096 crash the process in reap (see the probe
     * --probe-reap-wild): the random run gives it the others. */
    if (probe_reap_crash && items != NULL && (uintptr_t)items < 4096)
        items = (shmlib_stat_t *)none_page;
    if (probe_reap_crash && count != NULL && (uintptr_t)count < 4096)
        count = (size_t *)none_page;
    uint32_t errs = 0, allowed;
    if (flags & ~SHMLIB_REAP_DESTROY)
        errs |= B(SHMLIB_EINVAL);
    if (ccls == P_NULL || (items == NULL && cap > 0))
        errs |= B(SHMLIB_EINVAL);
    if (errs)
        allowed = errs | (faults(ccls) ? B(SHMLIB_EFAULT) : 0);
    else if (faults(ccls))
        allowed = B(SHMLIB_EFAULT);
    else if (stress_isolated())
        /* Every segment here is this run's, and it lives: nothing to
         * reap, so nothing is written to out_items either. */
        allowed = B(0);
    else
        allowed = B(0) | B(SHMLIB_ERANGE) | (faults(icls) ? B(SHMLIB_EFAULT) : 0);
    describe("shmlib_reap(flags=%#x, items=%s, capacity=%zu, out_count=%s)", flags, pname(icls), cap, pname(ccls));
    if (good(ccls))
        sentinel(count, sizeof *count);
    if (good(icls))
        sentinel(items, sizeof *items);
    int rc = shmlib_reap(flags, items, cap, count);
    check(rc, allowed, faults(icls) || faults(ccls));
    if (rc == 0 && good(ccls) && stress_isolated()) {
        size_t n;
        memcpy(&n, (unsigned char *)count, sizeof n);
        if (n != 0)
            violation(V_DATA, "found %zu segments to reap%s; every segment here is this living process's", n,
                      flags ? " (and destroyed them)" : "");
        if (good(icls) && !untouched(items, sizeof *items))
            violation(V_OUTPUT, "out_items written with nothing found");
    }
    if (rc < 0 && errs)
        expect_untouched(ccls, count, sizeof *count, "out_count");
}
