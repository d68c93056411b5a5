/*
 * peer.c - the C side of the peer protocol (tests/peers/PROTOCOL.md): runs
 * the script on its command line against libshm, one output line per
 * command. Built by tests/main_test.go with -lshm against include/shmlib.h.
 */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "shmlib.h"

enum { EXIT_USAGE = 2, EXIT_FAILED = 3, EXIT_MISMATCH = 4, EXIT_STDIN_EOF = 5, EXIT_NO_ERROR = 6 };

/* The current mapping: the last attach, detached or not. */
static unsigned char *mem;
static uint64_t mem_size;

/* The current channel end: the last one opened, closed or not. */
static shmlib_chan_t chan;

/* The timeout of the channel calls that wait (chan-timeout). */
static int64_t timeout_ns = SHMLIB_WAIT_FOREVER;

/* `expect CODE`: armed for the next command, expected while it runs. A
 * call that fails with the expected code prints "failed", and the script
 * goes on with the command after, through recover. */
static int armed, expected;
static jmp_buf recover;

static void usage(const char *fmt, const char *arg)
{
    fprintf(stderr, "peer: ");
    fprintf(stderr, fmt, arg);
    fputc('\n', stderr);
    exit(EXIT_USAGE);
}

/* Prints "error CODE MESSAGE" for a failed call and ends the script; or,
 * if the command was expected to fail with that code, prints
 * "failed CODE MESSAGE" and goes on with the next command. */
static void check(int rc)
{
    if (rc >= 0)
        return;
    char msg[512];
    shmlib_last_error(msg, sizeof msg);
    if (expected != 0 && rc == expected) {
        printf("failed %d %s\n", rc, msg);
        longjmp(recover, 1);
    }
    printf("error %d %s\n", rc, msg);
    exit(EXIT_FAILED);
}

static long long number(const char *s, long long lo, long long hi)
{
    char *end;
    errno = 0;
    long long n = strtoll(s, &end, 10);
    if (errno || end == s || *end || n < lo || n > hi)
        usage("not a number in range: %s", s);
    return n;
}

/* A recipe "SEED+N1+N2...": pattern(SEED), then step(N1), step(N2)... */
struct recipe {
    unsigned char seed;
    int nsteps;
    unsigned char steps[32];
};

static struct recipe parse_recipe(const char *s)
{
    struct recipe r = {0};
    char buf[256];
    snprintf(buf, sizeof buf, "%s", s);
    char *save = NULL;
    for (char *f = strtok_r(buf, "+", &save); f; f = strtok_r(NULL, "+", &save)) {
        unsigned char n = (unsigned char)number(f, 0, 255);
        if (f == buf)
            r.seed = n;
        else if (r.nsteps < (int)sizeof r.steps)
            r.steps[r.nsteps++] = n;
        else
            usage("too many steps in %s", s);
    }
    return r;
}

static unsigned char step(unsigned char b, unsigned char n) { return (unsigned char)(b * 3 + n); }

static unsigned char recipe_at(const struct recipe *r, uint64_t i)
{
    unsigned char b = (unsigned char)(r->seed + i * 31);
    for (int k = 0; k < r->nsteps; k++)
        b = step(b, r->steps[k]);
    return b;
}

static void need_mapping(void)
{
    if (mem == NULL)
        usage("%s", "no mapping: attach first");
}

static void fill(unsigned char *buf, uint64_t len, const struct recipe *r)
{
    for (uint64_t i = 0; i < len; i++)
        buf[i] = recipe_at(r, i);
}

/* The first offset of buf that differs from the recipe, or -1. The recipe
 * has period 256, so one table serves the whole buffer. */
static long long differs(const unsigned char *buf, uint64_t len, const struct recipe *r)
{
    unsigned char period[256];
    for (int i = 0; i < 256; i++)
        period[i] = recipe_at(r, (uint64_t)i);
    for (uint64_t i = 0; i < len; i++)
        if (buf[i] != period[i & 0xff])
            return (long long)i;
    return -1;
}

static long long mismatch(const struct recipe *r) { return differs(mem, mem_size, r); }

/* Checks a received message against the recipe; a difference ends the
 * script. */
static void check_message(const unsigned char *msg, size_t len, const struct recipe *r)
{
    long long bad = differs(msg, len, r);
    if (bad >= 0) {
        printf("mismatch %lld %d %d\n", bad, msg[bad], recipe_at(r, (uint64_t)bad));
        exit(EXIT_MISMATCH);
    }
}

static void need_chan(void)
{
    if (chan == 0)
        usage("%s", "no channel: chan-open first");
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (p == NULL) {
        perror("malloc");
        exit(EXIT_USAGE);
    }
    return p;
}

static uint64_t max_message(void)
{
    uint64_t n;
    check(shmlib_chan_max_message(chan, &n));
    return n;
}

/* Sends len bytes of the recipe's content: by copy, or written in place
 * between reserve and commit; commit 0 leaves it reserved. */
static void send_message(size_t len, const struct recipe *r, int by_copy, int commit)
{
    if (by_copy) {
        unsigned char *msg = xmalloc(len);
        fill(msg, len, r);
        int rc = shmlib_chan_send(chan, msg, len, timeout_ns);
        free(msg);
        check(rc);
        return;
    }
    void *slot;
    check(shmlib_chan_reserve(chan, len, timeout_ns, &slot));
    fill(slot, len, r);
    if (commit)
        check(shmlib_chan_commit(chan, len));
}

/* Takes the next message: in place (peek; the caller releases it) or by
 * copy into buf (cap bytes). Returns the library's code; *msg and *len on
 * success. */
static int take_next(int in_place, unsigned char *buf, size_t cap, const unsigned char **msg, size_t *len)
{
    if (in_place) {
        const void *p;
        int rc = shmlib_chan_peek(chan, timeout_ns, &p, len);
        *msg = p;
        return rc;
    }
    *msg = buf;
    return shmlib_chan_recv(chan, buf, cap, len, timeout_ns);
}

/* Message i of the stream SEED (PROTOCOL.md, "Streams"). */
static size_t stream_len(uint64_t i, uint64_t max)
{
    switch (i % 16) {
    case 0:
        return 0;
    case 1:
        return (size_t)max;
    }
    return (size_t)(i * 7919 % (max + 1));
}

static struct recipe stream_recipe(unsigned char seed, uint64_t i)
{
    struct recipe r = {0};
    r.seed = (unsigned char)(seed + i);
    return r;
}

static void stream(long long n, unsigned char seed)
{
    uint64_t max = max_message();
    unsigned long long total = 0;
    for (long long i = 0; i < n; i++) {
        struct recipe r = stream_recipe(seed, (uint64_t)i);
        size_t len = stream_len((uint64_t)i, max);
        send_message(len, &r, i % 2 == 0, 1);
        total += len;
    }
    printf("streamed %lld %llu\n", n, total);
}

static void drain(long long n, unsigned char seed)
{
    uint64_t max = max_message();
    unsigned char *buf = xmalloc(max);
    unsigned long long total = 0;
    for (long long i = 0; i < n; i++) {
        struct recipe r = stream_recipe(seed, (uint64_t)i);
        size_t want = stream_len((uint64_t)i, max);
        int in_place = i % 3 == 0;
        const unsigned char *msg;
        size_t len;
        check(take_next(in_place, buf, max, &msg, &len));
        if (len != want) {
            printf("mismatch message %lld length %zu %zu\n", i, len, want);
            exit(EXIT_MISMATCH);
        }
        long long bad = differs(msg, len, &r);
        if (bad >= 0) {
            printf("mismatch message %lld offset %lld %d %d\n", i, bad, msg[bad], recipe_at(&r, (uint64_t)bad));
            exit(EXIT_MISMATCH);
        }
        if (in_place)
            check(shmlib_chan_release(chan));
        total += len;
    }
    free(buf);
    printf("drained %lld %llu\n", n, total);
}

/* The array message of bindings/python/shmlib/framing.py, from its text:
 * little-endian; magic "LSHMARR", version 1, data offset D (u32, a multiple
 * of 16, at least 16 + 8*ndim + L), ndim (u16, 0..64), L (u16, 1..255),
 * the shape (u64 each), the dtype string, zero padding to D, then the
 * elements in C order: exactly D + nbytes bytes. */
enum { ARRAY_FIXED = 16, ARRAY_MAX_NDIM = 64 };

static uint64_t get_le(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static void put_le(unsigned char *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++, v >>= 8)
        p[i] = (unsigned char)v;
}

/* The element size of a plain numeric dtype string ("<u2", "|u1", ">f8"),
 * or 0 for any other. */
static size_t item_size(const char *dtype, size_t len)
{
    if (len < 3 || len > 8 || !strchr("<>|=", dtype[0]) || !strchr("biufc", dtype[1]))
        return 0;
    size_t n = 0;
    for (size_t i = 2; i < len; i++) {
        if (dtype[i] < '0' || dtype[i] > '9')
            return 0;
        n = n * 10 + (size_t)(dtype[i] - '0');
    }
    return n;
}

/* "3x5x7", or "-" for the shape (). Returns ndim. */
static int parse_shape(const char *s, uint64_t shape[ARRAY_MAX_NDIM])
{
    if (strcmp(s, "-") == 0)
        return 0;
    char buf[512];
    snprintf(buf, sizeof buf, "%s", s);
    int ndim = 0;
    char *save = NULL;
    for (char *f = strtok_r(buf, "x", &save); f; f = strtok_r(NULL, "x", &save)) {
        if (ndim == ARRAY_MAX_NDIM)
            usage("too many dimensions in %s", s);
        shape[ndim++] = (uint64_t)number(f, 0, INT64_MAX);
    }
    return ndim;
}

static void send_array(const char *dtype, const char *shape_text, const char *rs)
{
    uint64_t shape[ARRAY_MAX_NDIM];
    int ndim = parse_shape(shape_text, shape);
    size_t dlen = strlen(dtype), item = item_size(dtype, dlen);
    if (item == 0)
        usage("send-array: dtype %s is not a plain numeric one", dtype);
    size_t end = ARRAY_FIXED + 8 * (size_t)ndim + dlen;
    size_t offset = (end + 15) / 16 * 16;
    size_t nbytes = item;
    for (int i = 0; i < ndim; i++)
        nbytes *= shape[i];
    size_t size = offset + nbytes;
    struct recipe r = parse_recipe(rs);
    void *slot;
    check(shmlib_chan_reserve(chan, size, timeout_ns, &slot));
    unsigned char *m = slot;
    memset(m, 0, offset);
    memcpy(m, "LSHMARR", 7);
    m[7] = 1;
    put_le(m + 8, offset, 4);
    put_le(m + 12, (uint64_t)ndim, 2);
    put_le(m + 14, dlen, 2);
    for (int i = 0; i < ndim; i++)
        put_le(m + ARRAY_FIXED + 8 * i, shape[i], 8);
    memcpy(m + ARRAY_FIXED + 8 * ndim, dtype, dlen);
    fill(m + offset, nbytes, &r);
    check(shmlib_chan_commit(chan, size));
    printf("sent-array %zu\n", size);
}

static void bad_array(const char *why)
{
    printf("bad-array %s\n", why);
    exit(EXIT_MISMATCH);
}

/* Reads the next message in place as an array message, checks every rule
 * of the format and the element bytes against the recipe. */
static void recv_array(const char *rs)
{
    struct recipe r = parse_recipe(rs);
    const unsigned char *m;
    size_t len;
    check(take_next(1, NULL, 0, &m, &len));
    if (len < ARRAY_FIXED)
        bad_array("shorter than the 16-byte header");
    if (memcmp(m, "LSHMARR", 7) != 0 || m[7] != 1)
        bad_array("magic or version");
    size_t offset = (size_t)get_le(m + 8, 4);
    int ndim = (int)get_le(m + 12, 2);
    size_t dlen = (size_t)get_le(m + 14, 2);
    if (ndim > ARRAY_MAX_NDIM || dlen < 1 || dlen > 255)
        bad_array("ndim or dtype length");
    size_t end = ARRAY_FIXED + 8 * (size_t)ndim + dlen;
    if (offset % 16 != 0 || offset < end || offset > len)
        bad_array("data offset");
    char dtype[256];
    memcpy(dtype, m + end - dlen, dlen);
    dtype[dlen] = 0;
    size_t nbytes = item_size(dtype, dlen);
    if (nbytes == 0)
        bad_array("dtype not plain numeric");
    char shape[ARRAY_MAX_NDIM * 21 + 2] = "-";
    size_t at = 0;
    for (int i = 0; i < ndim; i++) {
        uint64_t n = get_le(m + ARRAY_FIXED + 8 * i, 8);
        nbytes *= n;
        at += (size_t)snprintf(shape + at, sizeof shape - at, "%s%llu", i ? "x" : "", (unsigned long long)n);
    }
    if (offset + nbytes != len)
        bad_array("the elements do not fill the message");
    long long bad = differs(m + offset, nbytes, &r);
    if (bad >= 0) {
        printf("mismatch %lld %d %d\n", bad, m[offset + bad], recipe_at(&r, (uint64_t)bad));
        exit(EXIT_MISMATCH);
    }
    check(shmlib_chan_release(chan));
    printf("received-array %s %s %zu\n", dtype, shape, len);
}

/* The child of fork-check: the inherited mapping works, the library
 * refuses every call with SHMLIB_EFORKED. The calls name the real segment,
 * so that one the guard let through would show (create: EEXIST, destroy:
 * the parent's next call fails). */
static void forked_child(const char *key, const struct recipe *r, const char *rs)
{
    long long bad = mismatch(r);
    if (bad >= 0)
        printf("forked mismatch %lld %d %d\n", bad, mem[bad], recipe_at(r, (uint64_t)bad));
    else
        printf("forked verified %s\n", rs);

    char out[SHMLIB_KEY_MAX];
    void *addr;
    shmlib_stat_t st;
    size_t count;
    printf("forked create %d\n", shmlib_create(key, mem_size, 0, 0, out, sizeof out));
    printf("forked attach %d\n", shmlib_attach(key, NULL, 0, &addr, NULL));
    printf("forked detach %d\n", shmlib_detach(mem));
    printf("forked destroy %d\n", shmlib_destroy(key));
    printf("forked stat %d\n", shmlib_stat(key, &st));
    printf("forked list %d\n", shmlib_list(NULL, 0, &count));
    printf("forked ftok %d\n", shmlib_ftok("/", 1, out, sizeof out));
    char msg[512];
    shmlib_last_error(msg, sizeof msg);
    printf("forked last-error %s\n", msg);
    fflush(stdout);
    _exit(0);
}

static void fork_check(const char *key, const char *rs)
{
    need_mapping();
    struct recipe r = parse_recipe(rs);
    fflush(stdout); /* or the child would print the parent's buffer again */
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        exit(EXIT_USAGE);
    }
    if (pid == 0)
        forked_child(key, &r, rs);
    int status;
    if (waitpid(pid, &status, 0) < 0) {
        perror("waitpid");
        exit(EXIT_USAGE);
    }
    printf("fork-child-exit %d\n", WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
}

static void layout(void)
{
#define OFF(f) #f, (unsigned)offsetof(shmlib_stat_t, f)
    printf("layout sizeof=%u %s=%u %s=%u %s=%u %s=%u %s=%u %s=%u %s=%u %s=%u %s=%u %s=%u %s=%u"
           " %s=%u %s=%u %s=%u %s=%u %s=%u %s=%u %s=%u %s=%u\n",
           (unsigned)sizeof(shmlib_stat_t), OFF(key), OFF(size), OFF(nattach), OFF(atime),
           OFF(dtime), OFF(ctime), OFF(backend), OFF(mode), OFF(uid), OFF(gid), OFF(cuid),
           OFF(cgid), OFF(cpid), OFF(lpid), OFF(shmid), OFF(ipc_key), OFF(flags),
           OFF(reserved0), OFF(reserved));
#undef OFF
}

static int listed(const char *key)
{
    size_t count = 0;
    check(shmlib_list(NULL, 0, &count));
    for (;;) {
        size_t cap = count + 8;
        shmlib_stat_t *items = calloc(cap, sizeof *items);
        if (items == NULL) {
            perror("calloc");
            exit(EXIT_USAGE);
        }
        int rc = shmlib_list(items, cap, &count);
        if (rc == SHMLIB_ERANGE) {
            free(items);
            continue;
        }
        check(rc);
        int found = 0;
        for (size_t i = 0; i < count; i++)
            found |= strcmp(items[i].key, key) == 0;
        free(items);
        return found;
    }
}

/* The key of the last "created" or "memfd-received" line: an argument "@"
 * stands for it, for keys that only exist once made (memfd:pid=P,fd=F,ino=I). */
static char last_key[SHMLIB_KEY_MAX];

static const char *key_arg(const char *arg)
{
    if (strcmp(arg, "@") != 0)
        return arg;
    if (last_key[0] == '\0')
        usage("%s: no key made yet", arg);
    return last_key;
}

/* Runs argv[i] with its arguments; returns the index of the next command. */
static int run(int argc, char **argv, int i)
{
    const char *cmd = argv[i];
#define ARG(n) key_arg(i + (n) < argc ? argv[i + (n)] : (usage("missing argument to %s", cmd), ""))
    if (strcmp(cmd, "create") == 0) {
        char key[SHMLIB_KEY_MAX];
        check(shmlib_create(ARG(1), (uint64_t)number(ARG(2), 0, INT64_MAX), 0600, 0, key, sizeof key));
        printf("created %s\n", key);
        snprintf(last_key, sizeof last_key, "%s", key);
        return i + 3;
    }
    if (strcmp(cmd, "attach") == 0 || strcmp(cmd, "attach-ro") == 0) {
        void *addr;
        uint64_t size;
        uint32_t flags = strcmp(cmd, "attach-ro") == 0 ? SHMLIB_RDONLY : 0;
        check(shmlib_attach(ARG(1), NULL, flags, &addr, &size));
        mem = addr;
        mem_size = size;
        printf("attached %llu\n", (unsigned long long)size);
        return i + 2;
    }
    if (strcmp(cmd, "write") == 0) {
        need_mapping();
        struct recipe r = parse_recipe(ARG(1));
        fill(mem, mem_size, &r);
        printf("wrote %s\n", ARG(1));
        return i + 2;
    }
    if (strcmp(cmd, "verify") == 0) {
        need_mapping();
        struct recipe r = parse_recipe(ARG(1));
        long long bad = mismatch(&r);
        if (bad >= 0) {
            printf("mismatch %lld %d %d\n", bad, mem[bad], recipe_at(&r, (uint64_t)bad));
            exit(EXIT_MISMATCH);
        }
        printf("verified %s\n", ARG(1));
        return i + 2;
    }
    if (strcmp(cmd, "step") == 0) {
        need_mapping();
        unsigned char n = (unsigned char)number(ARG(1), 0, 255);
        for (uint64_t k = 0; k < mem_size; k++)
            mem[k] = step(mem[k], n);
        printf("stepped %d\n", n);
        return i + 2;
    }
    if (strcmp(cmd, "detach") == 0) {
        need_mapping();
        check(shmlib_detach(mem));
        printf("detached\n");
        return i + 1;
    }
    if (strcmp(cmd, "destroy") == 0) {
        check(shmlib_destroy(ARG(1)));
        printf("destroyed\n");
        return i + 2;
    }
    if (strcmp(cmd, "stat") == 0) {
        shmlib_stat_t st;
        check(shmlib_stat(ARG(1), &st));
        printf("stat size=%llu nattach=%lld backend=%s\n", (unsigned long long)st.size,
               (long long)st.nattach, st.backend == SHMLIB_BACKEND_POSIX ? "posix"
                                      : st.backend == SHMLIB_BACKEND_SYSV  ? "sysv"
                                      : st.backend == SHMLIB_BACKEND_MEMFD ? "memfd" : "unknown");
        return i + 2;
    }
    if (strcmp(cmd, "memfd-send") == 0) {
        check(shmlib_memfd_send((int)number(ARG(1), 0, INT32_MAX), ARG(2)));
        printf("memfd-sent\n");
        return i + 3;
    }
    if (strcmp(cmd, "memfd-recv") == 0) {
        char key[SHMLIB_KEY_MAX];
        check(shmlib_memfd_recv((int)number(ARG(1), 0, INT32_MAX), key, sizeof key));
        printf("memfd-received %s\n", key);
        snprintf(last_key, sizeof last_key, "%s", key);
        return i + 2;
    }
    if (strcmp(cmd, "listed") == 0) {
        printf("listed %s\n", listed(ARG(1)) ? "yes" : "no");
        return i + 2;
    }
    if (strcmp(cmd, "ftok") == 0) {
        char key[SHMLIB_KEY_MAX];
        check(shmlib_ftok(ARG(1), (int)number(ARG(2), INT32_MIN, INT32_MAX), key, sizeof key));
        printf("ftok %s\n", key);
        return i + 3;
    }
    if (strcmp(cmd, "strerror") == 0) {
        int code = (int)number(ARG(1), INT32_MIN, INT32_MAX);
        printf("strerror %d %s\n", code, shmlib_strerror(code));
        return i + 2;
    }
    if (strcmp(cmd, "version") == 0) {
        printf("version %s\n", shmlib_version_string());
        return i + 1;
    }
    if (strcmp(cmd, "wait") == 0) {
        printf("waiting\n");
        if (getchar() == EOF)
            exit(EXIT_STDIN_EOF);
        while (getchar() != '\n')
            ;
        return i + 1;
    }
    if (strcmp(cmd, "poke") == 0) {
        need_mapping();
        printf("poking\n");
        ((volatile unsigned char *)mem)[0] ^= 0xff; /* faults if read-only */
        printf("poked\n");
        return i + 1;
    }
    if (strcmp(cmd, "fork-check") == 0) {
        fork_check(ARG(1), ARG(2));
        return i + 3;
    }
    if (strcmp(cmd, "chan-create") == 0) {
        char key[SHMLIB_KEY_MAX];
        check(shmlib_chan_create(ARG(1), (uint64_t)number(ARG(2), 0, INT64_MAX), 0600, 0, key, sizeof key));
        printf("created %s\n", key);
        snprintf(last_key, sizeof last_key, "%s", key);
        return i + 3;
    }
    if (strcmp(cmd, "chan-open") == 0) {
        int end = strcmp(ARG(2), "producer") == 0   ? SHMLIB_CHAN_PRODUCER
                  : strcmp(ARG(2), "consumer") == 0 ? SHMLIB_CHAN_CONSUMER
                                                    : (usage("chan-open: end %s", ARG(2)), 0);
        shmlib_chan_t opened;
        check(shmlib_chan_open(ARG(1), end, &opened));
        chan = opened;
        printf("opened %s\n", ARG(2));
        return i + 3;
    }
    if (strcmp(cmd, "bcast-create") == 0) {
        char key[SHMLIB_KEY_MAX];
        uint32_t flags = strcmp(ARG(4), "overwrite") == 0  ? SHMLIB_BCAST_OVERWRITE
                         : strcmp(ARG(4), "lossless") == 0 ? 0
                                                           : (usage("bcast-create: policy %s", ARG(4)), 0);
        check(shmlib_bcast_create(ARG(1), (uint64_t)number(ARG(2), 0, INT64_MAX), (uint32_t)number(ARG(3), 0, UINT32_MAX),
                                  0600, flags, key, sizeof key));
        printf("created %s\n", key);
        snprintf(last_key, sizeof last_key, "%s", key);
        return i + 5;
    }
    if (strcmp(cmd, "bcast-open") == 0) {
        int end = strcmp(ARG(2), "producer") == 0     ? SHMLIB_CHAN_PRODUCER
                  : strcmp(ARG(2), "subscriber") == 0 ? SHMLIB_CHAN_SUBSCRIBER
                                                      : (usage("bcast-open: end %s", ARG(2)), 0);
        shmlib_chan_t opened;
        check(shmlib_chan_open(ARG(1), end, &opened));
        chan = opened;
        printf("opened %s\n", ARG(2));
        return i + 3;
    }
    if (strcmp(cmd, "chan-poll") == 0) {
        need_chan();
        int fd;
        check(shmlib_chan_fd(chan, &fd));
        check(shmlib_chan_arm(chan));
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int n = poll(&p, 1, (int)number(ARG(1), 0, INT32_MAX));
        printf("%s\n", n == 1 ? "polled" : "not ready");
        return i + 2;
    }
    if (strcmp(cmd, "chan-lost") == 0) {
        need_chan();
        uint64_t lost;
        check(shmlib_chan_lost(chan, &lost));
        printf("lost %llu\n", (unsigned long long)lost);
        return i + 1;
    }
    if (strcmp(cmd, "chan-timeout") == 0) {
        long long ms = number(ARG(1), -1, INT64_MAX / 1000000);
        timeout_ns = ms < 0 ? SHMLIB_WAIT_FOREVER : ms * 1000000;
        printf("timeout %lld\n", ms);
        return i + 2;
    }
    if (strcmp(cmd, "chan-max") == 0) {
        need_chan();
        printf("max %llu\n", (unsigned long long)max_message());
        return i + 1;
    }
    if (strcmp(cmd, "chan-send") == 0 || strcmp(cmd, "chan-put") == 0 || strcmp(cmd, "chan-reserve") == 0) {
        need_chan();
        size_t len = (size_t)number(ARG(1), 0, INT64_MAX);
        struct recipe r = parse_recipe(ARG(2));
        send_message(len, &r, strcmp(cmd, "chan-send") == 0, strcmp(cmd, "chan-reserve") != 0);
        printf("%s %zu\n", strcmp(cmd, "chan-send") == 0 ? "sent" : strcmp(cmd, "chan-put") == 0 ? "put" : "reserved", len);
        return i + 3;
    }
    if (strcmp(cmd, "chan-recv") == 0 || strcmp(cmd, "chan-take") == 0 || strcmp(cmd, "chan-peek") == 0) {
        need_chan();
        struct recipe r = parse_recipe(ARG(1));
        int in_place = strcmp(cmd, "chan-recv") != 0, release = strcmp(cmd, "chan-peek") != 0;
        uint64_t limit = in_place ? 0 : max_message();
        unsigned char *buf = in_place ? NULL : xmalloc(limit);
        const unsigned char *msg;
        size_t len;
        int rc = take_next(in_place, buf, limit, &msg, &len);
        if (rc == SHMLIB_EEOS && expected != SHMLIB_EEOS) {
            printf("eos\n");
        } else {
            check(rc);
            check_message(msg, len, &r);
            if (in_place && release)
                check(shmlib_chan_release(chan));
            printf("%s %zu\n", !in_place ? "received" : release ? "took" : "peeked", len);
        }
        free(buf);
        return i + 2;
    }
    if (strcmp(cmd, "chan-stream") == 0 || strcmp(cmd, "chan-drain") == 0) {
        need_chan();
        long long n = number(ARG(1), 0, INT64_MAX);
        unsigned char seed = (unsigned char)number(ARG(2), 0, 255);
        if (strcmp(cmd, "chan-stream") == 0)
            stream(n, seed);
        else
            drain(n, seed);
        return i + 3;
    }
    if (strcmp(cmd, "chan-send-array") == 0) {
        need_chan();
        send_array(ARG(1), ARG(2), ARG(3));
        return i + 4;
    }
    if (strcmp(cmd, "chan-recv-array") == 0) {
        need_chan();
        recv_array(ARG(1));
        return i + 2;
    }
    if (strcmp(cmd, "chan-close") == 0) {
        need_chan();
        check(shmlib_chan_close(chan));
        printf("closed\n");
        return i + 1;
    }
    if (strcmp(cmd, "expect") == 0) {
        armed = (int)number(ARG(1), INT32_MIN, -1);
        printf("expecting %d\n", armed);
        return i + 2;
    }
    if (strcmp(cmd, "scribble") == 0) {
        need_mapping();
        uint64_t off = (uint64_t)number(ARG(1), 0, INT64_MAX);
        char *end;
        errno = 0;
        unsigned long long v = strtoull(ARG(2), &end, 10);
        if (errno || *end || ARG(2)[0] == '-' || off + 8 > mem_size)
            usage("scribble: bad offset or value: %s", ARG(2));
        uint64_t word = v;
        memcpy(mem + off, &word, sizeof word); /* the machine's byte order, as libshm reads it */
        printf("scribbled %llu %llu\n", (unsigned long long)off, v);
        return i + 3;
    }
    if (strcmp(cmd, "layout") == 0) {
        layout();
        return i + 1;
    }
#undef ARG
    usage("unknown command %s", cmd);
    return argc;
}

/* The number of arguments of each command: where the script goes on after
 * an expected failure. */
static int arity(const char *cmd)
{
    static const struct {
        const char *name;
        int n;
    } table[] = {
        {"create", 2}, {"attach", 1}, {"attach-ro", 1}, {"write", 1}, {"verify", 1},
        {"step", 1}, {"detach", 0}, {"destroy", 1}, {"stat", 1}, {"listed", 1},
        {"ftok", 2}, {"strerror", 1}, {"version", 0}, {"wait", 0}, {"poke", 0},
        {"fork-check", 2}, {"layout", 0}, {"expect", 1}, {"scribble", 2},
        {"chan-create", 2}, {"chan-open", 2}, {"chan-max", 0}, {"chan-timeout", 1},
        {"chan-send", 2}, {"chan-put", 2}, {"chan-reserve", 2}, {"chan-recv", 1},
        {"chan-take", 1}, {"chan-peek", 1}, {"chan-stream", 2}, {"chan-drain", 2},
        {"chan-send-array", 3}, {"chan-recv-array", 1}, {"chan-close", 0},
        {"memfd-send", 2}, {"memfd-recv", 1},
        {"bcast-create", 4}, {"bcast-open", 2}, {"chan-lost", 0}, {"chan-poll", 1},
    };
    for (size_t k = 0; k < sizeof table / sizeof table[0]; k++)
        if (strcmp(table[k].name, cmd) == 0)
            return table[k].n;
    usage("unknown command %s", cmd);
    return 0;
}

int main(int argc, char **argv)
{
    /* One line per command, seen by the test as soon as it is printed. */
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (shmlib_version() != SHMLIB_VERSION_NUMBER) {
        fprintf(stderr, "peer: built for libshm %s, loaded %s\n", SHMLIB_VERSION_STRING,
                shmlib_version_string());
        return EXIT_USAGE;
    }
    for (volatile int i = 1; i < argc;) {
        volatile int next = i + 1 + arity(argv[i]);
        expected = armed;
        armed = 0;
        if (setjmp(recover) != 0) { /* check() saw the expected failure */
            i = next;
            continue;
        }
        i = run(argc, argv, i);
        if (expected != 0)
            exit(EXIT_NO_ERROR); /* the command after `expect` succeeded */
    }
    return 0;
}
