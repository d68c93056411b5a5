/*
 * adversarial/keys.h - part of adversarial.c (one program, built from that
 * file, which includes its parts once, in order): keys of every kind (live, destroyed, malformed, unterminated, in a mapping), sizes and flags, and what /proc shows of the library's mappings and descriptors.
 */
/* ------------------------------------------------------------------ keys */

enum kclass {
    K_NULL, K_LIVE, K_ALIAS, K_DEAD, K_FRESH, K_AUTO, K_MALFORMED, K_TOOLONG, K_HUGE,
    K_UNTERM_SHORT, K_UNTERM_LONG, K_BADPTR, K_INMAP, K_GARBAGE, K_BYID_CREATE,
    K_MEMFD_OTHER, K_MEMFD_ABSENT, NKCLASS
};

struct key {
    const char *p;
    int cls;
    int seg;                      /* K_LIVE, K_ALIAS */
    int sysv;                     /* K_FRESH, K_AUTO, K_DEAD */
    int memfd;                    /* K_AUTO, K_DEAD, K_MEMFD_*: a memfd key */
    int other;                    /* K_MEMFD_ABSENT: of another process (pid above pid_max) */
    int form;                     /* K_AUTO: 0 posix, 1 sysv, 2 private, 3 memfd */
    char canon[SHMLIB_KEY_MAX];   /* K_FRESH, K_DEAD: the canonical key */
    int unknown;                  /* might name anything (K_DEAD by id outside isolation) */
};

static const char *const malformed_keys[] = {
    "posix:/", "posix:x", "posix://x", "posix:/a/b", "posix:/.", "posix:/..", "/", "/.", "/..",
    "//", "/a/", "sysv:key=", "sysv:key=0", "sysv:key=0x", "sysv:key=0x0", "sysv:key=0x100000000",
    "sysv:key=4294967296", "sysv:key=-1", "sysv:key=+1", "sysv:key=0X10", "sysv:key=1_0",
    "sysv:key= 1", "sysv:key=1 ", "sysv:key=0x1g", "sysv:key=0x-1", "sysv:key=0x+1", "sysv:id=",
    "sysv:id=-1", "sysv:id=+1", "sysv:id=x", "sysv:id=2147483648", "sysv:id=99999999999999999999",
    "sysv:id= 1", "sysv:ID=1", "sysv:Key=1", "sysv:bogus", "sysv:private2", "sysv:privatex",
    "sysv: ", "sysv", "SYSV:key=1", "POSIX:/x", "posix", "Posix:/x", " /x", "\t/x", "x",
    "\xff\xfe", "key=1", "posix:\n/x", "sysv:key=0x12\n", "\x01",
    /* memfd keys are memfd:pid=P,fd=F,ino=I: all decimal, in that order, P > 0 */
    "memfd", "MEMFD:", "memfd:x", "memfd: ", "memfd:pid=", "memfd:pid=1", "memfd:pid=1,fd=2",
    "memfd:pid=1,fd=2,ino=", "memfd:pid=1,fd=2,ino=x", "memfd:pid=0,fd=2,ino=3", "memfd:pid=-1,fd=2,ino=3",
    "memfd:pid=1,fd=-2,ino=3", "memfd:pid=1,fd=2,ino=-3", "memfd:pid=+1,fd=2,ino=3", "memfd:pid= 1,fd=2,ino=3",
    "memfd:pid=1,fd=2,ino=3,", "memfd:pid=1,fd=2,ino=3,x=4", "memfd:fd=2,pid=1,ino=3", "memfd:pid=1,ino=3,fd=2",
    "memfd:pid=2147483648,fd=2,ino=3", "memfd:pid=1,fd=2147483648,ino=3",
    "memfd:pid=1,fd=2,ino=18446744073709551616", "memfd:pid=0x1,fd=2,ino=3", "memfd:pid=1;fd=2;ino=3",
    "memfd:PID=1,fd=2,ino=3", "memfd::", "memfd:pid=1,,fd=2,ino=3",
};

/* The keys the library chooses for create. */
static const char *const auto_keys[] = {"", "posix:", "sysv:", "sysv:private", "memfd:"};

/* The memfd segment a child process holds (see start_holder): a live key
 * of another process, in the model's slot other_seg (used 3). */
static int other_seg = -1;
static pid_t holder_pid;

static void fresh_key(struct key *k, int sysv)
{
    k->cls = K_FRESH;
    k->sysv = sysv;
    char *b = (char *)keybuf;
    if (sysv) {
        uint32_t v;
        do {
            if (stress_isolated())
                v = (uint32_t)stress_rand(&rng) | 1;
            else
                v = 0x5d000000u | ((uint32_t)getpid() & 0xffff) << 8 | (uint32_t)stress_below(&rng, 256);
            snprintf(k->canon, sizeof k->canon, "sysv:key=0x%08x", v);
        } while (find_seg(k->canon) >= 0 || v == 0);
        if (stress_below(&rng, 3) == 0)
            snprintf(b, KEYBUF_LEN, "sysv:key=%u", v);
        else
            snprintf(b, KEYBUF_LEN, "%s", k->canon);
    } else {
        char name[256];
        unsigned n = fresh_no++;
        switch (stress_below(&rng, 6)) {
        case 0: { /* non-UTF-8 and control bytes: legal in a name */
            int l = snprintf(name, sizeof name, "%s-u%u-", prefix, n);
            for (int i = 0; i < 8; i++) {
                unsigned char c;
                do
                    c = (unsigned char)stress_rand(&rng);
                while (c == 0 || c == '/');
                name[l++] = (char)c;
            }
            name[l] = '\0';
            break;
        }
        case 1: { /* exactly 255 bytes, the longest name */
            int l = snprintf(name, sizeof name, "%s-l%u-", prefix, n);
            memset(name + l, 'L', 255 - (size_t)l);
            name[255] = '\0';
            break;
        }
        default:
            snprintf(name, sizeof name, "%s-f%u", prefix, n);
        }
        snprintf(k->canon, sizeof k->canon, "posix:/%s", name);
        if (stress_below(&rng, 3) == 0)
            snprintf(b, KEYBUF_LEN, "/%s", name);
        else
            snprintf(b, KEYBUF_LEN, "%s", k->canon);
    }
    k->p = b;
}

/* Picks a key for a call. mutating: the call may create, destroy or take
 * an end, so the key must not be able to name anybody else's segment. */
static void gen_key(struct key *k, int mutating, int for_create, int want_chan)
{
    memset(k, 0, sizeof *k);
    k->seg = -1;
    char *b = (char *)keybuf;
    int w[NKCLASS] = {0};
    w[K_NULL] = 3;
    w[K_LIVE] = for_create ? 8 : 40;
    w[K_ALIAS] = for_create ? 2 : 10;
    w[K_DEAD] = for_create ? 8 : 10;
    w[K_FRESH] = for_create ? 45 : 8;
    w[K_AUTO] = for_create ? 20 : 3;
    w[K_MALFORMED] = 8;
    w[K_TOOLONG] = 3;
    w[K_HUGE] = 2;
    w[K_UNTERM_SHORT] = 3;
    w[K_UNTERM_LONG] = 2;
    w[K_BADPTR] = 4;
    w[K_INMAP] = mutating ? 0 : 3;
    w[K_GARBAGE] = 4;
    w[K_BYID_CREATE] = for_create ? 2 : 0;
    w[K_MEMFD_OTHER] = other_seg >= 0 ? 3 : 0;
    w[K_MEMFD_ABSENT] = 3;
    int total = 0;
    for (int i = 0; i < NKCLASS; i++)
        total += w[i];
    int r = (int)stress_below(&rng, (uint64_t)total), cls = 0;
    while (r >= w[cls])
        r -= w[cls++];
    k->cls = cls;
    switch (cls) {
    case K_NULL:
        k->p = NULL;
        return;
    case K_LIVE:
    case K_ALIAS: {
        int s = random_seg(want_chan >= 0 && stress_below(&rng, 4) != 0 ? want_chan : -1);
        if (s < 0) {
            fresh_key(k, (int)stress_below(&rng, 2));
            return;
        }
        k->seg = s;
        struct seg *g = &segs[s];
        if (g->memfd) { /* one spelling only */
            k->cls = K_LIVE;
            snprintf(b, KEYBUF_LEN, "%s", g->key);
        } else if (cls == K_LIVE || (!g->sysv && stress_below(&rng, 2)))
            snprintf(b, KEYBUF_LEN, "%s", g->sysv || cls == K_LIVE ? g->key : g->key + 6);
        else if (!g->sysv)
            snprintf(b, KEYBUF_LEN, "%s", g->key + 6); /* "/NAME" */
        else if (g->has_ipc_key && stress_below(&rng, 2))
            snprintf(b, KEYBUF_LEN, "sysv:key=%u", (unsigned)strtoul(g->key + 9, NULL, 16));
        else
            snprintf(b, KEYBUF_LEN, "sysv:id=%d", g->shmid);
        k->p = b;
        return;
    }
    case K_DEAD: {
        if (ndead == 0) {
            fresh_key(k, (int)stress_below(&rng, 2));
            return;
        }
        int i = (int)stress_below(&rng, (uint64_t)ndead);
        snprintf(k->canon, sizeof k->canon, "%s", dead[i]);
        k->sysv = dead_sysv[i] == 1;
        k->memfd = dead_sysv[i] == 2;
        if (find_seg(k->canon) >= 0) { /* made again since */
            k->cls = K_LIVE;
            k->seg = find_seg(k->canon);
        } else if (strncmp(k->canon, "sysv:id=", 8) == 0) {
            /* The kernel reuses ids: it may be one of ours again, or,
             * outside isolation, anybody's. */
            int s = find_seg_by_id(atoi(k->canon + 8));
            if (s >= 0) {
                k->cls = K_LIVE;
                k->seg = s;
            } else if (!stress_isolated()) {
                if (mutating) {
                    fresh_key(k, 1);
                    return;
                }
                k->unknown = 1;
            } else if (for_create) {
                k->cls = K_BYID_CREATE;
            }
        }
        snprintf(b, KEYBUF_LEN, "%s", k->canon);
        k->p = b;
        return;
    }
    case K_FRESH:
        fresh_key(k, (int)stress_below(&rng, 3) == 0);
        return;
    case K_AUTO:
        k->form = (int)stress_below(&rng, 7);
        if (k->form == 6) { /* a read-only page of zeros: "" */
            k->p = (const char *)ro_page;
            k->form = 0;
        } else {
            k->form = k->form == 5 ? 4 : k->form; /* memfd: twice as often */
            k->p = auto_keys[k->form];
            k->form = k->form <= 1 ? 0 : k->form - 1;
        }
        k->sysv = k->form == 1 || k->form == 2;
        k->memfd = k->form == 3;
        return;
    case K_MALFORMED:
        k->p = malformed_keys[stress_below(&rng, sizeof malformed_keys / sizeof malformed_keys[0])];
        return;
    case K_TOOLONG: {
        size_t n = 256 + (size_t)stress_below(&rng, 100);
        int l = snprintf(b, KEYBUF_LEN, stress_below(&rng, 2) ? "posix:/" : "/");
        memset(b + l, 'T', n);
        b[(size_t)l + n] = '\0';
        k->p = b;
        return;
    }
    case K_HUGE: {
        /* Terminated, but longer than any key: 4095 bytes (inside the
         * scan), or past the 4096-byte scan. */
        size_t n = stress_below(&rng, 2) ? 4095 : 4096 + (size_t)stress_below(&rng, KEYBUF_LEN - 4097);
        memcpy(b, "posix:/", 7);
        memset(b + 7, 'H', n - 7);
        b[n] = '\0';
        k->p = b;
        return;
    }
    case K_UNTERM_SHORT:
    case K_UNTERM_LONG: {
        /* No NUL before the PROT_NONE page that follows keybuf. */
        size_t n = cls == K_UNTERM_SHORT ? 1 + (size_t)stress_below(&rng, 4095)
                                         : 4096 + (size_t)stress_below(&rng, KEYBUF_LEN - 4096 + 1);
        char *start = (char *)keybuf + KEYBUF_LEN - n;
        memset(start, 'u', n);
        if (n >= 7 && stress_below(&rng, 2))
            memcpy(start, "posix:/", 7);
        k->p = start;
        return;
    }
    case K_BADPTR:
        switch (stress_below(&rng, 3)) {
        case 0: k->p = (const char *)none_page + stress_below(&rng, page); break;
        case 1: k->p = (const char *)hole_now(); break;
        default: k->p = wild_pointer(); break;
        }
        return;
    case K_INMAP: {
        int idx[MAXMAP], n = 0;
        for (int i = 0; i < MAXMAP; i++)
            if (maps[i].used && maps[i].size <= BIG_SIZE)
                idx[n++] = i;
        if (n == 0) {
            k->cls = K_MALFORMED;
            k->p = "x";
            return;
        }
        struct map *m = &maps[idx[stress_below(&rng, (uint64_t)n)]];
        k->p = (const char *)m->addr + stress_below(&rng, m->size);
        k->unknown = 1;
        return;
    }
    case K_GARBAGE: {
        size_t n = (size_t)stress_below(&rng, 40);
        if (mutating) {
            /* Garbage in the name of a key of ours: a fresh, legal name
             * unless it holds a '/' (then malformed). */
            int l = snprintf(b, KEYBUF_LEN, "posix:/%s-g%u-", prefix, fresh_no++);
            int slash = 0;
            for (size_t i = 0; i < n; i++) {
                unsigned char c;
                do
                    c = (unsigned char)stress_rand(&rng);
                while (c == 0);
                slash |= c == '/';
                b[(size_t)l + i] = (char)c;
            }
            b[(size_t)l + n] = '\0';
            if (slash) {
                k->cls = K_MALFORMED;
            } else {
                k->cls = K_FRESH;
                snprintf(k->canon, sizeof k->canon, "%s", b);
            }
        } else {
            for (size_t i = 0; i < n; i++) {
                unsigned char c;
                do
                    c = (unsigned char)stress_rand(&rng);
                while (c == 0);
                b[i] = (char)c;
            }
            b[n] = '\0';
            k->unknown = 1;
        }
        k->p = b;
        return;
    }
    case K_MEMFD_OTHER:
        k->memfd = 1;
        k->seg = other_seg;
        snprintf(b, KEYBUF_LEN, "%s", segs[other_seg].key);
        k->p = b;
        return;
    case K_MEMFD_ABSENT: {
        /* Well-formed, and nobody's: this process with a descriptor and
         * inode it does not hold, or a pid above any pid_max (2^22), whose
         * /proc directory cannot exist. */
        k->memfd = 1;
        k->other = (int)stress_below(&rng, 2);
        unsigned pid = k->other ? (1u << 22) + 1 + (unsigned)stress_below(&rng, (1u << 31) - (1u << 22) - 2)
                                : (unsigned)getpid();
        snprintf(b, KEYBUF_LEN, "memfd:pid=%u,fd=%u,ino=%" PRIu64, pid, (unsigned)stress_below(&rng, 70),
                 stress_below(&rng, 2) ? stress_rand(&rng) : (uint64_t)stress_below(&rng, 1u << 30) + ((uint64_t)1 << 40));
        k->p = b;
        return;
    }
    case K_BYID_CREATE: {
        int s = random_seg(-1);
        snprintf(b, KEYBUF_LEN, "sysv:id=%d", s >= 0 && segs[s].sysv ? segs[s].shmid : (int)stress_below(&rng, 100000));
        k->p = b;
        return;
    }
    }
}

static int key_faults(const struct key *k) { return k->cls == K_BADPTR || k->cls == K_UNTERM_SHORT; }

static const char *kname(const struct key *k)
{
    static const char *const n[NKCLASS] = {
        "NULL", "live", "live-alias", "destroyed", "fresh", "auto", "malformed", "too-long",
        "huge", "unterminated(<4096)", "unterminated(>=4096)", "bad-pointer", "in-mapping",
        "garbage", "by-id", "memfd-other-process", "memfd-absent",
    };
    return n[k->cls];
}

/* A printable, bounded picture of a key, for the call's description. */
static void describe_key(const struct key *k)
{
    describe("key=%s", kname(k));
    if (k->cls == K_BADPTR || k->cls == K_UNTERM_SHORT || k->cls == K_UNTERM_LONG ||
        k->cls == K_INMAP || k->p == NULL) {
        describe("(%p)", (const void *)k->p);
        return;
    }
    describe("\"");
    size_t n = strlen(k->p);
    for (size_t i = 0; i < n && i < 60; i++) {
        unsigned char c = (unsigned char)k->p[i];
        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\')
            describe("%c", c);
        else
            describe("\\x%02x", c);
    }
    describe(n > 60 ? "\"...(%zu bytes)" : "\"", n);
}

/* The codes a key alone gives: 0 if it names an existing segment of ours,
 * ENOENT if well-formed and absent; *unknown if it may name anything. */
static uint32_t key_errors(const struct key *k, int creation_only_ok, int *exists, int *unknown)
{
    *exists = 0;
    *unknown = k->unknown;
    switch (k->cls) {
    case K_NULL: return creation_only_ok ? 0 : B(SHMLIB_EINVAL);
    case K_LIVE:
    case K_ALIAS:
    case K_MEMFD_OTHER: *exists = 1; return 0;
    case K_DEAD:
    case K_FRESH:
    case K_MEMFD_ABSENT: return 0;
    case K_AUTO: return creation_only_ok ? 0 : B(SHMLIB_EINVAL);
    case K_MALFORMED:
    case K_TOOLONG:
    case K_HUGE:
    case K_UNTERM_LONG:
    case K_BYID_CREATE: return B(SHMLIB_EINVAL);
    case K_UNTERM_SHORT:
    case K_BADPTR: return B(SHMLIB_EFAULT);
    default: *unknown = 1; return 0;
    }
}

/* ------------------------------------------------------------ sizes, flags */

static uint64_t gen_size(int *cls)
{
    static const uint64_t huge[] = {
        1ull << 36, 1ull << 40, 1ull << 47, 1ull << 50, 1ull << 62, 1ull << 63,
        (1ull << 63) - 1, (uint64_t)-1, (uint64_t)-4096, (uint64_t)-1 - 4096 + 1,
        (uint64_t)INT64_MIN, 1ull << 45, 0x100000000ull * 1024,
    };
    switch (stress_below(&rng, 20)) {
    case 0: *cls = 0; return 0;
    case 1: case 2: *cls = 2; return huge[stress_below(&rng, sizeof huge / sizeof huge[0])];
    case 3: case 4: case 5: *cls = 1; return 4096 * (1 + stress_below(&rng, 256));
    default: *cls = 1; return 1 + stress_below(&rng, 65536);
    }
}

static uint32_t gen_create_flags(void)
{
    switch (stress_below(&rng, 12)) {
    case 0: return (uint32_t)stress_rand(&rng);
    case 1: return SHMLIB_OPEN_EXISTING;
    case 2: return SHMLIB_SPARSE;
    case 3: return SHMLIB_HUGETLB;
    case 4: return 1u << stress_below(&rng, 32);
    case 5: return SHMLIB_OPEN_EXISTING | SHMLIB_SPARSE;
    default: return 0;
    }
}

static uint32_t gen_mode(void)
{
    switch (stress_below(&rng, 12)) {
    case 0: return (uint32_t)stress_rand(&rng);
    case 1: return 01000 + (uint32_t)stress_below(&rng, 0xffff);
    case 2: return (uint32_t)stress_below(&rng, 01000);
    case 3: return 0;
    default: return 0600 | (uint32_t)stress_below(&rng, 0100) ;
    }
}

static int64_t gen_short_timeout(void)
{
    switch (stress_below(&rng, 4)) {
    case 0: return 1 + (int64_t)stress_below(&rng, 5000);
    default: return 0;
    }
}

static int64_t gen_timeout(int cannot_wait)
{
    if (!cannot_wait)
        return gen_short_timeout();
    static const int64_t any[] = {0, 1, 1000, SHMLIB_WAIT_FOREVER, -2, INT64_MIN, INT64_MAX, 1000000000};
    return any[stress_below(&rng, sizeof any / sizeof any[0])];
}

/* ------------------------------------------------------------------ /proc */

/* The start addresses of this process's shared memory mappings. */
static int shm_starts(uintptr_t *out, int max)
{
    FILE *f = fopen("/proc/self/maps", "r");
    if (f == NULL)
        return 0;
    char line[1024];
    int n = 0;
    while (fgets(line, sizeof line, f) != NULL && n < max)
        if (strstr(line, " /dev/shm/") != NULL || strstr(line, " /SYSV") != NULL ||
            strstr(line, " /memfd:") != NULL)
            out[n++] = (uintptr_t)strtoull(line, NULL, 16);
    fclose(f);
    return n;
}

/* memfd mappings: stress_count_shm_mappings() counts only /dev/shm and
 * System V ones. */
static int count_memfd_mappings(void)
{
    FILE *f = fopen("/proc/self/maps", "r");
    if (f == NULL)
        return -1;
    char line[1024];
    int n = 0;
    while (fgets(line, sizeof line, f) != NULL)
        n += strstr(line, " /memfd:") != NULL;
    fclose(f);
    return n;
}

static int known_start(uintptr_t a)
{
    for (int i = 0; i < MAXMAP; i++)
        if (maps[i].used && (uintptr_t)maps[i].addr == a)
            return 1;
    for (int i = 0; i < MAXHND; i++)
        if (hnds[i].used && (uintptr_t)hnds[i].chan_start == a)
            return 1;
    return 0;
}

/* The shared memory mapping that appeared between two shm_starts(). */
static unsigned char *new_mapping(const uintptr_t *before, int nbefore)
{
    uintptr_t now[512];
    int n = shm_starts(now, 512);
    for (int i = 0; i < n; i++) {
        int seen = 0;
        for (int j = 0; j < nbefore && !seen; j++)
            seen = before[j] == now[i];
        if (!seen)
            return (unsigned char *)now[i];
    }
    return NULL;
}

static int is_shm_start(uintptr_t a)
{
    uintptr_t now[512];
    int n = shm_starts(now, 512);
    for (int i = 0; i < n; i++)
        if (now[i] == a)
            return 1;
    return 0;
}

/* The one shared memory mapping that is not in the model, if exactly one. */
static unsigned char *unknown_mapping(void)
{
    uintptr_t starts[512];
    int n = shm_starts(starts, 512), found = 0;
    uintptr_t which = 0;
    for (int i = 0; i < n; i++)
        if (!known_start(starts[i])) {
            found++;
            which = starts[i];
        }
    return found == 1 ? (unsigned char *)which : NULL;
}
