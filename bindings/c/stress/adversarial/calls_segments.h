/*
 * adversarial/calls_segments.h - part of adversarial.c (one program, built from that
 * file, which includes its parts once, in order): the calls on segments: version, strerror, last_error, ftok, key_normalize, create, attach, detach, destroy, stat, list.
 */
/* -------------------------------------------------------------- functions */

static void call_version(void)
{
    begin(F_VERSION);
    describe("shmlib_version()");
    unsigned v = shmlib_version();
    if (v != SHMLIB_VERSION_NUMBER)
        violation(V_DATA, "shmlib_version() is %u, want %u", v, SHMLIB_VERSION_NUMBER);
    check(0, B(0), 0);
}

static void call_version_string(void)
{
    begin(F_VERSION_STRING);
    describe("shmlib_version_string()");
    const char *s = shmlib_version_string();
    if (s == NULL || strcmp(s, SHMLIB_VERSION_STRING) != 0)
        violation(V_DATA, "shmlib_version_string() is \"%s\"", s ? s : "(null)");
    check(0, B(0), 0);
}

static void call_strerror(void)
{
    begin(F_STRERROR);
    int code;
    switch (stress_below(&rng, 4)) {
    case 0: code = (int)stress_rand(&rng); break;
    case 1: code = INT32_MIN + (int)stress_below(&rng, 3); break;
    default: code = 2 - (int)stress_below(&rng, 24); break;
    }
    describe("shmlib_strerror(%d)", code);
    const char *s = shmlib_strerror(code);
    int known = abi_code_name(code) != NULL;
    if (s == NULL || strnlen(s, 200) == 200 || (strcmp(s, "unknown error code") == 0) == known)
        violation(V_DATA, "shmlib_strerror(%d) is \"%s\"", code, s ? s : "(null)");
    check(0, B(0), 0);
}

static void call_last_error(void)
{
    begin(F_LAST_ERROR);
    /* Bad buffers are not passed: this one runs in C, not under the Go
     * fault guard (see the probes). */
    int cls;
    char *buf = stress_below(&rng, 20) == 0 ? NULL : (char *)outbuf + OFF_KEY;
    size_t len = stress_below(&rng, 10) == 0 ? 0 : 1 + (size_t)stress_below(&rng, 600);
    cls = buf == NULL ? P_NULL : P_GOOD;
    describe("shmlib_last_error(%s, %zu)", pname(cls), len);
    if (buf != NULL)
        sentinel(buf, 1024);
    int rc = shmlib_last_error(buf, len);
    uint32_t want;
    size_t mlen = strlen(last_msg);
    if (buf == NULL || len == 0)
        want = B(SHMLIB_EINVAL);
    else
        want = mlen >= len ? B(SHMLIB_ERANGE) : B(0);
    fn_calls[cur_fn]++;
    fn_codes[cur_fn][code_index(rc)]++;
    if (!(want & B(rc)))
        violation(V_UNEXPECTED, "returned %d for a message of %zu bytes", rc, mlen);
    else
        harness_passed++;
    if (buf != NULL && len > 0) {
        size_t n = strnlen(buf, len);
        if (n == len || strncmp(buf, last_msg, n) != 0 || n != (mlen < len ? mlen : len - 1))
            violation(V_DATA, "buffer of %zu holds %zu bytes, not the message's start", len, n);
    } else if (buf != NULL && !untouched(buf, 1024)) {
        violation(V_OUTPUT, "buffer written with len 0");
    }
}

static void call_ftok(void)
{
    begin(F_FTOK);
    static const char *const exists[] = {"/", "/etc/passwd", "/proc/self/exe", "/dev/shm", "/tmp", "/dev/null"};
    static const char *const missing[] = {"/nonexistent-libshm-stress", "/etc/passwd/x", "/dev/shm/no/such",
                                          "relative-nonexistent"};
    const char *path;
    uint32_t errs = 0;
    int unknown = 0, pbad = 0;
    struct key k;
    k.cls = -1;
    char *b = (char *)keybuf;
    switch (stress_below(&rng, 10)) {
    case 0: path = NULL; errs |= B(SHMLIB_EINVAL); break;
    case 1: path = ""; errs |= B(SHMLIB_EINVAL); break;
    case 2: path = missing[stress_below(&rng, 4)]; errs |= B(SHMLIB_ENOENT); break;
    case 3: { /* one name component too long, or a path through a symlink loop */
        if (stress_below(&rng, 2)) {
            memset(b, 'n', 300);
            b[0] = '/';
            b[300] = '\0';
        } else {
            b[0] = '\0';
            for (int i = 0; i < 45; i++)
                strcat(b, "/proc/self/root");
            strcat(b, "/etc/passwd");
        }
        path = b;
        unknown = 1;
        break;
    }
    case 4: {
        gen_key(&k, 0, 0, -1);
        path = k.p;
        if (key_faults(&k)) {
            errs |= B(SHMLIB_EFAULT);
            pbad = 1;
        } else if (k.cls == K_NULL) {
            errs |= B(SHMLIB_EINVAL);
        } else if (k.cls == K_UNTERM_LONG) {
            errs |= B(SHMLIB_EINVAL);
        } else if (k.p[0] == '\0') {
            errs |= B(SHMLIB_EINVAL);
        } else {
            unknown = 1;
        }
        break;
    }
    default: path = exists[stress_below(&rng, sizeof exists / sizeof exists[0])]; break;
    }
    int proj;
    switch (stress_below(&rng, 8)) {
    case 0: proj = 0; errs |= B(SHMLIB_EINVAL); break;
    case 1: proj = 256 + (int)stress_below(&rng, 1000); errs |= B(SHMLIB_EINVAL); break;
    case 2: proj = -1 - (int)stress_below(&rng, 1000); errs |= B(SHMLIB_EINVAL); break;
    case 3: proj = INT32_MIN; errs |= B(SHMLIB_EINVAL); break;
    default: proj = 1 + (int)stress_below(&rng, 255); break;
    }
    int ocls;
    char *out = out_param(OFF_KEY, 10, &ocls);
    size_t outlen = SHMLIB_KEY_MAX;
    if (stress_below(&rng, 8) == 0)
        outlen = (size_t)stress_below(&rng, 25);
    if (ocls == P_NULL)
        errs |= B(SHMLIB_EINVAL);
    else if (outlen < 20)
        errs |= B(SHMLIB_ERANGE);
    else if (faults(ocls))
        errs |= B(SHMLIB_EFAULT);
    if (ocls == P_MISALIGNED)
        outlen = outlen > 4000 ? 4000 : outlen;
    describe("shmlib_ftok(");
    if (k.cls >= 0)
        describe_key(&k);
    else
        describe("\"%.60s\"", path);
    describe(", %d, %s, %zu)", proj, pname(ocls), outlen);
    if (good(ocls))
        sentinel(out, SHMLIB_KEY_MAX);
    int bad = pbad || faults(ocls);
    int rc = shmlib_ftok(path, proj, out, outlen);
    check(rc, unknown ? 0 : (errs ? errs : B(0)), bad);
    if (rc == 0 && path != NULL && !unknown) {
        key_t want = ftok(path, proj);
        char expect[32];
        snprintf(expect, sizeof expect, "sysv:key=0x%08x", (unsigned)want);
        if (good(ocls) && strcmp(out, expect) != 0)
            violation(V_DATA, "gave \"%s\", glibc's ftok gives %s", out, expect);
    }
    if (rc < 0)
        expect_untouched(ocls, out, SHMLIB_KEY_MAX, "out_key");
}

/* shmlib_key_normalize: only the key's grammar counts, not whether the
 * segment exists; a live or remembered key comes back in its canonical form. */
static void call_key_normalize(void)
{
    begin(F_KEY_NORMALIZE);
    struct key k;
    gen_key(&k, 0, 1, -1);
    uint32_t kerr = 0;
    int unknown = 0;
    switch (k.cls) {
    case K_NULL: case K_MALFORMED: case K_TOOLONG: case K_HUGE: case K_UNTERM_LONG:
        kerr = B(SHMLIB_EINVAL);
        break;
    case K_UNTERM_SHORT: case K_BADPTR:
        kerr = B(SHMLIB_EFAULT);
        break;
    case K_INMAP: case K_GARBAGE:
        unknown = 1;
        break;
    }
    int ocls;
    char *out = out_param(OFF_KEY, 10, &ocls);
    size_t outlen = SHMLIB_KEY_MAX;
    if (stress_below(&rng, 8) == 0)
        outlen = (size_t)stress_below(&rng, 25);
    uint32_t oerr = ocls == P_NULL ? B(SHMLIB_EINVAL) : faults(ocls) ? B(SHMLIB_EFAULT) : 0;
    if (ocls == P_MISALIGNED)
        outlen = outlen > 4000 ? 4000 : outlen;
    /* A short buffer may or may not hold the canonical key; it is measured
     * before anything is written, so a faulting one can be SHMLIB_ERANGE. */
    uint32_t allowed = kerr | oerr;
    if (kerr == 0 && outlen < SHMLIB_KEY_MAX)
        allowed |= B(SHMLIB_ERANGE) | (oerr ? 0 : B(0));
    if (allowed == 0)
        allowed = B(0);
    describe("shmlib_key_normalize(");
    describe_key(&k);
    describe(", %s, %zu)", pname(ocls), outlen);
    if (good(ocls))
        sentinel(out, SHMLIB_KEY_MAX);
    int rc = shmlib_key_normalize(k.p, out, outlen);
    check(rc, unknown ? 0 : allowed, key_faults(&k) || faults(ocls));
    if (rc == 0 && good(ocls)) {
        const char *want = NULL;
        if ((k.cls == K_DEAD || k.cls == K_FRESH) && strncmp(k.canon, "sysv:id=", 8) != 0)
            want = k.canon;
        else if ((k.cls == K_LIVE || k.cls == K_ALIAS) && strncmp(k.p, "sysv:id=", 8) != 0)
            want = segs[k.seg].key;
        if (want != NULL && strcmp(out, want) != 0)
            violation(V_DATA, "gave \"%s\", want %s", out, want);
    }
    if (rc < 0)
        expect_untouched(ocls, out, SHMLIB_KEY_MAX, "out_key");
}

/* Adds a segment the library just made to the model. */
static int track_segment(const char *canon, uint64_t size, uint32_t mode, int chan, uint64_t cap)
{
    int s = free_slot(segs, sizeof segs[0], MAXSEG);
    if (s < 0) {
        harness_fail(__FILE__, __LINE__, "model full: %s not tracked; destroying it", canon);
        shmlib_destroy(canon);
        return -1;
    }
    struct seg *g = &segs[s];
    memset(g, 0, sizeof *g);
    g->used = 1;
    snprintf(g->key, sizeof g->key, "%s", canon);
    g->sysv = strncmp(canon, "sysv:", 5) == 0;
    g->has_ipc_key = strncmp(canon, "sysv:key=", 9) == 0;
    g->memfd = strncmp(canon, "memfd:", 6) == 0;
    if (g->memfd) {
        const char *ino = strstr(canon, ",ino=");
        g->ino = ino ? strtoull(ino + 5, NULL, 10) : 0;
    }
    g->size = size;
    g->mode = mode == 0 ? 0600 : mode;
    g->prod = g->cons = -1;
    g->shmid = -1;
    if (g->sysv) {
        /* Its id, for "sysv:id=N" aliases: a helper call outside the count. */
        shmlib_stat_t st;
        if (shmlib_stat(canon, &st) == 0)
            g->shmid = st.shmid;
        else
            harness_fail(__FILE__, __LINE__, "stat of the new %s failed", canon);
    }
    if (chan) {
        g->chan = 1;
        g->cap = cap;
        g->maxmsg = cap / 2 - 16;
        g->id = ++chan_ids;
        g->next_seq = 1;
        g->q = malloc(sizeof *g->q * (cap / 16 + 1));
    }
    stat_segments_made++;
    return s;
}

static int can_rw(const struct seg *g) { return root || (g->mode & 0600) == 0600; }

/* Set by the probes when they find a known fault-handling bug, so that the
 * random run counts its further occurrences instead of failing again. */
static int probe_attach_leak, probe_open_leak;

/* After a call that faulted on an output: a mapping the library made and
 * kept although the call failed is found in /proc/self/maps, counted, and
 * detached, so that the run goes on from a known state. */
static void recover_leaked_mapping(const char *what)
{
    unsigned char *a = unknown_mapping();
    if (a == NULL)
        return;
    bug_attach_leak++;
    if (!probe_attach_leak)
        violation(V_STATE, "%s failed but left a mapping at %p", what, (void *)a);
    int rc = shmlib_detach(a);
    if (rc != 0)
        violation(V_STATE, "the mapping %s left at %p cannot be detached: %d", what, (void *)a, rc);
}

static void call_create(int chan)
{
    begin(chan ? F_CHAN_CREATE : F_CREATE);
    struct key k;
    gen_key(&k, 1, 1, -1);
    if (nlive() >= MAXSEG - 2 && (k.cls == K_FRESH || k.cls == K_AUTO || k.cls == K_DEAD ||
                                  k.cls == K_NULL)) {
        k.cls = K_MALFORMED; /* the model is full: no new segment now */
        k.p = "posix:/a/b";
    }
    int exists, unknown;
    uint32_t errs = key_errors(&k, 1, &exists, &unknown);
    if (k.p != NULL && !key_faults(&k) && k.cls != K_UNTERM_LONG && strncmp(k.p, "sysv:id=", 8) == 0)
        errs |= B(SHMLIB_EINVAL); /* "A sysv:id=N key cannot be created" */
    int sysv = exists ? segs[k.seg].sysv : k.sysv;
    int chosen = k.cls == K_AUTO || k.cls == K_NULL;
    /* "memfd:" makes one; a full memfd key names one its holder made. */
    int memfd_new = k.cls == K_AUTO && k.memfd;
    int memfd_named = (exists && segs[k.seg].memfd) || (k.cls == K_DEAD && k.memfd) || k.cls == K_MEMFD_ABSENT;
    uint32_t flags = gen_create_flags(), mode = gen_mode();
    uint32_t known = chan ? (SHMLIB_HUGETLB | SHMLIB_SPARSE | SHMLIB_DESTROY_ON_EXIT)
                          : (SHMLIB_OPEN_EXISTING | SHMLIB_HUGETLB | SHMLIB_SPARSE | SHMLIB_DESTROY_ON_EXIT);
    int size_cls;
    uint64_t arg = gen_size(&size_cls), size, cap = 0;
    if (chan) {
        if (stress_below(&rng, 12) == 0)
            arg = 8ull << 30; /* the largest channel */
        if (arg == 0 || arg > (8ull << 30))
            errs |= B(SHMLIB_EINVAL);
        cap = (arg + 4095) / 4096 * 4096;
        size = cap + 4096;
        /* Never reserve gigabytes of /dev/shm: big POSIX channels are sparse. */
        if (cap > (1u << 20) && !sysv)
            flags |= SHMLIB_SPARSE;
    } else {
        size = arg;
        if (size == 0)
            errs |= B(SHMLIB_EINVAL);
        /* A memfd lives outside the private /dev/shm, limited by nothing
         * but RAM: never reserve a huge one. */
        if (memfd_new && size >= (1ull << 36) && !(flags & SHMLIB_SPARSE))
            arg = size = 4096 * (1 + stress_below(&rng, 16));
    }
    if (flags & ~known)
        errs |= B(SHMLIB_EINVAL);
    if (mode > 0777)
        errs |= B(SHMLIB_EINVAL);
    int ocls;
    char *out = out_param(OFF_KEY, 10, &ocls);
    size_t outlen = SHMLIB_KEY_MAX;
    if (stress_below(&rng, 10) == 0)
        outlen = (size_t)stress_below(&rng, 40);
    if (ocls == P_NULL && chosen)
        errs |= B(SHMLIB_EINVAL);
    int writes = ocls != P_NULL;
    int bad = key_faults(&k) || (writes && faults(ocls));
    size_t keylen = exists ? strlen(segs[k.seg].key) : strlen(k.canon);

    /* Every outcome that applies. The header does not order its checks:
     * with a bad argument, any error that applies may come first, but
     * never success. */
    uint32_t allowed = 0;
    if (!unknown) {
        int hugetlb = (flags & SHMLIB_HUGETLB) != 0, sparse = (flags & SHMLIB_SPARSE) != 0;
        int huge = size >= (1ull << 36);
        uint32_t made;
        if (huge && !sysv)
            /* Over /dev/shm, unless sparse; a sparse file may be huge, up to
             * the largest file size (2^63 - 1). */
            made = sparse ? B(0) | B(SHMLIB_ENOMEM) | B(SHMLIB_EINVAL) | B(SHMLIB_EOS) : B(SHMLIB_ENOMEM);
        else if (huge)
            made = B(SHMLIB_ENOMEM) | B(SHMLIB_EINVAL);
        else if (sysv && size > (256u << 20) && stress_isolated())
            made = B(SHMLIB_ENOMEM); /* over shmmax in isolation */
        else
            made = B(0);
        if (hugetlb && sysv)
            made = B(SHMLIB_ENOTSUP) | B(SHMLIB_ENOMEM) | (made & B(0));
        if (exists && !chan && (flags & SHMLIB_OPEN_EXISTING))
            made = segs[k.seg].size >= size ? B(SHMLIB_OPENED) : B(SHMLIB_EINVAL);
        else if (exists)
            made = B(SHMLIB_EEXIST);
        if (exists && huge) /* the size may be refused before the key is looked up */
            made |= B(SHMLIB_ENOMEM) | B(SHMLIB_EINVAL);
        if ((hugetlb && !sysv) || (sparse && sysv))
            made = (exists ? made : 0) | B(SHMLIB_ENOTSUP) | (huge ? B(SHMLIB_ENOMEM) | B(SHMLIB_EINVAL) : 0);
        /* shmlib.h, MEMFD SEGMENTS: create refuses SHMLIB_OPEN_EXISTING
         * (SHMLIB_EINVAL) and SHMLIB_HUGETLB (SHMLIB_ENOTSUP) for them. */
        if (memfd_new && (flags & SHMLIB_OPEN_EXISTING))
            made = (made & ~B(0)) | B(SHMLIB_EINVAL);
        /* A memfd key names a segment only its holder made (as a sysv:id=N
         * key cannot be created): malformed for create, or existing. */
        if (memfd_named)
            made = B(SHMLIB_EINVAL) | (exists ? B(SHMLIB_EEXIST) : 0) | (huge ? B(SHMLIB_ENOMEM) : 0);
        /* Writing the key back. */
        uint32_t ok = made & (B(0) | B(SHMLIB_OPENED));
        if (ok && writes) {
            if (chosen && (outlen < 40 || (memfd_new && outlen < SHMLIB_KEY_MAX)))
                made |= B(SHMLIB_ERANGE) | (faults(ocls) ? B(SHMLIB_EFAULT) : 0);
            else if (outlen <= keylen)
                made = (made & ~ok) | B(SHMLIB_ERANGE);
            else if (faults(ocls))
                made = (made & ~ok) | B(SHMLIB_EFAULT);
        }
        allowed = errs ? errs | (made & ~(B(0) | B(SHMLIB_OPENED))) : made;
    }
    describe("shmlib_%s(", fn_name[cur_fn]);
    describe_key(&k);
    describe(", %s=%#" PRIx64 ", mode=%#o, flags=%#x, out_key=%s, %zu)", chan ? "capacity" : "size",
             arg, mode, flags, pname(ocls), outlen);
    if (good(ocls))
        sentinel(out, SHMLIB_KEY_MAX);
    int rc = chan ? shmlib_chan_create(k.p, arg, mode, flags, out, outlen)
                  : shmlib_create(k.p, size, mode, flags, out, outlen);
    check(rc, allowed, bad);
    if (rc == 0 || rc == SHMLIB_OPENED) {
        char canon[SHMLIB_KEY_MAX] = "";
        if (good(ocls))
            snprintf(canon, sizeof canon, "%s", out);
        else if (exists)
            snprintf(canon, sizeof canon, "%s", segs[k.seg].key);
        else if (k.cls == K_FRESH || k.cls == K_DEAD)
            snprintf(canon, sizeof canon, "%s", k.canon);
        if (canon[0] == '\0') {
            violation(V_STATE, "a segment was made, but its key was not handed back");
            return;
        }
        if ((k.cls == K_FRESH || k.cls == K_DEAD) && strcmp(canon, k.canon) != 0)
            violation(V_DATA, "out_key is \"%s\", want \"%s\"", canon, k.canon);
        if (exists && strcmp(canon, segs[k.seg].key) != 0)
            violation(V_DATA, "out_key is \"%s\", want \"%s\"", canon, segs[k.seg].key);
        if (rc == 0) {
            if (find_seg(canon) >= 0)
                violation(V_STATE, "made %s, which exists already", canon);
            else
                track_segment(canon, size, mode, chan, cap);
        }
    } else {
        expect_untouched(ocls, out, SHMLIB_KEY_MAX, "out_key");
        /* "A create that fails leaves nothing behind." */
        if ((rc == SHMLIB_ERANGE || rc == SHMLIB_EFAULT) && (k.cls == K_FRESH || k.cls == K_DEAD)) {
            shmlib_stat_t st;
            if (shmlib_stat(k.canon, &st) == 0) {
                violation(V_STATE, "create failed with %s but left %s", code_short(code_index(rc)), k.canon);
                shmlib_destroy(k.canon);
            }
        }
    }
}

/* An address hint: mostly none, else somewhere good, taken, or absurd. */
enum hint { H_NULL, H_HOLE, H_TAKEN, H_UNALIGNED, H_WILD };

static void *gen_hint(int *cls)
{
    switch (stress_below(&rng, 12)) {
    case 0: *cls = H_HOLE; return hole_now();
    case 1: *cls = H_TAKEN; return outbuf;
    case 2: *cls = H_TAKEN; return none_page;
    case 3: {
        *cls = H_TAKEN;
        for (int j = 0; j < MAXMAP; j++)
            if (maps[j].used)
                return maps[j].addr;
        return keybuf;
    }
    case 4: *cls = H_UNALIGNED; return (void *)(uintptr_t)(0x7f0000000000ull + 1 + stress_below(&rng, 4095));
    case 5: *cls = H_WILD; return (void *)(uintptr_t)(0xffff800000000000ull + page * stress_below(&rng, 16));
    default: *cls = H_NULL; return NULL;
    }
}

static void add_mapping(void *addr, uint64_t size, int s, int rdonly)
{
    int i = free_slot(maps, sizeof maps[0], MAXMAP);
    if (i < 0) {
        harness_fail(__FILE__, __LINE__, "model full: mapping %p not tracked; detaching it", addr);
        shmlib_detach(addr);
        return;
    }
    maps[i] = (struct map){1, addr, size, s, rdonly};
    if (s >= 0)
        segs[s].nmaps++;
    stat_mappings_made++;
}

static int nmaps_live(void)
{
    int n = 0;
    for (int i = 0; i < MAXMAP; i++)
        n += maps[i].used;
    return n;
}

static void call_detach(void);

static void call_attach(void)
{
    if (nmaps_live() >= MAXMAP - 2) {
        call_detach();
        return;
    }
    begin(F_ATTACH);
    struct key k;
    gen_key(&k, 0, 0, -1);
    int exists, unknown;
    uint32_t errs = key_errors(&k, 0, &exists, &unknown);
    struct seg *g = exists ? &segs[k.seg] : NULL;
    int hcls;
    void *hint = gen_hint(&hcls);
    uint32_t flags;
    switch (stress_below(&rng, 10)) {
    case 0: flags = (uint32_t)stress_rand(&rng); break;
    case 1: flags = SHMLIB_FIXED | (uint32_t)stress_below(&rng, 2); break;
    case 2: flags = SHMLIB_POPULATE; break;
    case 3: flags = SHMLIB_LOCK | SHMLIB_POPULATE; break;
    case 4: case 5: flags = SHMLIB_RDONLY; break;
    default: flags = 0; break;
    }
    uint32_t known = SHMLIB_RDONLY | SHMLIB_POPULATE | SHMLIB_LOCK | SHMLIB_FIXED;
    /* Never pre-fault or lock a big segment, or anybody else's. */
    if ((flags & ~known) == 0 && (unknown || (g != NULL && g->size > BIG_SIZE) || !exists))
        flags &= ~(SHMLIB_POPULATE | SHMLIB_LOCK);
    int acls, scls;
    void **out = out_param(OFF_ADDR, 8, &acls);
    uint64_t *osize = stress_below(&rng, 4) == 0 ? NULL : out_param(OFF_SIZE, 10, &scls);
    if (osize == NULL)
        scls = P_NULL;
    if (hcls == H_HOLE && (acls == P_HOLE || scls == P_HOLE)) {
        hint = NULL; /* the segment could land where the output points */
        hcls = H_NULL;
    }
    if (flags & ~known)
        errs |= B(SHMLIB_EINVAL);
    int fixed = (flags & SHMLIB_FIXED) != 0;
    if (fixed && (hcls == H_NULL || hcls == H_UNALIGNED))
        errs |= B(SHMLIB_EINVAL);
    if (acls == P_NULL)
        errs |= B(SHMLIB_EINVAL);
    int bad = key_faults(&k) || faults(acls) || faults(scls);
    uint32_t allowed = 0;
    if (!unknown) {
        if (!exists) {
            allowed = B(SHMLIB_ENOENT);
        } else {
            uint32_t ok = B(0);
            if (fixed && hcls == H_TAKEN)
                ok = B(SHMLIB_EINVAL);
            else if (fixed && hcls == H_WILD)
                ok = B(SHMLIB_EINVAL) | B(SHMLIB_ENOMEM);
            else if (fixed && hcls == H_HOLE)
                ok = B(0) | B(SHMLIB_EINVAL); /* the hole may have been filled since */
            if (!can_rw(g) && !(flags & SHMLIB_RDONLY))
                ok = (ok & ~B(0)) | B(SHMLIB_EACCES);
            if (flags & SHMLIB_LOCK && !root)
                ok |= B(SHMLIB_ENOMEM);
            if (g->size > (1ull << 44))
                ok |= B(SHMLIB_ENOMEM); /* no address space that large */
            if (ok & B(0) && (faults(acls) || faults(scls)))
                ok = (ok & ~B(0)) | B(SHMLIB_EFAULT);
            allowed = ok;
        }
        if (errs)
            allowed = errs | (allowed & ~B(0));
    }
    describe("shmlib_attach(");
    describe_key(&k);
    describe(", hint=%p, flags=%#x, out_addr=%s, out_size=%s)", hint, flags, pname(acls), pname(scls));
    if (good(acls))
        sentinel(out, 8);
    if (good(scls))
        sentinel(osize, 8);
    int rc = shmlib_attach(k.p, hint, flags, out, osize);
    check(rc, allowed, bad);
    if (rc == 0) {
        if (!good(acls)) {
            violation(V_STATE, "succeeded without a usable out_addr");
            return;
        }
        unsigned char *addr;
        memcpy(&addr, (unsigned char *)out, sizeof addr);
        int s = unknown ? -1 : k.seg;
        uint64_t size = s >= 0 ? segs[s].size : 0;
        if (good(scls)) {
            uint64_t got;
            memcpy(&got, (unsigned char *)osize, 8);
            if (s >= 0 && got != size)
                violation(V_DATA, "out_size %" PRIu64 ", the segment has %" PRIu64, got, size);
            size = got;
        }
        if (((uintptr_t)addr % page) != 0 || (fixed && addr != hint))
            violation(V_DATA, "mapped at %p (hint %p, flags %#x)", (void *)addr, hint, flags);
        if (s < 0 && size == 0) {
            /* Somebody's segment, of a size we were not told: let it go. */
            int r2 = shmlib_detach(addr);
            if (r2 != 0)
                violation(V_STATE, "detach of a fresh mapping %p: %d", (void *)addr, r2);
            return;
        }
        if (s >= 0 && size <= BIG_SIZE && size >= 8) {
            /* Use it: read, and write where allowed. */
            size_t off = (size_t)stress_below(&rng, size - 7);
            volatile unsigned char *v = addr + off;
            unsigned char c = v[0];
            if (!(flags & SHMLIB_RDONLY) && !segs[s].chan)
                v[0] = (unsigned char)(c + 1);
        }
        add_mapping(addr, size, s, (flags & SHMLIB_RDONLY) != 0);
    } else {
        /* A fault on out_size after out_addr was written is the leak the
         * probes report: counted there, not again here. */
        if (!(rc == SHMLIB_EFAULT && probe_attach_leak))
            expect_untouched(acls, out, 8, "out_addr");
        expect_untouched(scls, osize, 8, "out_size");
        if (rc == SHMLIB_EFAULT && exists)
            recover_leaked_mapping("attach");
    }
}

static int is_chan_start(void *a)
{
    for (int i = 0; i < MAXHND; i++)
        if (hnds[i].used && hnds[i].chan_start == a)
            return 1;
    return 0;
}

static int map_at(void *a)
{
    for (int i = 0; i < MAXMAP; i++)
        if (maps[i].used && maps[i].addr == a)
            return i;
    return -1;
}

static void call_detach(void)
{
    begin(F_DETACH);
    void *a = NULL;
    const char *what = "";
    for (int tries = 0; tries < 8; tries++) {
        switch (stress_below(&rng, 20)) {
        case 0: a = NULL; what = "NULL"; break;
        case 1: case 2: case 3: case 4: case 5: case 6: case 7: case 8: {
            int idx[MAXMAP], n = 0;
            for (int i = 0; i < MAXMAP; i++)
                if (maps[i].used)
                    idx[n++] = i;
            if (n == 0) {
                a = hole_now();
                what = "hole";
            } else {
                a = maps[idx[stress_below(&rng, (uint64_t)n)]].addr;
                what = "live";
            }
            break;
        }
        case 9: {
            for (int j = 0; j < MAXMAP; j++)
                if (maps[j].used && maps[j].size > 1) {
                    a = maps[j].addr + (stress_below(&rng, 2) ? 1 : (maps[j].size > page ? page : 1));
                    break;
                }
            what = "inside";
            break;
        }
        case 10: case 11: case 12:
            a = nstale_addrs ? stale_addrs[stress_below(&rng, (uint64_t)nstale_addrs)] : hole_now();
            what = "stale";
            break;
        case 13: a = none_page; what = "PROT_NONE"; break;
        case 14: a = ro_page; what = "read-only"; break;
        case 15: a = hole_now(); what = "hole"; break;
        case 16: a = wild_pointer(); what = "wild"; break;
        case 17: a = outbuf; what = "heap"; break;
        case 18: a = &a; what = "stack"; break;
        default: {
            /* Inside a channel's own mapping (not at its start). */
            for (int i = 0; i < MAXHND; i++)
                if (hnds[i].used && hnds[i].chan_start != NULL) {
                    a = hnds[i].chan_start + 4096 + 16 * stress_below(&rng, 64);
                    break;
                }
            what = "in-channel";
            break;
        }
        }
        /* A channel's own mapping is not for shmlib_detach: the probes
         * check that one on its own (the random run would lose the end).
         * Nor is any mapping the model does not know of. */
        if (!is_chan_start(a) && (a == NULL || map_at(a) >= 0 || !is_shm_start((uintptr_t)a)))
            break;
        a = NULL;
        what = "NULL";
    }
    int m = map_at(a);
    uint32_t allowed = a == NULL ? B(SHMLIB_EINVAL) : m >= 0 ? B(0) : B(SHMLIB_ENOTATTACHED);
    describe("shmlib_detach(%s %p)", what, a);
    int rc = shmlib_detach(a);
    check(rc, allowed, 0);
    if (rc == 0 && m >= 0) {
        if (maps[m].seg >= 0)
            segs[maps[m].seg].nmaps--;
        maps[m].used = 0;
        add_stale_addr(a);
    }
}

static void call_destroy(void)
{
    begin(F_DESTROY);
    struct key k;
    gen_key(&k, 1, 0, -1);
    int exists, unknown;
    uint32_t errs = key_errors(&k, 0, &exists, &unknown);
    uint32_t allowed = unknown ? 0 : errs ? errs : exists ? B(0) : B(SHMLIB_ENOENT);
    /* "Another process cannot destroy it (SHMLIB_EACCES)": also one whose
     * holder does not exist. */
    if (k.cls == K_MEMFD_OTHER)
        allowed = B(SHMLIB_EACCES);
    else if (k.cls == K_MEMFD_ABSENT && k.other)
        allowed = B(SHMLIB_EACCES) | B(SHMLIB_ENOENT);
    describe("shmlib_destroy(");
    describe_key(&k);
    describe(")");
    int rc = shmlib_destroy(k.p);
    check(rc, allowed, key_faults(&k));
    if (rc == 0 && exists && k.cls != K_MEMFD_OTHER)
        seg_gone(k.seg);
}

static void call_stat(void)
{
    begin(F_STAT);
    struct key k;
    gen_key(&k, 0, 0, -1);
    int exists, unknown;
    uint32_t errs = key_errors(&k, 0, &exists, &unknown);
    int ocls;
    shmlib_stat_t *out = out_param(OFF_STAT, 8, &ocls);
    if (ocls == P_NULL)
        errs |= B(SHMLIB_EINVAL);
    if (ocls == P_MISALIGNED)
        out = (shmlib_stat_t *)(outbuf + OFF_STAT + 8); /* 8-aligned is all it needs */
    int by_id_dead = k.cls == K_DEAD && strncmp(k.canon, "sysv:id=", 8) == 0;
    uint32_t allowed = 0;
    if (!unknown) {
        if (exists)
            allowed = faults(ocls) ? B(SHMLIB_EFAULT) : B(0);
        else if (by_id_dead)
            /* destroyed, but maybe still attached here: then it exists,
             * flagged SHMLIB_STAT_DESTROYED */
            allowed = B(SHMLIB_ENOENT) | (faults(ocls) ? B(SHMLIB_EFAULT) : B(0));
        else
            allowed = B(SHMLIB_ENOENT);
        if (errs)
            allowed = errs | (allowed & ~B(0));
    }
    describe("shmlib_stat(");
    describe_key(&k);
    describe(", out_stat=%s)", pname(ocls));
    if (good(ocls))
        sentinel(out, sizeof *out);
    int rc = shmlib_stat(k.p, out);
    check(rc, allowed, key_faults(&k) || faults(ocls));
    if (rc == 0 && good(ocls)) {
        shmlib_stat_t st;
        memcpy(&st, out, sizeof st);
        if (strnlen(st.key, sizeof st.key) == sizeof st.key)
            violation(V_DATA, "stat key is not terminated");
        else if (exists) {
            struct seg *g = &segs[k.seg];
            uint32_t backend = g->sysv ? SHMLIB_BACKEND_SYSV : g->memfd ? SHMLIB_BACKEND_MEMFD : SHMLIB_BACKEND_POSIX;
            if (g->memfd && st.cpid != (g->memfd == 2 ? holder_pid : getpid()))
                violation(V_DATA, "stat of %s: cpid %d, want the holder %d", g->key, st.cpid,
                          g->memfd == 2 ? holder_pid : getpid());
            if (st.size != g->size || strcmp(st.key, g->key) != 0 || st.backend != backend ||
                ((st.flags & SHMLIB_STAT_CHANNEL) != 0) != (g->chan != 0) ||
                (g->sysv && st.shmid != g->shmid) || (!g->sysv && (st.shmid != -1 || st.nattach != -1)))
                violation(V_DATA, "stat of %s: key %s size %" PRIu64 " backend %u flags %#x shmid %d nattach %" PRId64
                          "; want size %" PRIu64 ", channel %d, shmid %d (mode %#o)",
                          g->key, st.key, st.size, st.backend, st.flags, st.shmid, st.nattach, g->size,
                          g->chan, g->shmid, st.mode);
        } else if (by_id_dead && !(st.flags & SHMLIB_STAT_DESTROYED)) {
            violation(V_DATA, "stat of destroyed %s: flags %#x lack SHMLIB_STAT_DESTROYED", k.canon, st.flags);
        }
    } else if (rc != 0) {
        expect_untouched(ocls, out, sizeof *out, "out_stat");
    }
}

static void call_list(void)
{
    begin(F_LIST);
    int icls, ccls;
    shmlib_stat_t *items;
    size_t cap;
    switch (stress_below(&rng, 10)) {
    case 0: items = NULL; icls = P_NULL; cap = 0; break;
    case 1: items = NULL; icls = P_NULL; cap = 1 + (size_t)stress_below(&rng, 100); break;
    case 2: items = (shmlib_stat_t *)none_page; icls = P_NONE; cap = 1 + (size_t)stress_below(&rng, 100); break;
    case 3: items = (shmlib_stat_t *)(outbuf + OFF_ITEMS); icls = P_GOOD; cap = stress_isolated() ? SIZE_MAX : MAX_ITEMS; break;
    default: items = (shmlib_stat_t *)(outbuf + OFF_ITEMS); icls = P_GOOD; cap = (size_t)stress_below(&rng, 64); break;
    }
    size_t *count = out_param(OFF_COUNT, 10, &ccls);
    uint32_t allowed;
    int bad = faults(icls) || faults(ccls);
    if (ccls == P_NULL || (items == NULL && cap > 0))
        allowed = B(SHMLIB_EINVAL);
    else if (faults(ccls))
        allowed = B(SHMLIB_EFAULT);
    else
        allowed = B(0) | B(SHMLIB_ERANGE) | (faults(icls) ? B(SHMLIB_EFAULT) : 0);
    describe("shmlib_list(items=%s, capacity=%zu, out_count=%s)", pname(icls), cap, pname(ccls));
    if (good(ccls))
        sentinel(count, sizeof *count);
    int rc = shmlib_list(items, cap, count);
    check(rc, allowed, bad);
    if ((rc == 0 || rc == SHMLIB_ERANGE) && good(ccls)) {
        size_t n;
        memcpy(&n, (unsigned char *)count, sizeof n);
        size_t live = 0;
        for (int i = 0; i < MAXSEG; i++)
            live += segs[i].used == 1;
        if (n < live)
            violation(V_DATA, "count %zu, but %zu segments of this run exist", n, live);
        if ((rc == SHMLIB_ERANGE) != (items != NULL && cap < n) && stress_isolated())
            violation(V_DATA, "rc %d with capacity %zu and count %zu", rc, cap, n);
        if (items != NULL && good(icls) && stress_isolated()) {
            size_t w = n < cap ? n : cap;
            for (size_t i = 0; i < w; i++)
                if (strnlen(items[i].key, sizeof items[i].key) == sizeof items[i].key ||
                    items[i].key[0] == '\0')
                    violation(V_DATA, "item %zu has no terminated key", i);
        }
    }
    /* shmlib_list may write *out_count on failure too (the header says so). */
}
