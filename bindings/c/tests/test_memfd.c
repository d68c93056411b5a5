/*
 * test_memfd.c - the promises of include/shmlib.h for memfd segments (KEYS
 * and MEMFD SEGMENTS), with real processes: a memfd made by "memfd:" is held
 * by its creator under memfd:pid=P,fd=F,ino=I; other processes attach it by that
 * key while P lives, cannot destroy it, cannot resize it; it passes over a
 * Unix socket (shmlib_memfd_send/recv) and outlives its sender; it never
 * shows in /dev/shm, and no call leaks a descriptor.
 *
 * Roles: run without arguments for the tests. The peers it starts are this
 * program again, exec'd (a process forked without exec may not call libshm):
 *   --attach KEY SIZE SEED_IN SEED_OUT HOLDER MODE   attach by key, share bytes, stat,
 *                                                    not listed, destroy refused
 *   --attach-fails KEY CODE                          attach and stat fail with CODE
 *   --truncate PATH SIZE                             resize the memfd: refused by seals
 *   --hold SIZE SEED                                 create, fill, print the key, wait
 *   --send SOCK SIZE SEED                            create, fill, send, exit
 *   --send-closed SOCK                               send on a socket whose peer closed
 *   --recv SOCK GO SIZE SEED SENDER                  receive, wait for GO, check the bytes
 *   --chan KEY COUNT                                 consume COUNT messages, then EEOS
 * Each exits 0 if all its checks passed.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "harness.h"

#ifndef F_SEAL_SHRINK
#define F_ADD_SEALS 1033
#define F_GET_SEALS 1034
#define F_SEAL_SHRINK 0x0002
#define F_SEAL_GROW 0x0004
#endif

/* Parses a canonical memfd key; 1 if it is one. */
static int parse_key(const char *key, int *pid, int *fd)
{
    char canon[SHMLIB_KEY_MAX];
    unsigned long long ino;
    if (sscanf(key, "memfd:pid=%d,fd=%d,ino=%llu", pid, fd, &ino) != 3)
        return 0;
    snprintf(canon, sizeof canon, "memfd:pid=%d,fd=%d,ino=%llu", *pid, *fd, ino);
    return strcmp(canon, key) == 0;
}

/* Is key in this process's list, with backend memfd? */
static int listed(const char *key)
{
    size_t n = 0;
    if (shmlib_list(NULL, 0, &n) != 0)
        return -1;
    size_t cap = n + 16;
    shmlib_stat_t *items = calloc(cap, sizeof *items);
    int found = 0;
    if (items != NULL && shmlib_list(items, cap, &n) == 0) {
        for (size_t i = 0; i < n; i++)
            if (strcmp(items[i].key, key) == 0 && items[i].backend == SHMLIB_BACKEND_MEMFD)
                found = 1;
    } else {
        found = -1;
    }
    free(items);
    return found;
}

/* The number of memfd segments in this process's list. */
static int listed_memfds(void)
{
    size_t n = 0;
    if (shmlib_list(NULL, 0, &n) != 0)
        return -1;
    size_t cap = n + 16;
    shmlib_stat_t *items = calloc(cap, sizeof *items);
    int count = -1;
    if (items != NULL && shmlib_list(items, cap, &n) == 0) {
        count = 0;
        for (size_t i = 0; i < n; i++)
            count += items[i].backend == SHMLIB_BACKEND_MEMFD;
    }
    free(items);
    return count;
}

/* The keys of the memfds this process holds, from its list. */
static size_t memfd_keys(char ***keys)
{
    size_t n = 0, k = 0;
    *keys = NULL;
    if (shmlib_list(NULL, 0, &n) != 0)
        return 0;
    size_t cap = n + 16;
    shmlib_stat_t *items = calloc(cap, sizeof *items);
    if (items != NULL && shmlib_list(items, cap, &n) == 0 && (*keys = calloc(n + 1, sizeof **keys))) {
        for (size_t i = 0; i < n; i++)
            if (items[i].backend == SHMLIB_BACKEND_MEMFD)
                (*keys)[k++] = strdup(items[i].key);
    }
    free(items);
    return k;
}

/* Destroys the memfds held now that were not in keys (then frees keys). */
static void destroy_new_memfds(char **keys, size_t n)
{
    char **now;
    size_t m = memfd_keys(&now);
    for (size_t i = 0; i < m; i++) {
        int old = 0;
        for (size_t j = 0; j < n; j++)
            old |= strcmp(now[i], keys[j]) == 0;
        if (!old) {
            printf("note: destroying %s, left held by a create that should have failed\n", now[i]);
            shmlib_destroy(now[i]);
        }
        free(now[i]);
    }
    free(now);
    for (size_t j = 0; j < n; j++)
        free(keys[j]);
    free(keys);
}

/* Is the file open as path (e.g. /proc/P/fd/F) anywhere in /dev/shm? */
static int in_devshm(const char *path)
{
    struct stat want, st;
    if (stat(path, &want) != 0)
        return -1;
    size_t n;
    char **names = harness_devshm_names("", SIZE_MAX, &n);
    int found = 0;
    for (size_t i = 0; i < n; i++) {
        char p[PATH_MAX];
        snprintf(p, sizeof p, "/dev/shm/%s", names[i]);
        if (stat(p, &st) == 0 && st.st_dev == want.st_dev && st.st_ino == want.st_ino)
            found = 1;
    }
    harness_names_free(names, n);
    return found;
}

/* Starts this program as "/proc/self/exe ROLE ARG..." without waiting.
 * keep: descriptors the child keeps across exec (the rest are close-on-exec);
 * to_child / from_child, if not NULL, get pipes to its stdin and from its
 * stdout. Returns the pid, or -1. */
static pid_t spawn_self(char *const argv[], const int *keep, int nkeep, int *to_child,
                        int *from_child)
{
    char *args[16];
    size_t n = 0;
    args[n++] = (char *)"/proc/self/exe";
    for (size_t i = 0; argv[i] != NULL && n < 15; i++)
        args[n++] = argv[i];
    args[n] = NULL;
    int in[2] = {-1, -1}, out[2] = {-1, -1};
    if ((to_child && pipe2(in, O_CLOEXEC) != 0) || (from_child && pipe2(out, O_CLOEXEC) != 0))
        return -1;
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) { /* no libshm here: only system calls, then exec */
        for (int i = 0; i < nkeep; i++)
            fcntl(keep[i], F_SETFD, 0);
        if (to_child)
            dup2(in[0], 0);
        if (from_child)
            dup2(out[1], 1);
        execv(args[0], args);
        _exit(127);
    }
    if (to_child) {
        close(in[0]);
        *to_child = in[1];
    }
    if (from_child) {
        close(out[1]);
        *from_child = out[0];
    }
    return pid;
}

/* Reads one line (without its newline) from fd; 1 on success. */
static int read_line(int fd, char *buf, size_t len)
{
    size_t n = 0;
    while (n + 1 < len) {
        ssize_t r = read(fd, buf + n, 1);
        if (r <= 0)
            return 0;
        if (buf[n] == '\n')
            break;
        n++;
    }
    buf[n] = '\0';
    return 1;
}

static int run(const char *role, const char *a1, const char *a2, const char *a3, const char *a4,
               const char *a5, const char *a6)
{
    char *argv[] = {(char *)role, (char *)a1, (char *)a2, (char *)a3, (char *)a4, (char *)a5,
                    (char *)a6, NULL};
    return harness_run_self(argv);
}

static void warm_up(void);

/* ------------------------------------------------------------------ roles */

static void role_attach(char **argv)
{
    const char *key = argv[2];
    uint64_t size = strtoull(argv[3], NULL, 10);
    unsigned in = (unsigned)atoi(argv[4]), out = (unsigned)atoi(argv[5]);
    int holder = atoi(argv[6]);
    uint32_t mode = (uint32_t)strtoul(argv[7], NULL, 8);
    void *addr = NULL;
    uint64_t got = 0;
    if (!CHECK_RC(shmlib_attach(key, NULL, 0, &addr, &got), 0))
        return;
    CHECK_INT(got, size);
    CHECK_INT(harness_verify(addr, size, in), size);
    harness_fill(addr, size, out);

    shmlib_stat_t st;
    if (CHECK_RC(shmlib_stat(key, &st), 0)) {
        CHECK_STR(st.key, key);
        CHECK_INT(st.backend, SHMLIB_BACKEND_MEMFD);
        CHECK_INT(st.size, size);
        CHECK_INT(st.mode, mode);
        CHECK_INT(st.cpid, holder);
    }
    /* Another process's memfds have no name to be found by. */
    CHECK_INT(listed(key), 0);
    /* Only the holder may destroy it; the refusal changes nothing. */
    CHECK_RC(shmlib_destroy(key), SHMLIB_EACCES);
    /* Nor may this process pass it on: it does not hold it. */
    int sv[2];
    if (CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0)) {
        CHECK_RC(shmlib_memfd_send(sv[0], key), SHMLIB_EINVAL);
        close(sv[0]);
        close(sv[1]);
    }
    void *again = NULL;
    if (CHECK_RC(shmlib_attach(key, NULL, 0, &again, NULL), 0)) {
        CHECK_INT(harness_verify(again, size, out), size);
        CHECK_RC(shmlib_detach(again), 0);
    }
    CHECK_RC(shmlib_detach(addr), 0);
}

static void role_attach_fails(char **argv)
{
    int code = atoi(argv[3]);
    void *addr = NULL;
    shmlib_stat_t st;
    CHECK_RC(shmlib_attach(argv[2], NULL, 0, &addr, NULL), code);
    CHECK_RC(shmlib_attach(argv[2], NULL, SHMLIB_RDONLY, &addr, NULL), code);
    CHECK_RC(shmlib_stat(argv[2], &st), code);
}

/* The seals: no process can shrink or grow the segment, by any call. */
static void role_truncate(char **argv)
{
    off_t size = (off_t)strtoll(argv[3], NULL, 10);
    int fd = open(argv[2], O_RDWR | O_CLOEXEC);
    if (!CHECKF(fd >= 0, "open %s: %s", argv[2], strerror(errno)))
        return;
    errno = 0;
    CHECKF(ftruncate(fd, size / 2) == -1 && errno == EPERM, "ftruncate shrink: errno %d", errno);
    errno = 0;
    CHECKF(ftruncate(fd, 0) == -1 && errno == EPERM, "ftruncate to 0: errno %d", errno);
    errno = 0;
    CHECKF(ftruncate(fd, size * 2) == -1 && errno == EPERM, "ftruncate grow: errno %d", errno);
    errno = 0;
    CHECKF(fallocate(fd, 0, size, 4096) == -1 && errno == EPERM, "fallocate grow: errno %d", errno);
    errno = 0;
    CHECKF(pwrite(fd, "x", 1, size) == -1 && errno == EPERM, "pwrite past the end: errno %d", errno);
    struct stat st;
    if (CHECK(fstat(fd, &st) == 0))
        CHECK_INT(st.st_size, size);
    close(fd);
}

static void role_hold(char **argv)
{
    uint64_t size = strtoull(argv[2], NULL, 10);
    unsigned seed = (unsigned)atoi(argv[3]);
    char key[SHMLIB_KEY_MAX];
    void *addr;
    if (!CHECK_RC(shmlib_create("memfd:", size, 0600, 0, key, sizeof key), 0) ||
        !CHECK_RC(shmlib_attach(key, NULL, 0, &addr, NULL), 0)) {
        printf("failed\n");
        return;
    }
    harness_fill(addr, size, seed);
    CHECK_RC(shmlib_detach(addr), 0);
    printf("%s\n", key);
    fflush(stdout);
    char c;
    (void)!read(0, &c, 1); /* until the parent says so (or goes) */
}

static void role_send(char **argv)
{
    int sock = atoi(argv[2]);
    uint64_t size = strtoull(argv[3], NULL, 10);
    unsigned seed = (unsigned)atoi(argv[4]);
    char key[SHMLIB_KEY_MAX];
    void *addr;
    if (!CHECK_RC(shmlib_create("memfd:", size, 0640, 0, key, sizeof key), 0) ||
        !CHECK_RC(shmlib_attach(key, NULL, 0, &addr, NULL), 0))
        return;
    harness_fill(addr, size, seed);
    CHECK_RC(shmlib_detach(addr), 0);
    CHECK_RC(shmlib_memfd_send(sock, key), 0);
    /* Still held here after the send. */
    shmlib_stat_t st;
    CHECK_RC(shmlib_stat(key, &st), 0);
    CHECK_INT(listed(key), 1);
}

static void role_send_closed(char **argv)
{
    char key[SHMLIB_KEY_MAX];
    if (CHECK_RC(shmlib_create("memfd:", 4096, 0, 0, key, sizeof key), 0)) {
        CHECK_RC(shmlib_memfd_send(atoi(argv[2]), key), SHMLIB_EOS);
        CHECK_RC(shmlib_destroy(key), 0);
    }
}

static void role_recv(char **argv)
{
    int sock = atoi(argv[2]), go = atoi(argv[3]);
    uint64_t size = strtoull(argv[4], NULL, 10);
    unsigned seed = (unsigned)atoi(argv[5]);
    pid_t sender = (pid_t)atoi(argv[6]);
    char key[SHMLIB_KEY_MAX];
    warm_up();
    int before = harness_count_fds();
    if (!CHECK_RC(shmlib_memfd_recv(sock, key, sizeof key), 0))
        return;
    CHECK_INT(harness_count_fds(), before + 1);
    int pid, fd;
    if (CHECKF(parse_key(key, &pid, &fd), "received key %s is not canonical", key)) {
        CHECK_INT(pid, getpid());
        char path[64], link[PATH_MAX];
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
        ssize_t n = readlink(path, link, sizeof link - 1);
        link[n > 0 ? n : 0] = '\0';
        CHECKF(strncmp(link, "/memfd:", 7) == 0, "%s -> %s, want a memfd", path, link);
        CHECK_INT(in_devshm(path), 0);
    }
    char c;
    CHECK(read(go, &c, 1) == 1); /* the sender has exited and been reaped */
    errno = 0;
    CHECKF(kill(sender, 0) == -1 && errno == ESRCH, "the sender %d still exists", (int)sender);

    void *addr;
    uint64_t got = 0;
    if (!CHECK_RC(shmlib_attach(key, NULL, 0, &addr, &got), 0))
        return;
    CHECK_INT(got, size);
    CHECK_INT(harness_verify(addr, size, seed), size);
    shmlib_stat_t st;
    if (CHECK_RC(shmlib_stat(key, &st), 0)) {
        CHECK_INT(st.backend, SHMLIB_BACKEND_MEMFD);
        CHECK_INT(st.size, size);
        CHECK_INT(st.mode, 0640);
    }
    CHECK_INT(listed(key), 1);
    /* This process holds it now: destroy lets go of the hold, the
     * mapping goes on. */
    CHECK_RC(shmlib_destroy(key), 0);
    CHECK_INT(harness_count_fds(), before);
    CHECK_INT(listed(key), 0);
    CHECK_RC(shmlib_attach(key, NULL, 0, &(void *){0}, NULL), SHMLIB_ENOENT);
    CHECK_INT(harness_verify(addr, size, seed), size);
    harness_fill(addr, size, seed + 1);
    CHECK_INT(harness_verify(addr, size, seed + 1), size);
    CHECK_RC(shmlib_detach(addr), 0);
}

static void role_chan(char **argv)
{
    int count = atoi(argv[3]);
    shmlib_chan_t ch;
    if (!CHECK_RC(shmlib_chan_open(argv[2], SHMLIB_CHAN_CONSUMER, &ch), 0))
        return;
    for (int i = 0; i < count; i++) {
        unsigned char buf[512];
        size_t n = 0;
        if (!CHECK_RC(shmlib_chan_recv(ch, buf, sizeof buf, &n, 5000000000LL), 0))
            break;
        CHECK_INT(n, 100 + i);
        CHECK_INT(harness_verify(buf, n, (unsigned)i), n);
    }
    size_t n;
    unsigned char buf[16];
    CHECK_RC(shmlib_chan_recv(ch, buf, sizeof buf, &n, 5000000000LL), SHMLIB_EEOS);
    CHECK_RC(shmlib_chan_close(ch), 0);
}

static int role(int argc, char **argv)
{
    static const struct {
        const char *name;
        int nargs;
        void (*fn)(char **);
    } roles[] = {
        {"--attach", 6, role_attach},     {"--attach-fails", 2, role_attach_fails},
        {"--truncate", 2, role_truncate}, {"--hold", 2, role_hold},
        {"--send", 3, role_send},         {"--send-closed", 1, role_send_closed},
        {"--recv", 5, role_recv},         {"--chan", 2, role_chan},
    };
    for (size_t i = 0; i < sizeof roles / sizeof roles[0]; i++) {
        if (strcmp(argv[1], roles[i].name) == 0 && argc >= 2 + roles[i].nargs) {
            static char prefix[32];
            snprintf(prefix, sizeof prefix, "[%s] ", argv[1] + 2);
            harness_child_begin(prefix);
            roles[i].fn(argv);
            harness_child_exit();
        }
    }
    fprintf(stderr, "test_memfd: unknown role or missing arguments: %s\n", argv[1]);
    return 2;
}

/* ------------------------------------------------------------------ tests */

/* The first calls may set the runtime up (descriptors of its own): make
 * them before counting descriptors. */
static void warm_up(void)
{
    char key[SHMLIB_KEY_MAX], got[SHMLIB_KEY_MAX];
    void *addr;
    int sv[2];
    if (shmlib_create("memfd:", 4096, 0, 0, key, sizeof key) != 0)
        return;
    if (shmlib_attach(key, NULL, 0, &addr, NULL) == 0)
        shmlib_detach(addr);
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0) {
        if (shmlib_memfd_send(sv[0], key) == 0 && shmlib_memfd_recv(sv[1], got, sizeof got) == 0)
            shmlib_destroy(got);
        close(sv[0]);
        close(sv[1]);
    }
    shmlib_destroy(key);
}

/* create "memfd:", stat, list, another process attaches and shares bytes but
 * cannot destroy it; the seals; destroy in the holder. */
static void test_lifecycle(void)
{
    const uint64_t size = 10007;
    char key[SHMLIB_KEY_MAX], path[64], arg[32], pid_s[16];
    int before = harness_count_fds();
    if (!CHECK_RC(shmlib_create("memfd:", size, 0640, 0, key, sizeof key), 0))
        return;
    CHECK_INT(harness_count_fds(), before + 1);
    int pid = 0, fd = -1;
    if (!CHECKF(parse_key(key, &pid, &fd), "key %s is not memfd:pid=P,fd=F,ino=I", key))
        return;
    CHECK_INT(pid, getpid());
    snprintf(path, sizeof path, "/proc/%d/fd/%d", pid, fd);
    char link[PATH_MAX];
    ssize_t n = readlink(path, link, sizeof link - 1);
    link[n > 0 ? n : 0] = '\0';
    CHECKF(strncmp(link, "/memfd:", 7) == 0, "%s -> \"%s\", want a memfd", path, link);
    CHECK_INT(in_devshm(path), 0);
    int seals = fcntl(fd, F_GET_SEALS);
    CHECKF(seals >= 0 && (seals & (F_SEAL_SHRINK | F_SEAL_GROW)) == (F_SEAL_SHRINK | F_SEAL_GROW),
           "seals of %s: %#x", key, seals);
    /* Reserved at create (not SHMLIB_SPARSE). */
    struct stat fst;
    if (CHECK(fstat(fd, &fst) == 0))
        CHECKF((uint64_t)fst.st_blocks * 512 >= size, "%s: %lld bytes allocated of %llu", key,
               (long long)fst.st_blocks * 512, (unsigned long long)size);

    shmlib_stat_t st;
    if (CHECK_RC(shmlib_stat(key, &st), 0)) {
        CHECK_STR(st.key, key);
        CHECK_INT(st.backend, SHMLIB_BACKEND_MEMFD);
        CHECK_INT(st.size, size);
        CHECK_INT(st.mode, 0640); /* exact, under umask 077 */
        CHECK_INT(st.cpid, getpid());
        CHECK_INT(st.uid, geteuid());
        CHECK_INT(st.flags & SHMLIB_STAT_CHANNEL, 0);
    }
    CHECK_INT(listed(key), 1);

    void *addr;
    uint64_t got = 0;
    if (!CHECK_RC(shmlib_attach(key, NULL, 0, &addr, &got), 0))
        return;
    CHECK_INT(got, size);
    size_t zeros = 0;
    while (zeros < size && ((unsigned char *)addr)[zeros] == 0)
        zeros++;
    CHECK_INT(zeros, size); /* zero-filled */
    harness_fill(addr, size, 11);

    /* Another process attaches by the key: the same bytes both ways. */
    char size_s[32];
    snprintf(size_s, sizeof size_s, "%" PRIu64, size);
    snprintf(pid_s, sizeof pid_s, "%d", getpid());
    CHECK_EXIT_OK(run("--attach", key, size_s, "11", "12", pid_s, "640"), "--attach");
    CHECK_INT(harness_verify(addr, size, 12), size);
    /* Its failed destroy changed nothing. */
    CHECK_RC(shmlib_stat(key, &st), 0);
    CHECK_INT(fcntl(fd, F_GETFD) >= 0, 1);

    /* Sealed: another process that opens /proc/P/fd/F cannot resize it. */
    CHECK_EXIT_OK(run("--truncate", path, size_s, NULL, NULL, NULL, NULL), "--truncate");
    if (CHECK_RC(shmlib_stat(key, &st), 0))
        CHECK_INT(st.size, size);
    CHECK_INT(harness_verify(addr, size, 12), size);

    /* Destroy in the holder: its descriptor is closed, new attaches fail,
     * here and elsewhere; the mapping goes on. */
    int held = harness_count_fds();
    CHECK_RC(shmlib_destroy(key), 0);
    CHECK_INT(harness_count_fds(), held - 1);
    errno = 0;
    CHECKF(fcntl(fd, F_GETFD) == -1 && errno == EBADF, "descriptor %d still open after destroy", fd);
    CHECK_INT(listed(key), 0);
    void *other;
    CHECK_RC(shmlib_attach(key, NULL, 0, &other, NULL), SHMLIB_ENOENT);
    CHECK_RC(shmlib_stat(key, &st), SHMLIB_ENOENT);
    CHECK_RC(shmlib_destroy(key), SHMLIB_ENOENT);
    snprintf(arg, sizeof arg, "%d", SHMLIB_ENOENT);
    CHECK_EXIT_OK(run("--attach-fails", key, arg, NULL, NULL, NULL, NULL), "--attach-fails");
    CHECK_INT(harness_verify(addr, size, 12), size);
    harness_fill(addr, size, 13);
    CHECK_INT(harness_verify(addr, size, 13), size);
    CHECK_RC(shmlib_detach(addr), 0);
    CHECK_INT(harness_count_fds(), before);
}

/* mode 0 is 0600; SHMLIB_SPARSE reserves nothing; the list's order. */
static void test_create_options(void)
{
    char a[SHMLIB_KEY_MAX], b[SHMLIB_KEY_MAX];
    shmlib_stat_t st;
    if (CHECK_RC(shmlib_create("memfd:", 4096, 0, 0, a, sizeof a), 0)) {
        if (CHECK_RC(shmlib_stat(a, &st), 0))
            CHECK_INT(st.mode, 0600);
    }
    if (CHECK_RC(shmlib_create("memfd:", 1 << 20, 0777, SHMLIB_SPARSE, b, sizeof b), 0)) {
        int pid, fd;
        struct stat fst;
        if (parse_key(b, &pid, &fd) && CHECK(fstat(fd, &fst) == 0))
            CHECK_INT(fst.st_blocks, 0);
        if (CHECK_RC(shmlib_stat(b, &st), 0)) {
            CHECK_INT(st.mode, 0777);
            CHECK_INT(st.size, 1 << 20);
        }
    }
    /* POSIX, then System V, then memfds by descriptor. */
    size_t n = 0;
    if (CHECK_RC(shmlib_list(NULL, 0, &n), 0)) {
        size_t cap = n + 16;
        shmlib_stat_t *items = calloc(cap, sizeof *items);
        if (items && CHECK_RC(shmlib_list(items, cap, &n), 0)) {
            int order_ok = 1, last_fd = -1, seen_memfd = 0;
            for (size_t i = 0; i < n; i++) {
                int pid, fd;
                if (items[i].backend == SHMLIB_BACKEND_MEMFD) {
                    seen_memfd = 1;
                    if (!parse_key(items[i].key, &pid, &fd) || pid != getpid() || fd <= last_fd)
                        order_ok = 0;
                    last_fd = fd;
                } else if (seen_memfd) {
                    order_ok = 0;
                }
            }
            CHECKF(order_ok, "list: memfd segments are not last, or not this process's by descriptor");
        }
        free(items);
    }
    CHECK_RC(shmlib_destroy(a), 0);
    CHECK_RC(shmlib_destroy(b), 0);
}

/* Another process holds it: this one attaches by key, sees it in stat but
 * not in its list, cannot destroy it; the holder exits, attaches fail, the
 * mapping here goes on. */
static void test_holder_exits(void)
{
    const uint64_t size = 65536;
    int to = -1, from = -1;
    char *argv[] = {(char *)"--hold", (char *)"65536", (char *)"21", NULL};
    pid_t pid = spawn_self(argv, NULL, 0, &to, &from);
    if (!CHECK(pid > 0))
        return;
    char key[SHMLIB_KEY_MAX];
    int kpid, kfd;
    if (CHECK(read_line(from, key, sizeof key)) &&
        CHECKF(parse_key(key, &kpid, &kfd), "holder printed %s", key)) {
        CHECK_INT(kpid, pid);
        void *addr;
        uint64_t got = 0;
        if (CHECK_RC(shmlib_attach(key, NULL, 0, &addr, &got), 0)) {
            CHECK_INT(got, size);
            CHECK_INT(harness_verify(addr, size, 21), size);
            shmlib_stat_t st;
            if (CHECK_RC(shmlib_stat(key, &st), 0)) {
                CHECK_INT(st.backend, SHMLIB_BACKEND_MEMFD);
                CHECK_INT(st.cpid, pid);
                CHECK_INT(st.mode, 0600);
            }
            CHECK_INT(listed(key), 0);
            CHECK_RC(shmlib_destroy(key), SHMLIB_EACCES);
            CHECK_RC(shmlib_memfd_send(from, key), SHMLIB_EINVAL);

            close(to); /* the holder exits */
            to = -1;
            CHECK_EXIT_OK(harness_wait(pid), "--hold");
            pid = -1;
            CHECK_RC(shmlib_attach(key, NULL, 0, &(void *){0}, NULL), SHMLIB_ENOENT);
            CHECK_RC(shmlib_stat(key, &st), SHMLIB_ENOENT);
            CHECK_INT(harness_verify(addr, size, 21), size);
            harness_fill(addr, size, 22);
            CHECK_INT(harness_verify(addr, size, 22), size);
            CHECK_RC(shmlib_detach(addr), 0);
        }
    }
    if (to >= 0)
        close(to);
    close(from);
    if (pid > 0)
        CHECK_EXIT_OK(harness_wait(pid), "--hold");
}

/* A sender process creates, fills, sends and exits; the receiver, which got
 * it over a socketpair, still reads its bytes. */
static void test_send_recv_processes(void)
{
    int sv[2], go[2];
    if (!CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0) ||
        !CHECK(pipe2(go, O_CLOEXEC) == 0))
        return;
    /* The receiver first: it blocks in recv until the sender sends. */
    char s1[16], g0[16], s0[16], sender_s[16];
    snprintf(s1, sizeof s1, "%d", sv[1]);
    snprintf(s0, sizeof s0, "%d", sv[0]);
    snprintf(g0, sizeof g0, "%d", go[0]);
    char *sargv[] = {(char *)"--send", s0, (char *)"30011", (char *)"31", NULL};
    pid_t sender = spawn_self(sargv, (int[]){sv[0]}, 1, NULL, NULL);
    if (!CHECK(sender > 0))
        return;
    snprintf(sender_s, sizeof sender_s, "%d", (int)sender);
    char *rargv[] = {(char *)"--recv", s1, g0, (char *)"30011", (char *)"31", sender_s, NULL};
    pid_t receiver = spawn_self(rargv, (int[]){sv[1], go[0]}, 2, NULL, NULL);
    CHECK(receiver > 0);
    CHECK_EXIT_OK(harness_wait(sender), "--send");
    close(sv[0]);
    close(sv[1]);
    close(go[0]);
    CHECK(write(go[1], "g", 1) == 1);
    close(go[1]);
    if (receiver > 0)
        CHECK_EXIT_OK(harness_wait(receiver), "--recv");

    /* And from this process to another, on a socket whose peer is gone. */
    if (CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0)) {
        close(sv[1]);
        snprintf(s0, sizeof s0, "%d", sv[0]);
        char *cargv[] = {(char *)"--send-closed", s0, NULL};
        pid_t p = spawn_self(cargv, (int[]){sv[0]}, 1, NULL, NULL);
        if (CHECK(p > 0))
            CHECK_EXIT_OK(harness_wait(p), "--send-closed (send on a closed socket)");
        close(sv[0]);
    }
}

/* Sends one descriptor (or none, fd < 0) with one byte of data. */
static int send_fd(int sock, int fd)
{
    char byte = 'x';
    struct iovec iov = {&byte, 1};
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(int))];
    } ctl;
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
    if (fd >= 0) {
        memset(&ctl, 0, sizeof ctl);
        msg.msg_control = ctl.buf;
        msg.msg_controllen = sizeof ctl.buf;
        struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &fd, sizeof fd);
    }
    return sendmsg(sock, &msg, 0) == 1 ? 0 : -1;
}

static int readable(int fd)
{
    struct pollfd p = {fd, POLLIN, 0};
    return poll(&p, 1, 0) == 1;
}

/* send and recv refuse what is not a memfd segment, and keep nothing. */
static void test_send_recv_errors(void)
{
    int sv[2];
    if (!CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0))
        return;
    char key[SHMLIB_KEY_MAX], got[SHMLIB_KEY_MAX], own[SHMLIB_KEY_MAX], posix[SHMLIB_KEY_MAX];
    int n0 = harness_count_fds();

    /* send: keys that are not a memfd this process holds. */
    snprintf(own, sizeof own, "memfd:pid=%d,fd=0,ino=1", getpid());
    const char *bad_send[] = {"memfd:pid=x,fd=1", "memfd:", "posix:/libshm-test-memfd-none",
                              "sysv:key=0x1234", "memfd:pid=1,fd=0,ino=1", own};
    for (size_t i = 0; i < sizeof bad_send / sizeof bad_send[0]; i++)
        CHECKF(shmlib_memfd_send(sv[0], bad_send[i]) == SHMLIB_EINVAL, "memfd_send(%s) is not SHMLIB_EINVAL",
               bad_send[i]);
    CHECK_RC(shmlib_memfd_send(sv[0], NULL), SHMLIB_EINVAL);
    if (CHECK_RC(shmlib_create("posix:", 4096, 0, 0, posix, sizeof posix), 0)) {
        CHECK_RC(shmlib_memfd_send(sv[0], posix), SHMLIB_EINVAL); /* exists, but not a memfd */
        CHECK_RC(shmlib_destroy(posix), 0);
    }
    CHECK(!readable(sv[1])); /* nothing was sent */

    /* recv: a message with no descriptor. */
    CHECK(write(sv[0], "x", 1) == 1);
    CHECK_RC(shmlib_memfd_recv(sv[1], got, sizeof got), SHMLIB_EINVAL);
    CHECK_INT(harness_count_fds(), n0);
    CHECK(!readable(sv[1]));

    /* recv: a descriptor that is not a memfd segment: closed, not kept. */
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    int raw = (int)syscall(SYS_memfd_create, "raw", 1u /* MFD_CLOEXEC */);
    int sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int n1 = harness_count_fds();
    int bad_fds[] = {null, raw, sock};
    const char *what[] = {"/dev/null", "an unsealed memfd not made by libshm", "a socket"};
    for (int i = 0; i < 3; i++) {
        if (!CHECK(bad_fds[i] >= 0 && send_fd(sv[0], bad_fds[i]) == 0))
            continue;
        CHECKF(shmlib_memfd_recv(sv[1], got, sizeof got) == SHMLIB_EINVAL,
               "memfd_recv of %s is not SHMLIB_EINVAL", what[i]);
        CHECKF(harness_count_fds() == n1, "memfd_recv of %s: %d descriptors, had %d", what[i], harness_count_fds(), n1);
    }
    close(null);
    close(raw);
    close(sock);
    CHECK_INT(harness_count_fds(), n0);

    if (!CHECK_RC(shmlib_create("memfd:", 8192, 0, 0, key, sizeof key), 0))
        goto out;
    int n2 = harness_count_fds(), m2 = listed_memfds();

    /* out_key_len too small: the descriptor is closed again. */
    CHECK_RC(shmlib_memfd_send(sv[0], key), 0);
    CHECK_RC(shmlib_memfd_recv(sv[1], got, 10), SHMLIB_ERANGE);
    CHECK_INT(harness_count_fds(), n2);
    CHECK_INT(listed_memfds(), m2);
    CHECK(!readable(sv[1]));

    /* out_key NULL: refused before anything is received (no lost message). */
    CHECK_RC(shmlib_memfd_send(sv[0], key), 0);
    CHECK_RC(shmlib_memfd_recv(sv[1], NULL, 100), SHMLIB_EINVAL);
    CHECK_INT(harness_count_fds(), n2);
    CHECK(readable(sv[1]));
    if (CHECK_RC(shmlib_memfd_recv(sv[1], got, sizeof got), 0)) {
        /* In the same process: a second descriptor, a key of its own. */
        CHECK(strcmp(got, key) != 0);
        CHECK_INT(harness_count_fds(), n2 + 1);
        CHECK_INT(listed(got), 1);
        CHECK_RC(shmlib_destroy(got), 0);
    }
    CHECK_INT(harness_count_fds(), n2);

    /* Sockets that fail: not a socket at all. */
    int p[2];
    if (CHECK(pipe2(p, O_CLOEXEC) == 0)) {
        CHECK_RC(shmlib_memfd_send(p[1], key), SHMLIB_EOS);
        CHECK(write(p[1], "x", 1) == 1);
        CHECK_RC(shmlib_memfd_recv(p[0], got, sizeof got), SHMLIB_EOS);
        close(p[0]);
        close(p[1]);
    }
    CHECK_RC(shmlib_memfd_send(-1, key), SHMLIB_EOS);
    CHECK_RC(shmlib_memfd_recv(-1, got, sizeof got), SHMLIB_EOS);
    CHECK_RC(shmlib_destroy(key), 0);
    /* A destroyed memfd is no longer held: nothing to send. */
    CHECK_RC(shmlib_memfd_send(sv[0], key), SHMLIB_EINVAL);
out:
    close(sv[0]);
    close(sv[1]);
    CHECK_INT(harness_count_fds(), n0 - 2);
}

/* Malformed memfd keys, creation-only "memfd:", and create flags that do
 * not apply: refused, and nothing left behind. */
static void test_bad_keys(void)
{
    char self[SHMLIB_KEY_MAX], key[SHMLIB_KEY_MAX];
    snprintf(self, sizeof self, "memfd:pid=%d,fd=0,ino=1", getpid());
    const char *bad[] = {
        "memfd:pid=",          "memfd:pid=1",        "memfd:fd=3",           "memfd:pid=1,fd=",
        "memfd:pid=,fd=3",     "memfd:pid=x,fd=3",   "memfd:pid=1,fd=x",     "memfd:pid=-1,fd=3",
        "memfd:pid=1,fd=-3",   "memfd:pid=0,fd=3",   "memfd:fd=3,pid=1",     "memfd:pid=1,fd=3,",
        "memfd:pid=1,fd=3x",   "memfd:pid=1;fd=3",   "memfd:pid= 1,fd=3",    "memfd:pid=1, fd=3",
        "memfd:pid=99999999999,fd=3", "memfd:pid=1,fd=99999999999", "memfd:PID=1,fd=3",
        "memfd:pid=0x10,fd=3", "memfd:/x",           "memfd",                "MEMFD:pid=1,fd=3",
    };
    int n0 = harness_count_fds();
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        void *addr;
        shmlib_stat_t st;
        int rc;
        CHECKF((rc = shmlib_attach(bad[i], NULL, 0, &addr, NULL)) == SHMLIB_EINVAL,
               "attach(\"%s\") = %d, want SHMLIB_EINVAL", bad[i], rc);
        CHECKF((rc = shmlib_stat(bad[i], &st)) == SHMLIB_EINVAL, "stat(\"%s\") = %d, want SHMLIB_EINVAL",
               bad[i], rc);
        CHECKF((rc = shmlib_destroy(bad[i])) == SHMLIB_EINVAL, "destroy(\"%s\") = %d, want SHMLIB_EINVAL",
               bad[i], rc);
        CHECKF((rc = shmlib_create(bad[i], 4096, 0, 0, key, sizeof key)) == SHMLIB_EINVAL,
               "create(\"%s\") = %d, want SHMLIB_EINVAL", bad[i], rc);
    }
    /* "memfd:" is for create only. */
    void *addr;
    shmlib_stat_t st;
    CHECK_RC(shmlib_attach("memfd:", NULL, 0, &addr, NULL), SHMLIB_EINVAL);
    CHECK_RC(shmlib_stat("memfd:", &st), SHMLIB_EINVAL);
    CHECK_RC(shmlib_destroy("memfd:"), SHMLIB_EINVAL);
    /* A held key names a memfd made already: it cannot be created. */
    CHECK_RC(shmlib_create(self, 4096, 0, 0, key, sizeof key), SHMLIB_EINVAL);
    /* Well-formed, but nothing there. */
    CHECK_RC(shmlib_attach(self, NULL, 0, &addr, NULL), SHMLIB_ENOENT);
    CHECK_RC(shmlib_stat(self, &st), SHMLIB_ENOENT);
    CHECK_RC(shmlib_destroy(self), SHMLIB_ENOENT);

    /* Flags that do not apply, and the usual bad arguments. */
    int m0 = listed_memfds();
    CHECK_RC(shmlib_create("memfd:", 4096, 0, SHMLIB_HUGETLB, key, sizeof key), SHMLIB_ENOTSUP);
    CHECK_RC(shmlib_create("memfd:", 4096, 0, SHMLIB_OPEN_EXISTING, key, sizeof key), SHMLIB_EINVAL);
    CHECK_RC(shmlib_create("memfd:", 0, 0, 0, key, sizeof key), SHMLIB_EINVAL);
    CHECK_RC(shmlib_create("memfd:", 4096, 01000, 0, key, sizeof key), SHMLIB_EINVAL);
    CHECK_RC(shmlib_create("memfd:", 4096, 0, 0x80000000u, key, sizeof key), SHMLIB_EINVAL);
    /* out_key NULL where the library chooses the key: EINVAL. A memfd made
     * anyway would be held under a key nobody was told: let it go. */
    char **held = NULL;
    size_t nheld = memfd_keys(&held);
    CHECK_RC(shmlib_create("memfd:", 4096, 0, 0, NULL, 0), SHMLIB_EINVAL);
    CHECK_RC(shmlib_chan_create("memfd:", 4096, 0, 0, NULL, 0), SHMLIB_EINVAL);
    destroy_new_memfds(held, nheld);
    CHECK_RC(shmlib_create("memfd:", 4096, 0, 0, key, 12), SHMLIB_ERANGE); /* not left behind */
    char chan[SHMLIB_KEY_MAX];
    CHECK_RC(shmlib_chan_create("memfd:", 4096, 0, SHMLIB_OPEN_EXISTING, chan, sizeof chan), SHMLIB_EINVAL);
    CHECK_RC(shmlib_chan_create("memfd:", 4096, 0, SHMLIB_HUGETLB, chan, sizeof chan), SHMLIB_ENOTSUP);
    CHECK_INT(harness_count_fds(), n0);
    CHECK_INT(listed_memfds(), m0);
}

/* A channel on a memfd segment, consumed by another process by its key. */
static void test_channel(void)
{
    char key[SHMLIB_KEY_MAX];
    int n0 = harness_count_fds();
    if (!CHECK_RC(shmlib_chan_create("memfd:", 8192, 0, 0, key, sizeof key), 0))
        return;
    int pid, fd;
    CHECKF(parse_key(key, &pid, &fd) && pid == getpid(), "channel key %s", key);
    shmlib_stat_t st;
    if (CHECK_RC(shmlib_stat(key, &st), 0)) {
        CHECK_INT(st.backend, SHMLIB_BACKEND_MEMFD);
        CHECK_INT(st.flags & SHMLIB_STAT_CHANNEL, SHMLIB_STAT_CHANNEL);
        CHECK_INT(st.size, 8192 + 4096);
    }
    shmlib_chan_t ch;
    const int count = 20;
    if (CHECK_RC(shmlib_chan_open(key, SHMLIB_CHAN_PRODUCER, &ch), 0)) {
        for (int i = 0; i < count; i++) {
            unsigned char msg[512];
            harness_fill(msg, 100 + i, (unsigned)i);
            CHECK_RC(shmlib_chan_send(ch, msg, 100 + i, 0), 0);
        }
        CHECK_RC(shmlib_chan_close(ch), 0);
        char count_s[16];
        snprintf(count_s, sizeof count_s, "%d", count);
        CHECK_EXIT_OK(run("--chan", key, count_s, NULL, NULL, NULL, NULL), "--chan");
    }
    CHECK_RC(shmlib_destroy(key), 0);
    CHECK_INT(harness_count_fds(), n0);
}

/* A child forked without exec may not call these either. */
static void test_forked(void)
{
    char key[SHMLIB_KEY_MAX];
    int sv[2];
    if (!CHECK_RC(shmlib_create("memfd:", 4096, 0, 0, key, sizeof key), 0) ||
        !CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0))
        return;
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        harness_child_begin("forked ");
        CHECK_RC(shmlib_memfd_send(sv[0], key), SHMLIB_EFORKED);
        char got[SHMLIB_KEY_MAX];
        CHECK_RC(shmlib_memfd_recv(sv[1], got, sizeof got), SHMLIB_EFORKED);
        harness_child_exit();
    }
    CHECK(pid > 0);
    if (pid > 0)
        CHECK_EXIT_OK(harness_wait(pid), "forked child");
    CHECK(!readable(sv[1]));
    close(sv[0]);
    close(sv[1]);
    CHECK_RC(shmlib_destroy(key), 0);
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strncmp(argv[1], "--", 2) == 0)
        return role(argc, argv);
    umask(077); /* the mode is applied exactly: the umask must not narrow it */
    signal(SIGPIPE, SIG_DFL);
    warm_up();
    int fds = harness_count_fds();
    test_lifecycle();
    test_create_options();
    test_holder_exits();
    test_send_recv_processes();
    test_send_recv_errors();
    test_bad_keys();
    test_channel();
    test_forked();
    CHECK_INT(harness_count_fds(), fds);
    CHECK_INT(listed_memfds(), 0);
    return harness_finish();
}
