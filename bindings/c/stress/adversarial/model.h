/*
 * adversarial/model.h - part of adversarial.c (one program, built from that
 * file, which includes its parts once, in order): the functions called and the codes documented for each, the run's counters and violations, the special memory that pointer arguments point into, and the model of every segment, mapping and channel end made.
 */
/* ------------------------------------------------------------ the functions */

enum fn {
    F_VERSION, F_VERSION_STRING, F_STRERROR, F_LAST_ERROR, F_FTOK, F_CREATE, F_ATTACH,
    F_DETACH, F_DESTROY, F_STAT, F_LIST, F_CHAN_CREATE, F_CHAN_OPEN, F_CHAN_CLOSE,
    F_CHAN_MAX, F_CHAN_SEND, F_CHAN_RESERVE, F_CHAN_COMMIT, F_CHAN_RECV, F_CHAN_PEEK,
    F_CHAN_RELEASE, F_MEMFD_SEND, F_MEMFD_RECV, F_REAP, F_CHAN_HANDOVER, F_KEY_NORMALIZE, F_CHAN_UNRESERVE, F_CHAN_UNPEEK,
    F_CHAN_LOST, F_CHAN_FD, F_CHAN_ARM, F_CHAN_WAIT_ANY, NFN
};

static const char *const fn_name[NFN] = {
    "version", "version_string", "strerror", "last_error", "ftok", "create", "attach",
    "detach", "destroy", "stat", "list", "chan_create", "chan_open", "chan_close",
    "chan_max_message", "chan_send", "chan_reserve", "chan_commit", "chan_recv", "chan_peek",
    "chan_release", "memfd_send", "memfd_recv", "reap", "chan_handover", "key_normalize", "chan_unreserve", "chan_unpeek",
    "chan_lost", "chan_fd", "chan_arm", "chan_wait_any",
};

/* How often each is called, out of the sum. */
static const int fn_weight[NFN] = {
    1, 1, 2, 4, 4, 8, 10, 10, 6, 6, 1, 4, 8, 1, 3, 12, 6, 6, 12, 6, 5, 5, 5, 1, 3, 4, 3, 3, 2, 2, 2, 3,
};

/* Codes as bits: bit -rc for 0..ABI_LOWEST_CODE, then SHMLIB_OPENED, then
 * any other value. */
#define CODE_OPENED (1 - ABI_LOWEST_CODE)
#define CODE_OTHER (CODE_OPENED + 1)
#define NCODES (CODE_OTHER + 1)
static int code_index(int rc)
{
    if (rc == SHMLIB_OPENED)
        return CODE_OPENED;
    if (rc <= 0 && rc >= ABI_LOWEST_CODE)
        return -rc;
    return CODE_OTHER;
}
#define B(rc) (1u << code_index(rc))
_Static_assert(NCODES <= 32, "codes no longer fit the uint32_t masks");

static const char *code_short(int i)
{
    if (i == CODE_OTHER)
        return "other";
    return abi_code_name(i == CODE_OPENED ? SHMLIB_OPENED : -i) + strlen("SHMLIB_");
}

/* What include/shmlib.h lists for each function (its "Errors:" lines, as
 * generated into abi.h). */
static uint32_t documented[NFN];

static void init_documented(void)
{
    for (int f = 0; f < NFN; f++) {
        char name[64];
        snprintf(name, sizeof name, "shmlib_%s", fn_name[f]);
        const int *codes = abi_documented(name);
        if (codes == NULL) {
            fprintf(stderr, "adversarial: the header declares no %s\n", name);
            exit(2);
        }
        for (; *codes != INT_MIN; codes++)
            documented[f] |= B(*codes);
    }
    /* A function added to the header is not called until the model knows it. */
    for (size_t i = 0; abi_function(i) != NULL; i++) {
        int known = 0;
        for (int f = 0; f < NFN && !known; f++)
            known = strcmp(abi_function(i) + strlen("shmlib_"), fn_name[f]) == 0;
        if (!known)
            printf("adversarial: %s is not called (the model does not know it)\n", abi_function(i));
    }
}

/* ---------------------------------------------------------------- run state */

static uint64_t rng;
static long ncalls = 1000000;
static long call_no;               /* the call being made */
static atomic_long progress;       /* for the watchdog */
static long trace_from = -1;
static char prefix[64];
static int root;

static long fn_calls[NFN];
static long fn_codes[NFN][NCODES];
static long efault_badptr[NFN];    /* SHMLIB_EFAULT for a bad pointer: not in the header */

/* Violations, by kind; the first few of each are printed in full. */
enum vkind { V_UNDOCUMENTED, V_UNEXPECTED, V_OUTPUT, V_MESSAGE, V_DATA, V_STATE, NVKIND };
static const char *const vkind_name[NVKIND] = {
    "code not documented for the function", "code other than the model expects",
    "output written on failure", "last error wrong", "wrong data", "library state",
};
static long violations[NVKIND];
static long violations_fn[NFN][NVKIND];
static long violations_code[NFN][NCODES]; /* of the two code kinds */
#define PRINT_PER_KIND 4 /* per function and kind */

/* What the current call was, for messages. */
static char desc[1024];
static int cur_fn;

static void violation(enum vkind k, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void violation(enum vkind k, const char *fmt, ...)
{
    violations[k]++;
    if (++violations_fn[cur_fn][k] > PRINT_PER_KIND) {
        harness_failed++;
        return;
    }
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    harness_fail(__FILE__, __LINE__, "call #%ld %s: %s: %s\n    call: %s", call_no, fn_name[cur_fn],
                 vkind_name[k], msg, desc);
}

/* ------------------------------------------------------------ special memory */

static size_t page;
static unsigned char *none_page;  /* PROT_NONE */
static unsigned char *ro_page;    /* PROT_READ, zeros */
static unsigned char *hole;       /* reserved and unmapped: nothing there */
static unsigned char *keybuf;     /* KEYBUF_LEN read-write bytes, then a PROT_NONE page */
#define KEYBUF_LEN (5 * 4096)
static unsigned char *outbuf;     /* OUTBUF_LEN bytes for outputs, sentinel-filled */
#define OUTBUF_LEN (256 * 1024)
static unsigned char *bigbuf;     /* messages */
#define BIGBUF_LEN (1024 * 1024)

/* Where the outputs go within outbuf. */
#define OFF_KEY 0
#define OFF_ADDR 4096
#define OFF_SIZE 4160
#define OFF_CHAN 4224
#define OFF_PTR 4288
#define OFF_LEN 4352
#define OFF_COUNT 4416
#define OFF_STAT 8192
#define OFF_ITEMS 16384 /* up to 500 shmlib_stat_t */
#define MAX_ITEMS ((OUTBUF_LEN - OFF_ITEMS) / sizeof(shmlib_stat_t))
#define SENT 0xa5

/* An address with nothing mapped there. The kernel may reuse a hole for a
 * later mapping, so it is checked (msync fails with ENOMEM on unmapped
 * memory) and made anew when taken. */
static unsigned char *hole_now(void)
{
    /* Far below where the kernel places mappings (top down from near
     * 0x7f0000000000), so that no mapping lands there by chance; reserved
     * (MAP_FIXED_NOREPLACE) to be sure it is free, then unmapped. */
    static uintptr_t next = 0x100000000ull;
    while (hole == NULL || msync(hole, page, MS_ASYNC) == 0 || errno != ENOMEM) {
        void *p = mmap((void *)next, 64 * page, PROT_NONE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
        next += 1ull << 30;
        if (p == MAP_FAILED)
            continue;
        munmap(p, 64 * page);
        hole = (unsigned char *)p + 32 * page;
    }
    return hole;
}

static void *wild_pointer(void)
{
    static const uintptr_t wild[] = {
        1, 8, 4096, 0xdead000000000000ull, 0xffff800000000000ull, 0x800000000000ull,
        0x7ffffffff000ull, (uintptr_t)-1, (uintptr_t)-4096,
    };
    return (void *)wild[stress_below(&rng, sizeof wild / sizeof wild[0])];
}

/* An out-parameter: good memory in outbuf (most of the time), or NULL, or
 * memory that faults on write. *bad tells which. */
enum pclass { P_GOOD, P_NULL, P_NONE, P_RO, P_HOLE, P_WILD, P_MISALIGNED };

static void *out_param(size_t off, int pct_bad, int *cls)
{
    if ((int)stress_below(&rng, 100) >= pct_bad) {
        *cls = P_GOOD;
        return outbuf + off;
    }
    switch (stress_below(&rng, 6)) {
    case 0: *cls = P_NULL; return NULL;
    case 1: *cls = P_NONE; return none_page + stress_below(&rng, page / 8) * 8;
    case 2: *cls = P_RO; return ro_page;
    case 3: *cls = P_HOLE; return hole_now();
    case 4: *cls = P_WILD; return wild_pointer();
    default: *cls = P_MISALIGNED; return outbuf + off + 1;
    }
}

static int faults(int cls) { return cls == P_NONE || cls == P_RO || cls == P_HOLE || cls == P_WILD; }
static int good(int cls) { return cls == P_GOOD || cls == P_MISALIGNED; }
static const char *pname(int cls)
{
    static const char *const n[] = {"good", "NULL", "PROT_NONE", "read-only", "hole", "wild", "misaligned"};
    return n[cls];
}

/* ------------------------------------------------------------------- model */

#define MAXSEG 40
#define MAXDEAD 64
#define MAXMAP 64
#define MAXHND 24
#define MAXSTALE 64
#define BIG_SIZE (16u << 20) /* above this: never populated, locked or written */
#define MAXQ 65536

struct msg {
    uint64_t seq;
    uint32_t len;
    uint32_t pad; /* padding bytes before it, not yet skipped by the consumer */
};

struct seg {
    int used;
    char key[SHMLIB_KEY_MAX];   /* canonical */
    int sysv, has_ipc_key, shmid;
    int memfd;                  /* a memfd segment; 2: the one the holder child holds (not ours) */
    uint64_t ino;               /* memfd: its inode */
    uint64_t size;
    uint32_t mode;
    int nmaps;                  /* live mappings of ours */
    /* channel */
    int chan;
    uint64_t cap, maxmsg;
    int prod, cons;             /* handle slots, -1 if none */
    int closed;                 /* the producer closed: end of stream */
    int cons_left;              /* a consumer closed and none has opened since */
    int unchecked;              /* after a fault on one of its ends: only codes are checked */
    uint64_t id;                /* message tags */
    uint64_t tail, head, next_seq;
    struct msg *q;
    size_t qhead, qlen;
};

struct map {
    int used;
    unsigned char *addr;
    uint64_t size;
    int seg;                    /* -1 once the segment is gone from the model */
    int rdonly;
};

struct hnd {
    int used;
    shmlib_chan_t h;
    int seg, end;
    int reserved;
    size_t res_len;
    uint32_t res_pad;
    int held;
    unsigned char *chan_start;  /* the start of the library's own mapping */
};

static struct seg segs[MAXSEG];
static struct map maps[MAXMAP];
static struct hnd hnds[MAXHND];
static char dead[MAXDEAD][SHMLIB_KEY_MAX];
static int dead_sysv[MAXDEAD];    /* the kind: 0 POSIX, 1 System V, 2 memfd */
static int ndead;
static void *stale_addrs[MAXSTALE];
static int nstale_addrs;
static shmlib_chan_t stale_hnds[MAXSTALE];
static int nstale_hnds;
static shmlib_chan_t max_handle;
static uint64_t chan_ids;
static unsigned fresh_no;

static long stat_segments_made, stat_mappings_made, stat_handles_made, stat_msgs_checked;
static long bug_attach_leak, bug_open_leak, bug_tainted;

/* used: 1 for a live segment; 2 for a destroyed channel whose ends are
 * still open here (an "orphan": only its handles reach it). */
static int nlive(void)
{
    int n = 0;
    for (int i = 0; i < MAXSEG; i++)
        n += segs[i].used != 0;
    return n;
}

static int find_seg(const char *canon)
{
    for (int i = 0; i < MAXSEG; i++)
        if (segs[i].used == 1 && strcmp(segs[i].key, canon) == 0)
            return i;
    return -1;
}

static int find_seg_by_id(int id)
{
    for (int i = 0; i < MAXSEG; i++)
        if (segs[i].used == 1 && segs[i].sysv && segs[i].shmid == id)
            return i;
    return -1;
}

static int random_seg(int want_chan)
{
    int idx[MAXSEG], n = 0;
    for (int i = 0; i < MAXSEG; i++)
        if (segs[i].used == 1 && (want_chan < 0 || segs[i].chan == want_chan))
            idx[n++] = i;
    return n == 0 ? -1 : idx[stress_below(&rng, (uint64_t)n)];
}

static int free_slot(void *arr, size_t elem, int n)
{
    for (int i = 0; i < n; i++)
        if (!*(int *)((char *)arr + (size_t)i * elem))
            return i;
    return -1;
}

static void add_dead(const char *key, int sysv)
{
    int i = ndead < MAXDEAD ? ndead++ : (int)stress_below(&rng, MAXDEAD);
    snprintf(dead[i], sizeof dead[i], "%s", key);
    dead_sysv[i] = sysv;
}

static void add_stale_addr(void *a)
{
    int i = nstale_addrs < MAXSTALE ? nstale_addrs++ : (int)stress_below(&rng, MAXSTALE);
    stale_addrs[i] = a;
}

static void add_stale_hnd(shmlib_chan_t h)
{
    int i = nstale_hnds < MAXSTALE ? nstale_hnds++ : (int)stress_below(&rng, MAXSTALE);
    stale_hnds[i] = h;
}

/* The segment left the model (destroyed). Its mappings stay usable. */
static void seg_gone(int s)
{
    struct seg *g = &segs[s];
    add_dead(g->key, g->sysv ? 1 : g->memfd ? 2 : 0);
    if (g->sysv) {
        char byid[SHMLIB_KEY_MAX];
        snprintf(byid, sizeof byid, "sysv:id=%d", g->shmid);
        add_dead(byid, 1);
    }
    for (int i = 0; i < MAXMAP; i++)
        if (maps[i].used && maps[i].seg == s)
            maps[i].seg = -1;
    /* Open ends keep working on the destroyed segment: keep the channel
     * state with them, in a slot of its own, until both are closed. */
    if (g->chan && (g->prod >= 0 || g->cons >= 0)) {
        g->key[0] = '\0'; /* no longer findable by key */
        g->used = 2;      /* "orphan": counted out of nlive by the callers below */
        return;
    }
    free(g->q);
    memset(g, 0, sizeof *g);
}

static int is_orphan(int s) { return segs[s].used == 2; }

static void orphan_check(int s)
{
    struct seg *g = &segs[s];
    if (is_orphan(s) && g->prod < 0 && g->cons < 0) {
        free(g->q);
        memset(g, 0, sizeof *g);
    }
}

/* --------------------------------------------------------------- the calls */

/* Reads the calling thread's last error. */
static char last_msg[1024];

static void read_last_error(char *buf, size_t len)
{
    if (shmlib_last_error(buf, len) < 0 && buf[0] == '\0')
        snprintf(buf, len, "(none)");
}

/*
 * Checks a call's code. allowed: the codes the model accepts (0 for "any
 * documented code"); badptr: a pointer argument faults, so SHMLIB_EFAULT
 * may come back. Returns rc.
 */
static int check(int rc, uint32_t allowed, int badptr)
{
    int ci = code_index(rc);
    fn_calls[cur_fn]++;
    fn_codes[cur_fn][ci]++;
    atomic_store_explicit(&progress, call_no, memory_order_relaxed);
    uint32_t doc = documented[cur_fn];
    int efault_ok = badptr && rc == SHMLIB_EFAULT;
    if (efault_ok)
        efault_badptr[cur_fn]++;
    if (trace_from >= 0 && call_no >= trace_from)
        printf("#%ld %s -> %d %s\n", call_no, desc, rc, code_short(ci));
    if (!(doc & B(rc)) && !efault_ok) {
        char m[600];
        read_last_error(m, sizeof m);
        violations_code[cur_fn][ci]++;
        violation(V_UNDOCUMENTED, "returned %d %s (%s)", rc, harness_code_name(rc), m);
    } else if (allowed != 0 && !(allowed & B(rc)) && !efault_ok) {
        char m[600], want[256] = "";
        read_last_error(m, sizeof m);
        for (int i = 0; i < NCODES; i++)
            if (allowed & (1u << i))
                snprintf(want + strlen(want), sizeof want - strlen(want), " %s", code_short(i));
        violations_code[cur_fn][ci]++;
        violation(V_UNEXPECTED, "returned %d %s, want one of:%s (%s)", rc, harness_code_name(rc), want, m);
    } else {
        harness_passed++;
    }
    /* The last error: a failure names its call, a success leaves it be. */
    char now[1024];
    read_last_error(now, sizeof now);
    if (rc < 0) {
        const char *op = fn_name[cur_fn];
        size_t n = strlen(op);
        if (strncmp(now, op, n) != 0 || (now[n] != ':' && now[n] != ' '))
            violation(V_MESSAGE, "rc %d but the last error is \"%s\"", rc, now);
        snprintf(last_msg, sizeof last_msg, "%s", now);
    } else if (strcmp(now, last_msg) != 0) {
        violation(V_MESSAGE, "a success changed the last error from \"%s\" to \"%s\"", last_msg, now);
        snprintf(last_msg, sizeof last_msg, "%s", now);
    }
    return rc;
}

static void begin(int fn) { cur_fn = fn; desc[0] = '\0'; }

static void describe(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void describe(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    size_t n = strlen(desc);
    vsnprintf(desc + n, sizeof desc - n, fmt, ap);
    va_end(ap);
}

/* Outputs in good memory must be untouched after a failure. */
static void sentinel(void *p, size_t len) { memset(p, SENT, len); }
static int untouched(const void *p, size_t len)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < len; i++)
        if (b[i] != SENT)
            return 0;
    return 1;
}
static void expect_untouched(int cls, const void *p, size_t len, const char *what)
{
    if (good(cls) && p != NULL && !untouched(p, len))
        violation(V_OUTPUT, "%s was written although the call failed", what);
}
