/*
 * peer.c - the C side of the peer protocol (tests/peers/PROTOCOL.md): runs
 * the script on its command line against libshm, one output line per
 * command. Built by tests/main_test.go with -lshm against include/shmlib.h.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "shmlib.h"

enum { EXIT_USAGE = 2, EXIT_FAILED = 3, EXIT_MISMATCH = 4, EXIT_STDIN_EOF = 5 };

/* The current mapping: the last attach, detached or not. */
static unsigned char *mem;
static uint64_t mem_size;

/* The current channel end: the last one opened, closed or not. */
static shmlib_chan_t chan;

static void usage(const char *fmt, const char *arg)
{
    fprintf(stderr, "peer: ");
    fprintf(stderr, fmt, arg);
    fputc('\n', stderr);
    exit(EXIT_USAGE);
}

/* Prints "error CODE MESSAGE" for a failed call and ends the script. */
static void check(int rc)
{
    if (rc >= 0)
        return;
    char msg[512];
    shmlib_last_error(msg, sizeof msg);
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

/* Runs argv[i] with its arguments; returns the index of the next command. */
static int run(int argc, char **argv, int i)
{
    const char *cmd = argv[i];
#define ARG(n) (i + (n) < argc ? argv[i + (n)] : (usage("missing argument to %s", cmd), ""))
    if (strcmp(cmd, "create") == 0) {
        char key[SHMLIB_KEY_MAX];
        check(shmlib_create(ARG(1), (uint64_t)number(ARG(2), 0, INT64_MAX), 0600, 0, key, sizeof key));
        printf("created %s\n", key);
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
                                      : st.backend == SHMLIB_BACKEND_SYSV ? "sysv" : "unknown");
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
        return i + 3;
    }
    if (strcmp(cmd, "chan-open") == 0) {
        int end = strcmp(ARG(2), "producer") == 0   ? SHMLIB_CHAN_PRODUCER
                  : strcmp(ARG(2), "consumer") == 0 ? SHMLIB_CHAN_CONSUMER
                                                    : (usage("chan-open: end %s", ARG(2)), 0);
        check(shmlib_chan_open(ARG(1), end, &chan));
        printf("opened %s\n", ARG(2));
        return i + 3;
    }
    if (strcmp(cmd, "chan-max") == 0) {
        need_chan();
        uint64_t n;
        check(shmlib_chan_max_message(chan, &n));
        printf("max %llu\n", (unsigned long long)n);
        return i + 1;
    }
    if (strcmp(cmd, "chan-send") == 0 || strcmp(cmd, "chan-put") == 0) {
        need_chan();
        size_t len = (size_t)number(ARG(1), 0, INT64_MAX);
        struct recipe r = parse_recipe(ARG(2));
        if (strcmp(cmd, "chan-send") == 0) {
            unsigned char *msg = malloc(len ? len : 1);
            if (msg == NULL) {
                perror("malloc");
                exit(EXIT_USAGE);
            }
            fill(msg, len, &r);
            check(shmlib_chan_send(chan, msg, len, SHMLIB_WAIT_FOREVER));
            free(msg);
            printf("sent %zu\n", len);
        } else {
            void *slot;
            check(shmlib_chan_reserve(chan, len, SHMLIB_WAIT_FOREVER, &slot));
            fill(slot, len, &r);
            check(shmlib_chan_commit(chan, len));
            printf("put %zu\n", len);
        }
        return i + 3;
    }
    if (strcmp(cmd, "chan-recv") == 0 || strcmp(cmd, "chan-take") == 0) {
        need_chan();
        struct recipe r = parse_recipe(ARG(1));
        size_t len;
        int rc;
        if (strcmp(cmd, "chan-recv") == 0) {
            uint64_t limit;
            check(shmlib_chan_max_message(chan, &limit));
            unsigned char *msg = malloc(limit);
            if (msg == NULL) {
                perror("malloc");
                exit(EXIT_USAGE);
            }
            rc = shmlib_chan_recv(chan, msg, limit, &len, SHMLIB_WAIT_FOREVER);
            if (rc == 0)
                check_message(msg, len, &r);
            free(msg);
        } else {
            const void *msg;
            rc = shmlib_chan_peek(chan, SHMLIB_WAIT_FOREVER, &msg, &len);
            if (rc == 0) {
                check_message(msg, len, &r);
                check(shmlib_chan_release(chan));
            }
        }
        if (rc == SHMLIB_EEOS) {
            printf("eos\n");
        } else {
            check(rc);
            printf("%s %zu\n", strcmp(cmd, "chan-recv") == 0 ? "received" : "took", len);
        }
        return i + 2;
    }
    if (strcmp(cmd, "chan-close") == 0) {
        need_chan();
        check(shmlib_chan_close(chan));
        printf("closed\n");
        return i + 1;
    }
    if (strcmp(cmd, "layout") == 0) {
        layout();
        return i + 1;
    }
#undef ARG
    usage("unknown command %s", cmd);
    return argc;
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
    for (int i = 1; i < argc;)
        i = run(argc, argv, i);
    return 0;
}
