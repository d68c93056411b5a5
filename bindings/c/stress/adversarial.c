/*
 * adversarial.c - every exported function, called at random with random and
 * hostile arguments, against a model of what must come back.
 *
 * A seeded driver (the seed is printed; --seed replays it) makes CALLS calls
 * (default 1,000,000; --quick: 50,000) to all 26 functions of shmlib.h:
 * NULL, unreadable (PROT_NONE pages, unmapped holes, wild addresses) and
 * read-only pointers; keys that are malformed, overlong, non-UTF-8, full of
 * control bytes, unterminated right before a PROT_NONE page (shorter and
 * longer than the library's 4096-byte scan), or read out of a live mapping;
 * huge and "negative" sizes; random flags, modes, ends and handles; stale
 * keys, addresses and handles (double detach, calls after destroy and
 * close); random short timeouts (0 or a few microseconds; WAIT_FOREVER only
 * where the model says the call cannot wait); memfd keys: live, destroyed
 * (also when the descriptor number holds a new memfd), malformed, of a
 * child process that holds one, of no process; memfd_send and memfd_recv
 * over the program's own socket pairs (peers closed, resets, messages with
 * no descriptor, a non-memfd, an unsealed memfd or two descriptors), and
 * on descriptors that are no socket or closed; recv only where a message
 * waits or the peer closed, so it cannot block; reap with random flags
 * (SHMLIB_REAP_DESTROY only in isolation, where every segment is this
 * living process's: nothing may be found); chan_handover of open ends,
 * which are then free and are opened again.
 *
 * The model knows every segment, mapping and channel end it made, and the
 * exact state of each channel ring (bytes in flight, padding at the wrap),
 * so most calls have one right answer. Every return value must be:
 *
 *   - documented for that function by include/shmlib.h (its "Errors:" list,
 *     or 0 / SHMLIB_OPENED), or SHMLIB_EFAULT when the call was handed a
 *     pointer that cannot be accessed (the header names no function that
 *     returns it: see the summary); and
 *   - the one the model expects, when the arguments leave one answer, or
 *     one of the codes that apply when several errors do (the header does
 *     not order its checks).
 *
 * Besides: outputs in good memory are left alone on failure; the last error
 * names the failed call and is left alone by successes; every received
 * message is checked byte by byte and in order; strings are terminated.
 * No crash (a crash ends the run), no hang (an alarm and a watchdog), and no
 * leak at the end: every segment, mapping and channel end made is released,
 * and then no segment, mapping or descriptor may remain.
 *
 * Before the random run, a few deterministic probes check what happens to
 * the library's own state when a pointer faults after it has acted, and
 * which of the two outcomes the header leaves open an unterminated key gets.
 *
 *   adversarial [--quick] [--calls N] [--seed N] [--trace-from N]
 *               [--alarm SECONDS] [--no-isolate]
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "stress.h"

/* ------------------------------------------------------------ the functions */

enum fn {
    F_VERSION, F_VERSION_STRING, F_STRERROR, F_LAST_ERROR, F_FTOK, F_CREATE, F_ATTACH,
    F_DETACH, F_DESTROY, F_STAT, F_LIST, F_CHAN_CREATE, F_CHAN_OPEN, F_CHAN_CLOSE,
    F_CHAN_MAX, F_CHAN_SEND, F_CHAN_RESERVE, F_CHAN_COMMIT, F_CHAN_RECV, F_CHAN_PEEK,
    F_CHAN_RELEASE, F_MEMFD_SEND, F_MEMFD_RECV, F_REAP, F_CHAN_HANDOVER, F_KEY_NORMALIZE, NFN
};

static const char *const fn_name[NFN] = {
    "version", "version_string", "strerror", "last_error", "ftok", "create", "attach",
    "detach", "destroy", "stat", "list", "chan_create", "chan_open", "chan_close",
    "chan_max_message", "chan_send", "chan_reserve", "chan_commit", "chan_recv", "chan_peek",
    "chan_release", "memfd_send", "memfd_recv", "reap", "chan_handover", "key_normalize",
};

/* How often each is called, out of the sum. */
static const int fn_weight[NFN] = {
    1, 1, 2, 4, 4, 8, 10, 10, 6, 6, 1, 4, 8, 1, 3, 12, 6, 6, 12, 6, 5, 5, 5, 1, 3, 4,
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
        stress_fill(buf + 8, len - 8, tag);
}

static int msg_ok(const unsigned char *buf, const struct seg *g, uint64_t seq, size_t len)
{
    uint64_t tag = (g->id << 32) ^ seq;
    if (memcmp(buf, &seq, len < 8 ? len : 8) != 0)
        return 0;
    return len <= 8 || stress_verify(buf + 8, len - 8, tag) == len - 8;
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

/* -------------------------------------------------------------- handover */

static void call_chan_open_end(int s, int end);

static void call_chan_handover(void)
{
    begin(F_CHAN_HANDOVER);
    int slot;
    shmlib_chan_t h = gen_handle(stress_below(&rng, 2) ? SHMLIB_CHAN_PRODUCER : SHMLIB_CHAN_CONSUMER, &slot);
    struct hnd *x = slot >= 0 ? &hnds[slot] : NULL;
    describe("shmlib_chan_handover(%" PRIu64 "%s)", h,
             x ? (x->end == 1 ? (x->reserved ? " producer, reserved" : " producer")
                              : (x->held ? " consumer, holding" : " consumer"))
               : " not open");
    int rc = shmlib_chan_handover(h);
    check(rc, x ? B(0) : B(SHMLIB_EINVAL), 0);
    if (rc != 0 || x == NULL)
        return;
    /* The end is free and the stream goes on: the peer is told nothing
     * (no end of stream, no consumer gone). A reservation is dropped; a
     * held message stays first for the next holder. */
    int s = x->seg, end = x->end;
    unsigned char *start = x->chan_start;
    if (end == SHMLIB_CHAN_PRODUCER)
        segs[s].prod = -1;
    else
        segs[s].cons = -1;
    add_stale_hnd(x->h);
    memset(x, 0, sizeof *x);
    if (start != NULL && is_shm_start((uintptr_t)start))
        violation(V_STATE, "the end's mapping at %p is still there after the handover", (void *)start);
    orphan_check(s);
    /* The process it goes to opens it. */
    if (segs[s].used == 1 && stress_below(&rng, 2))
        call_chan_open_end(s, end);
}

/* chan_open of exactly that end of a live channel of the model. */
static void call_chan_open_end(int s, int end)
{
    struct seg *g = &segs[s];
    begin(F_CHAN_OPEN);
    describe("shmlib_chan_open(%s, end=%d, good) [the end just handed over]", g->key, end);
    shmlib_chan_t *out = (shmlib_chan_t *)(outbuf + OFF_CHAN);
    uintptr_t before[512];
    int nbefore = shm_starts(before, 512);
    int rc = shmlib_chan_open(g->key, end, out);
    check(rc, B(0), 0);
    if (rc != 0)
        return;
    shmlib_chan_t h = *out;
    if (h == 0 || h <= max_handle)
        violation(V_DATA, "handle %" PRIu64 " (0, or not new: the last was %" PRIu64 ")", h, max_handle);
    if (h > max_handle)
        max_handle = h;
    int i = free_slot(hnds, sizeof hnds[0], MAXHND);
    hnds[i] = (struct hnd){.used = 1, .h = h, .seg = s, .end = end};
    hnds[i].chan_start = new_mapping(before, nbefore);
    if (hnds[i].chan_start == NULL)
        harness_fail(__FILE__, __LINE__, "call #%ld: cannot find the mapping of the reopened end", call_no);
    if (end == SHMLIB_CHAN_PRODUCER)
        g->prod = i;
    else {
        g->cons = i;
        g->cons_left = 0;
    }
    stat_handles_made++;
}

/* The memfd segment of another process: a child that holds one, made here
 * and let go here, and does nothing else. */
static void start_holder(void)
{
    char key[SHMLIB_KEY_MAX];
    if (shmlib_create("memfd:", 8192, 0600, 0, key, sizeof key) != 0) {
        harness_fail(__FILE__, __LINE__, "create memfd: for the holder child: %s", harness_last_error());
        return;
    }
    int fd;
    unsigned long long ino;
    if (sscanf(key, "memfd:pid=%*d,fd=%d,ino=%llu", &fd, &ino) != 2) {
        harness_fail(__FILE__, __LINE__, "memfd key \"%s\"", key);
        return;
    }
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        for (int i = 0; i < 4096; i++)
            if (i != fd)
                close(i);
        for (;;)
            pause();
    }
    shmlib_destroy(key); /* from now on only the child holds it */
    if (pid < 0)
        return;
    holder_pid = pid;
    other_seg = MAXSEG - 1;
    struct seg *g = &segs[other_seg];
    memset(g, 0, sizeof *g);
    g->used = 3;
    g->memfd = 2;
    g->ino = ino;
    g->size = 8192;
    g->mode = 0600;
    g->prod = g->cons = -1;
    g->shmid = -1;
    snprintf(g->key, sizeof g->key, "memfd:pid=%d,fd=%d,ino=%llu", (int)pid, fd, ino);
}

static void stop_holder(void)
{
    if (holder_pid <= 0)
        return;
    kill(holder_pid, SIGKILL);
    int status;
    waitpid(holder_pid, &status, 0);
    memset(&segs[other_seg], 0, sizeof segs[other_seg]);
    other_seg = -1;
}

/* ------------------------------------------------------------------ probes */

/*
 * What happens when an output faults after the library has acted. Each
 * probe sets things up with plain calls, makes the faulting call, and then
 * checks that the library's state is as if the call had not been made:
 * "On error nothing is left mapped" (attach), outputs are written only on
 * success, an error does not consume or hold a message, an end is not left
 * taken. Each failure names the fix-worthy behaviour.
 */
static int probe_rc(const char *what, int rc, int want)
{
    char m[600];
    read_last_error(m, sizeof m);
    return CHECKF(rc == want, "probe: %s returned %d %s, want %s (%s)", what, rc,
                  harness_code_name(rc), harness_code_name(want), m);
}

static void probe_chan(char *key, shmlib_chan_t *p, shmlib_chan_t *c, const char *tag)
{
    char want[SHMLIB_KEY_MAX];
    snprintf(want, sizeof want, "posix:/%s-probe-%s", prefix, tag);
    *p = *c = 0;
    if (!probe_rc("chan_create", shmlib_chan_create(want, 4096, 0600, 0, key, SHMLIB_KEY_MAX), 0))
        return;
    probe_rc("chan_open producer", shmlib_chan_open(key, SHMLIB_CHAN_PRODUCER, p), 0);
    probe_rc("chan_open consumer", shmlib_chan_open(key, SHMLIB_CHAN_CONSUMER, c), 0);
}

static void probe_chan_done(const char *key, shmlib_chan_t p, shmlib_chan_t c)
{
    if (p)
        shmlib_chan_close(p);
    if (c)
        shmlib_chan_close(c);
    shmlib_destroy(key);
}

static void run_probes(void)
{
    char key[SHMLIB_KEY_MAX], want[SHMLIB_KEY_MAX];
    int rc, maps0 = stress_count_shm_mappings();

    /* 1. attach with an output that faults: nothing may stay mapped. */
    snprintf(want, sizeof want, "posix:/%s-probe-seg", prefix);
    if (probe_rc("create", shmlib_create(want, 4096, 0600, 0, key, sizeof key), 0)) {
        void *addr = (void *)0x1234;
        rc = shmlib_attach(key, NULL, 0, (void **)none_page, NULL);
        probe_rc("attach(out_addr PROT_NONE)", rc, SHMLIB_EFAULT);
        int left = stress_count_shm_mappings() - maps0;
        if (!CHECKF(left == 0, "probe: attach(out_addr PROT_NONE) failed with %d but left %d mapping(s) "
                    "(the header: \"On error nothing is left mapped\")", rc, left))
            probe_attach_leak = 1;
        for (unsigned char *a; (a = unknown_mapping()) != NULL;)
            if (shmlib_detach(a) != 0)
                break;
        rc = shmlib_attach(key, NULL, 0, &addr, (uint64_t *)none_page);
        probe_rc("attach(out_size PROT_NONE)", rc, SHMLIB_EFAULT);
        left = stress_count_shm_mappings() - maps0;
        if (!CHECKF(left == 0 && addr == (void *)0x1234,
                    "probe: attach(out_size PROT_NONE) failed with %d but left %d mapping(s)%s", rc, left,
                    addr != (void *)0x1234 ? " and wrote out_addr" : ""))
            probe_attach_leak = 1;
        for (unsigned char *a; (a = unknown_mapping()) != NULL;)
            if (shmlib_detach(a) != 0)
                break;
        /* 2. create with an unwritable out_key leaves nothing. */
        shmlib_stat_t st;
        shmlib_destroy(key);
        rc = shmlib_create(want, 4096, 0600, 0, (char *)none_page, SHMLIB_KEY_MAX);
        probe_rc("create(out_key PROT_NONE)", rc, SHMLIB_EFAULT);
        CHECKF(shmlib_stat(want, &st) == SHMLIB_ENOENT, "probe: create(out_key PROT_NONE) left %s", want);
        shmlib_destroy(want);
        rc = shmlib_chan_create(want, 4096, 0600, 0, (char *)none_page, SHMLIB_KEY_MAX);
        probe_rc("chan_create(out_key PROT_NONE)", rc, SHMLIB_EFAULT);
        CHECKF(shmlib_stat(want, &st) == SHMLIB_ENOENT, "probe: chan_create(out_key PROT_NONE) left %s", want);
        shmlib_destroy(want);
    }

    /* 3. chan_open with an unwritable out_chan: the end must stay free. */
    shmlib_chan_t p, c, q = 0;
    probe_chan(key, &p, &c, "open");
    if (c) {
        shmlib_chan_close(c);
        rc = shmlib_chan_open(key, SHMLIB_CHAN_CONSUMER, (shmlib_chan_t *)none_page);
        probe_rc("chan_open(out_chan PROT_NONE)", rc, SHMLIB_EFAULT);
        rc = shmlib_chan_open(key, SHMLIB_CHAN_CONSUMER, &q);
        if (!CHECKF(rc == 0, "probe: after chan_open(out_chan PROT_NONE) failed, the consumer end is "
                    "still taken: open gives %d %s (an end and a mapping leaked)", rc, harness_code_name(rc))) {
            probe_open_leak = 1;
            /* The leaked handle is the next number after p. */
            shmlib_chan_close(p + 2);
        }
        c = q;
    }
    probe_chan_done(key, p, c);

    /* 4. send from unreadable memory: the producer must stay usable. */
    probe_chan(key, &p, &c, "send");
    if (p && c) {
        probe_rc("chan_send(buf PROT_NONE)", shmlib_chan_send(p, none_page, 100, 0), SHMLIB_EFAULT);
        rc = shmlib_chan_send(p, "after", 5, 0);
        CHECKF(rc == 0, "probe: after chan_send(buf PROT_NONE) failed, the next send gives %d %s (%s): "
               "the failed send left its reservation pending", rc, harness_code_name(rc), harness_last_error());
        /* 5. reserve with an unwritable out_ptr: no reservation may stay. */
        probe_rc("chan_reserve(out_ptr PROT_NONE)", shmlib_chan_reserve(q = p, 10, 0, (void **)none_page),
                 rc == 0 ? SHMLIB_EFAULT : SHMLIB_EINVAL);
        if (rc == 0) {
            rc = shmlib_chan_send(p, "after", 5, 0);
            CHECKF(rc == 0, "probe: after chan_reserve(out_ptr PROT_NONE) failed, the next send gives %d %s "
                   "(%s): an invisible reservation is pending", rc, harness_code_name(rc), harness_last_error());
        }
    }
    probe_chan_done(key, p, c);

    /* 6. recv/peek with outputs that fault: no message lost or held. */
    static const char *const what[] = {
        "chan_recv(buf PROT_NONE)", "chan_recv(buf read-only)", "chan_recv(out_len PROT_NONE)",
        "chan_peek(out_ptr PROT_NONE)", "chan_peek(out_len PROT_NONE)",
    };
    for (int i = 0; i < 5; i++) {
        probe_chan(key, &p, &c, "recv");
        if (!p || !c) {
            probe_chan_done(key, p, c);
            continue;
        }
        shmlib_chan_send(p, "first", 5, 0);
        shmlib_chan_send(p, "second", 6, 0);
        size_t len = 0;
        const void *ptr = NULL;
        char buf[64];
        switch (i) {
        case 0: rc = shmlib_chan_recv(c, none_page, 64, &len, 0); break;
        case 1: rc = shmlib_chan_recv(c, ro_page, 64, &len, 0); break;
        case 2: rc = shmlib_chan_recv(c, buf, 64, (size_t *)none_page, 0); break;
        case 3: rc = shmlib_chan_peek(c, 0, (const void **)none_page, &len); break;
        default: rc = shmlib_chan_peek(c, 0, &ptr, (size_t *)none_page); break;
        }
        probe_rc(what[i], rc, SHMLIB_EFAULT);
        CHECKF(ptr == NULL, "probe: %s failed but wrote out_ptr (outputs are written only on success)", what[i]);
        memset(buf, 0, sizeof buf);
        len = 0;
        rc = shmlib_chan_recv(c, buf, sizeof buf, &len, 0);
        char m[600];
        read_last_error(m, sizeof m);
        CHECKF(rc == 0 && len == 5 && memcmp(buf, "first", 5) == 0,
               "probe: after %s failed, recv gives %d %s, \"%.*s\" (%s): want the same message, \"first\"%s",
               what[i], rc, harness_code_name(rc), (int)(len < 64 ? len : 0), buf, m,
               rc == SHMLIB_EINVAL ? " (it is held by the failed call)"
               : rc == 0 ? " (the failed call consumed it)" : "");
        probe_chan_done(key, p, c);
    }

    /* 7. shmlib_detach of a channel's own mapping: the header allows only
     * mappings made by shmlib_attach. */
    probe_chan(key, &p, &c, "detach");
    if (p) {
        unsigned char *start = NULL;
        uintptr_t starts[64];
        int n = shm_starts(starts, 64);
        for (int i = 0; i < n; i++)
            start = (unsigned char *)starts[i]; /* one of the two ends' mappings */
        rc = start ? shmlib_detach(start) : SHMLIB_ENOTATTACHED;
        if (!CHECKF(rc == SHMLIB_ENOTATTACHED,
                    "probe: shmlib_detach(%p), the start of a channel end's own mapping, returned %d %s: it "
                    "unmapped the channel under its handle (the header: SHMLIB_ENOTATTACHED unless made by "
                    "shmlib_attach)", (void *)start, rc, harness_code_name(rc))) {
            /* The end whose memory went: its calls now fault. */
            int r1 = shmlib_chan_send(p, "x", 1, 0), r2 = shmlib_chan_close(p);
            printf("probe: after that, send on the producer gives %d %s, close gives %d %s\n", r1,
                   harness_code_name(r1), r2, harness_code_name(r2));
            if (r2 == 0)
                p = 0;
        }
    }
    probe_chan_done(key, p, c);

    /* 8. Unterminated keys before a PROT_NONE page. The header promises
     * nothing; the library scans at most 4096 bytes. */
    int codes[3];
    size_t lens[3] = {100, 4095, 4096};
    for (int i = 0; i < 3; i++) {
        char *start = (char *)keybuf + KEYBUF_LEN - lens[i];
        memset(start, 'u', lens[i]);
        shmlib_stat_t st;
        codes[i] = shmlib_stat(start, &st);
        CHECKF(codes[i] == SHMLIB_EFAULT || codes[i] == SHMLIB_EINVAL,
               "probe: stat of an unterminated %zu-byte key returned %d %s", lens[i], codes[i],
               harness_code_name(codes[i]));
    }
    printf("probe: unterminated key before a PROT_NONE page: %zu bytes -> %s, %zu -> %s, %zu -> %s "
           "(shmlib.h promises neither)\n", lens[0], harness_code_name(codes[0]), lens[1],
           harness_code_name(codes[1]), lens[2], harness_code_name(codes[2]));

    /* 9. shmlib_last_error runs in C, outside the Go fault guard: an
     * unwritable buffer. Tried in a forked child, where it works. */
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        shmlib_last_error((char *)none_page, 64);
        _exit(0);
    }
    int status = 0;
    stress_wait_timeout(pid, 5000000000ll, &status);
    printf("probe: shmlib_last_error(PROT_NONE buffer) %s (shmlib.h promises nothing for bad "
           "pointers; not counted)\n",
           WIFSIGNALED(status) ? (WTERMSIG(status) == SIGSEGV ? "crashes the process with SIGSEGV"
                                                              : "kills the process")
                               : "returns");

    /* 10. ftok of a path whose parent is a file: "no such file", or at
     * least a code its Errors: list names. */
    rc = shmlib_ftok("/etc/passwd/x", 1, key, sizeof key);
    char m[600];
    read_last_error(m, sizeof m);
    CHECKF(rc == SHMLIB_ENOENT || rc == SHMLIB_EINVAL || rc == SHMLIB_EACCES,
           "probe: ftok(\"/etc/passwd/x\") (stat fails with ENOTDIR) returned %d %s (%s): not in "
           "shmlib_ftok's Errors: list", rc, harness_code_name(rc), m);

    /* 11. A System V attach with a hint (no SHMLIB_FIXED) the kernel cannot
     * use must go elsewhere, as POSIX attaches do. 12. By shmid, with
     * SHMLIB_FIXED at a taken address: the range is the problem, not the
     * segment. */
    if (probe_rc("create sysv:", shmlib_create("sysv:", 4096, 0600, 0, key, sizeof key), 0)) {
        void *a = NULL;
        rc = shmlib_attach(key, (void *)0xffff800000000000ull, 0, &a, NULL);
        read_last_error(m, sizeof m);
        if (CHECKF(rc == 0, "probe: System V attach with the hint 0xffff800000000000 and no SHMLIB_FIXED "
                   "returned %d %s (%s); the header: the segment goes elsewhere", rc,
                   harness_code_name(rc), m))
            shmlib_detach(a);
        shmlib_stat_t st;
        char byid[64];
        shmlib_stat(key, &st);
        snprintf(byid, sizeof byid, "sysv:id=%d", st.shmid);
        rc = shmlib_attach(byid, outbuf, SHMLIB_FIXED, &a, NULL);
        read_last_error(m, sizeof m);
        if (!CHECKF(rc == SHMLIB_EINVAL, "probe: attach(\"%s\", a taken address, SHMLIB_FIXED) returned %d "
                    "%s (%s); by key it is SHMLIB_EINVAL, as the header says", byid, rc,
                    harness_code_name(rc), m) && rc == 0)
            shmlib_detach(a);
        shmlib_destroy(key);
    }

    /* 13. Lengths and pointers that would run past the end of the address
     * space: the library's own slices must not panic (SHMLIB_EINTERNAL is
     * "a bug in libshm"). */
    char *top = (char *)(uintptr_t)-16;
    snprintf(want, sizeof want, "posix:/%s-probe-top", prefix);
    rc = shmlib_create(want, 4096, 0600, 0, top, SHMLIB_KEY_MAX);
    read_last_error(m, sizeof m);
    CHECKF(rc != SHMLIB_EINTERNAL, "probe: create(out_key=%p, 272) returned %s (%s)", (void *)top,
           harness_code_name(rc), m);
    shmlib_destroy(want);
    rc = shmlib_ftok("/", 1, top, SHMLIB_KEY_MAX);
    read_last_error(m, sizeof m);
    CHECKF(rc != SHMLIB_EINTERNAL, "probe: ftok(\"/\", 1, out_key=%p, 272) returned %s (%s)", (void *)top,
           harness_code_name(rc), m);
    probe_chan(key, &p, &c, "huge");
    if (p && c) {
        size_t len = 0;
        rc = shmlib_chan_send(p, bigbuf, SIZE_MAX, 0);
        read_last_error(m, sizeof m);
        CHECKF(rc == SHMLIB_EMSGSIZE, "probe: chan_send(len SIZE_MAX) returned %d %s (%s), want SHMLIB_EMSGSIZE",
               rc, harness_code_name(rc), m);
        rc = shmlib_chan_send(c, bigbuf, SIZE_MAX, 0);
        read_last_error(m, sizeof m);
        CHECKF(rc == SHMLIB_EINVAL, "probe: chan_send(a consumer handle, len SIZE_MAX) returned %d %s (%s), "
               "want SHMLIB_EINVAL", rc, harness_code_name(rc), m);
        shmlib_chan_send(p, "x", 1, 0);
        rc = shmlib_chan_recv(c, bigbuf, SIZE_MAX, &len, 0);
        read_last_error(m, sizeof m);
        CHECKF(rc == 0 && len == 1, "probe: chan_recv(cap SIZE_MAX) of a 1-byte message returned %d %s (%s), "
               "want 0", rc, harness_code_name(rc), m);
    }
    probe_chan_done(key, p, c);
    CHECKF(maps0 == stress_count_shm_mappings(), "probe: %d mappings left by the probes",
           stress_count_shm_mappings() - maps0);
}


/* memfd probes. 14: a memfd key kept past its destroy names nothing, also
 * when its descriptor number holds a new memfd. 15: shmlib_memfd_recv with
 * an out_key that faults must leave the message on the socket (shmlib.h,
 * ERRORS: "out-parameters are checked before the call changes anything ...
 * no lost message"). */
static void run_memfd_probes(void)
{
    char a[SHMLIB_KEY_MAX], b[SHMLIB_KEY_MAX], m[600];
    int fds0 = harness_count_fds();
    if (probe_rc("create memfd:", shmlib_create("memfd:", 4096, 0600, 0, a, sizeof a), 0)) {
        probe_rc("destroy memfd", shmlib_destroy(a), 0);
        if (probe_rc("create memfd: again", shmlib_create("memfd:", 4096, 0600, 0, b, sizeof b), 0)) {
            int fa = -1, fb = -2;
            sscanf(a, "memfd:pid=%*d,fd=%d", &fa);
            sscanf(b, "memfd:pid=%*d,fd=%d", &fb);
            void *addr = NULL;
            shmlib_stat_t st;
            int sv[2] = {-1, -1};
            socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv);
            int r1 = shmlib_attach(a, NULL, 0, &addr, NULL), r2 = shmlib_stat(a, &st), r3 = shmlib_destroy(a),
                r4 = shmlib_memfd_send(sv[0], a);
            read_last_error(m, sizeof m);
            CHECKF(r1 == SHMLIB_ENOENT && r2 == SHMLIB_ENOENT && r3 == SHMLIB_ENOENT && r4 == SHMLIB_EINVAL,
                   "probe: the destroyed %s (descriptor %s by %s): attach %d, stat %d, destroy %d, memfd_send %d; "
                   "want ENOENT, ENOENT, ENOENT, EINVAL (%s)", a, fa == fb ? "reused" : "not reused", b, r1, r2,
                   r3, r4, m);
            if (r1 == 0)
                shmlib_detach(addr);
            CHECKF(shmlib_stat(b, &st) == 0, "probe: %s is gone after calls with the stale key %s", b, a);
            if (fa != fb)
                printf("probe: the descriptor of a destroyed memfd was not reused (%d, then %d)\n", fa, fb);
            /* 15 */
            size_t n = 0;
            if (probe_rc("memfd_send", shmlib_memfd_send(sv[0], b), 0)) {
                int rc = shmlib_memfd_recv(sv[1], (char *)none_page, SHMLIB_KEY_MAX);
                read_last_error(m, sizeof m);
                probe_rc("memfd_recv(out_key PROT_NONE)", rc, SHMLIB_EFAULT);
                int left = inq(sv[1]);
                if (!CHECKF(left == 1, "probe: memfd_recv(out_key PROT_NONE) returned %d %s (%s) and took the "
                            "memfd off the socket (%d bytes left, want 1): the segment sent is lost, although "
                            "out-parameters are checked before the call changes anything (shmlib.h, ERRORS)",
                            rc, harness_code_name(rc), m, left))
                    probe_recv_lost = 1;
                if (left == 1) {
                    rc = shmlib_memfd_recv(sv[1], a, sizeof a);
                    if (probe_rc("memfd_recv after", rc, 0))
                        shmlib_destroy(a);
                }
                (void)n;
            }
            close(sv[0]);
            close(sv[1]);
            shmlib_destroy(b);
        }
    }
    CHECKF(harness_count_fds() == fds0, "probe: the memfd probes leave %d descriptors", harness_count_fds() - fds0);

    /* 16. shmlib_reap with out_items or out_count at address 8 (as any
     * wild pointer: "SHMLIB_EFAULT instead of a crash"), in a child
     * process of its own (this program exec'd with --probe-reap-wild),
     * since what happens may be a crash. */
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 1);
        dup2(null, 2);
        execl("/proc/self/exe", "adversarial", "--probe-reap-wild", (char *)NULL);
        _exit(127);
    }
    int status = 0;
    if (pid > 0 && stress_wait_timeout(pid, 60000000000ll, &status) != 0) {
        harness_fail(__FILE__, __LINE__, "probe: shmlib_reap with pointers at address 8 hangs");
        probe_reap_crash = 1;
    } else if (!CHECKF(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                     "probe: shmlib_reap(0, (shmlib_stat_t *)8, 1, &n) and shmlib_reap(0, NULL, 0, (size_t *)8), "
                     "2000 times each, %s %d, want SHMLIB_EFAULT (the Go runtime aborts: \"runtime: bad pointer "
                     "in frame ... shmlib_go_reap ...: 0x8\", \"fatal error: invalid pointer found on stack\"; "
                     "a pointer below 4096 in a Go pointer variable when the collector scans the stack)",
                     WIFSIGNALED(status) ? "was killed by signal" : "exited with",
                     WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status)))
        probe_reap_crash = 1;
}

/* --------------------------------------------------------------- the run */

static void cleanup(void)
{
    for (int i = 0; i < MAXHND; i++)
        if (hnds[i].used)
            close_slot(i);
    for (int i = 0; i < MAXMAP; i++)
        if (maps[i].used) {
            begin(F_DETACH);
            describe("shmlib_detach(%p) [cleanup]", (void *)maps[i].addr);
            check(shmlib_detach(maps[i].addr), B(0), 0);
            maps[i].used = 0;
        }
    for (int i = 0; i < MAXSEG; i++)
        if (segs[i].used == 1) {
            begin(F_DESTROY);
            describe("shmlib_destroy(%s) [cleanup]", segs[i].key);
            check(shmlib_destroy(segs[i].key), B(0), 0);
            free(segs[i].q);
            memset(&segs[i], 0, sizeof segs[i]);
        } else if (segs[i].used == 2) {
            free(segs[i].q);
            memset(&segs[i], 0, sizeof segs[i]);
        }
    /* What is in flight goes with the sockets. */
    for (int p = 0; p < NPAIR; p++)
        for (int e = 0; e < 2; e++)
            if (pairs[p].used && pairs[p].open[e])
                pair_close_end(p, e);
}

static void one_call(void)
{
    static int total;
    if (total == 0)
        for (int i = 0; i < NFN; i++)
            total += fn_weight[i];
    int r = (int)stress_below(&rng, (uint64_t)total), f = 0;
    while (r >= fn_weight[f])
        r -= fn_weight[f++];
    switch (f) {
    case F_VERSION: call_version(); break;
    case F_VERSION_STRING: call_version_string(); break;
    case F_STRERROR: call_strerror(); break;
    case F_LAST_ERROR: call_last_error(); break;
    case F_FTOK: call_ftok(); break;
    case F_CREATE: call_create(0); break;
    case F_ATTACH: call_attach(); break;
    case F_DETACH: call_detach(); break;
    case F_DESTROY: call_destroy(); break;
    case F_STAT: call_stat(); break;
    case F_LIST: call_list(); break;
    case F_CHAN_CREATE: call_create(1); break;
    case F_CHAN_OPEN: call_chan_open(); break;
    case F_CHAN_CLOSE: call_chan_close(); break;
    case F_CHAN_MAX: call_chan_max(); break;
    case F_CHAN_SEND: call_chan_send(0); break;
    case F_CHAN_RESERVE: call_chan_send(1); break;
    case F_CHAN_COMMIT: call_chan_commit(); break;
    case F_CHAN_RECV: call_chan_recv(0); break;
    case F_CHAN_PEEK: call_chan_recv(1); break;
    case F_CHAN_RELEASE: call_chan_release(); break;
    case F_MEMFD_SEND: call_memfd_send(); break;
    case F_MEMFD_RECV: call_memfd_recv(); break;
    case F_REAP: call_reap(); break;
    case F_CHAN_HANDOVER: call_chan_handover(); break;
    case F_KEY_NORMALIZE: call_key_normalize(); break;
    }
    /* Helper calls made after the checked one (a stat for a new segment's
     * id, the recovery after a fault) may have set the last error. */
    read_last_error(last_msg, sizeof last_msg);
}

static void *watchdog(void *arg)
{
    (void)arg;
    long last = -1;
    int still = 0;
    for (;;) {
        sleep(1);
        long now = atomic_load(&progress);
        still = now == last ? still + 1 : 0;
        last = now;
        if (still >= 20) {
            char msg[1400];
            int n = snprintf(msg, sizeof msg,
                             "FAIL adversarial: HANG: no call returned for 20 s; in call #%ld: %.1200s\n"
                             "%d passed, %d failed\n",
                             call_no, desc, harness_passed, harness_failed + 1);
            ssize_t w = write(STDOUT_FILENO, msg, (size_t)n);
            (void)w;
            _exit(3);
        }
    }
    return NULL;
}

static void on_alarm(int sig)
{
    (void)sig;
    char msg[1400];
    int n = snprintf(msg, sizeof msg,
                     "FAIL adversarial: the overall alarm went off in call #%ld: %.1200s\n%d passed, %d failed\n",
                     call_no, desc, harness_passed, harness_failed + 1);
    ssize_t w = write(STDOUT_FILENO, msg, (size_t)n);
    (void)w;
    _exit(4);
}

static void *map_pages(size_t len, int prot)
{
    void *p = mmap(NULL, len, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        perror("mmap");
        exit(1);
    }
    return p;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc == 2 && strcmp(argv[1], "--probe-reap-wild") == 0) { /* see probe 16 */
        size_t n;
        for (int i = 0; i < 2000; i++) {
            int r1 = shmlib_reap(0, (shmlib_stat_t *)8, 1, &n), r2 = shmlib_reap(0, NULL, 0, (size_t *)8);
            if ((r1 != 0 && r1 != SHMLIB_EFAULT) || r2 != SHMLIB_EFAULT)
                return 1;
        }
        return 0;
    }
    stress_isolate(&argc, argv, "1g", 256ull << 20);
    uint64_t seed = stress_fresh_seed();
    unsigned alarm_s = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0)
            ncalls = 50000;
        else if (strcmp(argv[i], "--calls") == 0 && i + 1 < argc)
            ncalls = stress_parse_count(argv[++i]);
        else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc)
            seed = strtoull(argv[++i], NULL, 0);
        else if (strcmp(argv[i], "--trace-from") == 0 && i + 1 < argc)
            trace_from = stress_parse_count(argv[++i]);
        else if (strcmp(argv[i], "--alarm") == 0 && i + 1 < argc)
            alarm_s = (unsigned)atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: %s [--quick] [--calls N] [--seed N] [--trace-from N] [--alarm S] [--no-isolate]\n",
                    argv[0]);
            return 2;
        }
    }
    if (alarm_s == 0)
        alarm_s = (unsigned)(60 + ncalls / 2000);
    rng = seed;
    root = geteuid() == 0;
    page = (size_t)sysconf(_SC_PAGESIZE);
    snprintf(prefix, sizeof prefix, "libshm-stress-adv-%d", (int)getpid());
    init_documented();
    stress_say_where();
    printf("adversarial: %ld calls, seed %" PRIu64 " (replay: --seed %" PRIu64 " --calls %ld), alarm %u s\n",
           ncalls, seed, seed, ncalls, alarm_s);

    none_page = map_pages(page, PROT_NONE);
    ro_page = map_pages(page, PROT_READ);
    hole_now();
    keybuf = map_pages(KEYBUF_LEN + page, PROT_READ | PROT_WRITE);
    mprotect(keybuf + KEYBUF_LEN, page, PROT_NONE);
    outbuf = map_pages(OUTBUF_LEN, PROT_READ | PROT_WRITE);
    bigbuf = map_pages(BIGBUF_LEN, PROT_READ | PROT_WRITE);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sa.sa_flags = SA_ONSTACK;
    sigaction(SIGALRM, &sa, NULL);
    alarm(alarm_s);
    pthread_t wd;
    pthread_create(&wd, NULL, watchdog, NULL);

    /* One of everything first: the Go runtime opens descriptors of its own
     * on first use (its poller), which are no leak. */
    {
        char k[SHMLIB_KEY_MAX];
        void *a;
        if (shmlib_create("sysv:", 4096, 0, 0, k, sizeof k) == 0) {
            if (shmlib_attach(k, NULL, 0, &a, NULL) == 0)
                shmlib_detach(a);
            shmlib_destroy(k);
        }
        if (shmlib_create(NULL, 4096, 0, 0, k, sizeof k) == 0)
            shmlib_destroy(k);
        size_t n;
        shmlib_list(NULL, 0, &n);
        int sv[2];
        if (shmlib_create("memfd:", 4096, 0, 0, k, sizeof k) == 0) {
            if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0) {
                if (shmlib_memfd_send(sv[0], k) == 0 && shmlib_memfd_recv(sv[1], k + 100, sizeof k - 100) == 0)
                    shmlib_destroy(k + 100);
                close(sv[0]);
                close(sv[1]);
            }
            shmlib_destroy(k);
        }
        shmlib_reap(0, NULL, 0, &n);
    }
    devnull_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (devnull_fd < 0 || pipe2(pipe_fds, O_CLOEXEC) != 0) {
        perror("open /dev/null, pipe");
        return 1;
    }
    start_holder();
    int maps0 = stress_count_shm_mappings(), fds0 = harness_count_fds(), mfd0 = count_memfd_mappings();

    int64_t t0 = stress_now_ns();
    run_probes();
    run_memfd_probes();
    double probe_s = (double)(stress_now_ns() - t0) / 1e9;
    read_last_error(last_msg, sizeof last_msg);

    t0 = stress_now_ns();
    for (call_no = 1; call_no <= ncalls; call_no++)
        one_call();
    double secs = (double)(stress_now_ns() - t0) / 1e9;
    call_no = 0;
    cleanup();

    /* Leaks. */
    int maps1 = stress_count_shm_mappings(), fds1 = harness_count_fds(), mfd1 = count_memfd_mappings();
    CHECKF(maps1 == maps0, "leak: %d shared memory mappings before, %d after", maps0, maps1);
    CHECKF(mfd1 == mfd0, "leak: %d memfd mappings before, %d after", mfd0, mfd1);
    if (!CHECKF(fds1 == fds0, "leak: %d descriptors before, %d after", fds0, fds1))
        stress_show_fds("adversarial");
    struct stress_owner owner = {prefix, NULL, 0};
    int seg_leaks = stress_check_no_segments(&owner, "adversarial");
    stop_holder();
    close(devnull_fd);
    close(pipe_fds[0]);
    close(pipe_fds[1]);

    /* The summary. */
    long total = 0;
    for (int f = 0; f < NFN; f++)
        total += fn_calls[f];
    printf("adversarial: %ld calls in %.1f s (%.0f calls/s), probes %.2f s, seed %" PRIu64 "\n", total,
           secs, (double)total / secs, probe_s, seed);
    printf("  %-16s %8s  codes\n", "function", "calls");
    for (int f = 0; f < NFN; f++) {
        char line[1024];
        int n = snprintf(line, sizeof line, "  %-16s %8ld ", fn_name[f], fn_calls[f]);
        for (int c = 0; c < NCODES; c++)
            if (fn_codes[f][c])
                n += snprintf(line + n, sizeof line - (size_t)n, " %s %ld", code_short(c), fn_codes[f][c]);
        printf("%s\n", line);
    }
    {
        char line[1024];
        int n = snprintf(line, sizeof line, "  SHMLIB_EFAULT for an unreadable/unwritable pointer (in no \"Errors:\" list of shmlib.h):");
        long all = 0;
        for (int f = 0; f < NFN; f++)
            if (efault_badptr[f]) {
                n += snprintf(line + n, sizeof line - (size_t)n, " %s %ld", fn_name[f], efault_badptr[f]);
                all += efault_badptr[f];
            }
        printf("%s%s\n", line, all ? "" : " none");
    }
    printf("  violations:");
    for (int v = 0; v < NVKIND; v++)
        printf(" %s %ld%s", vkind_name[v], violations[v], v + 1 < NVKIND ? "," : "\n");
    {
        char line[2048];
        int n = snprintf(line, sizeof line, "  wrong codes by call:");
        for (int f = 0; f < NFN; f++)
            for (int c = 0; c < NCODES; c++)
                if (violations_code[f][c])
                    n += snprintf(line + n, sizeof line - (size_t)n, " %s %s %ld,", fn_name[f], code_short(c),
                                  violations_code[f][c]);
        line[n - 1] = line[n - 1] == ',' ? '\0' : line[n - 1];
        printf("%s%s\n", line, n == (int)strlen("  wrong codes by call:") ? " none" : "");
    }
    printf("  known fault bugs met in the random run: attach left a mapping %ld, chan_open left an end "
           "open %ld; ends closed after a fault %ld\n", bug_attach_leak, bug_open_leak, bug_tainted);
    printf("  made: %ld segments, %ld mappings, %ld channel ends; %ld messages checked\n",
           stat_segments_made, stat_mappings_made, stat_handles_made, stat_msgs_checked);
    printf("  memfds: %ld sent, %ld received; %ld messages sent with sendmsg that recv must refuse; "
           "memfd_recv lost a memfd on SHMLIB_EFAULT %ld times\n",
           stat_memfds_sent, stat_memfds_received, stat_injected, bug_recv_lost);
    printf("  leaks at the end: %d segments, %d mappings, %d descriptors\n", seg_leaks,
           maps1 - maps0 + mfd1 - mfd0, fds1 - fds0);
    return harness_finish();
}
