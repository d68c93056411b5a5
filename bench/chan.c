/*
 * bench/chan.c - channels against pipes, Unix stream sockets and memcpy,
 * between two processes.
 *
 *     chan [RUNS [RUN_MS [BENCH...]]]
 *
 * BENCH: 64B 4KiB 64KiB 1MiB rtt idle; all of them by default.
 *
 * Every transport does the same work: the producer writes every byte of
 * each message (8-byte words counting up from a per-message seed) and the
 * consumer reads every byte (the sum of the words, checked against the sum
 * the seed gives). The producer is a separate process, this program exec'd
 * again with a role; this process consumes and keeps the time.
 *
 *   chan.c.SIZE       MB/s (10^6 bytes) of SIZE-byte messages (64 B, 4 KiB,
 *                     64 KiB, 1 MiB) through a channel, in place: reserve,
 *                     fill, commit; peek, sum, release. No copy at all.
 *   chan.c.copy.SIZE  the same with shmlib_chan_send from a private buffer
 *                     and shmlib_chan_recv into one: a copy on each side.
 *     pipe:           write() of each filled message into a pipe, read()
 *                     of exactly one message at a time, then the sum.
 *     unix-socket:    the same over socketpair(AF_UNIX, SOCK_STREAM).
 *     memcpy (1 MiB): one process, one thread: fill a buffer, memcpy it to
 *                     another, sum that one. Fill and sum are included, as
 *                     on every other transport.
 *   The channel's capacity is chan_capacity() below (1 MiB, 8 MiB for
 *   1 MiB messages); the pipe's buffer
 *   (F_SETPIPE_SZ) and the socket's send buffer (SO_SNDBUF) are given the
 *   same size where the kernel allows, so no side has more room to run
 *   ahead. The records say what each got.
 *
 *   chan.c.rtt.64B    ns per round trip of a 64-byte message, this process
 *                     to the other and back, through two channels in place
 *                     (the same fill and sum on both sides).
 *     pipe:           the same over two pipes.
 *
 *   chan.idle_cpu     percent of one core used by a consumer process asleep
 *                     in shmlib_chan_recv(SHMLIB_WAIT_FOREVER) for IDLE_MS,
 *                     all its threads (getrusage in that process); up to 3
 *                     runs.
 *
 * Method: each stream is calibrated by a short run of its own, so that one
 * measured run lasts about RUN_MS milliseconds (default 150); RUNS rounds
 * (default 5) then take the transports in a rotating order, so that drift
 * on a noisy machine hits each alike. A run's clock starts after its first
 * eighth of messages has arrived (process start-up and first touch of the
 * memory are not measured) and stops at the last one. bench/run.py takes
 * the medians.
 *
 * Output: one JSON object per benchmark and baseline, on a line:
 *   {"name": ..., "unit": ..., "value_runs": [...], "baseline": ...,
 *    "baseline_runs": [...], "capacity": ..., ...}
 *
 * Channels are POSIX objects named shmlib-bench-PID-N, removed on every
 * exit path, including SIGINT and SIGTERM. A peer whose other side dies
 * ends too: SHMLIB_EPEER, EPIPE or end of file.
 */
#include <shmlib.h>

#include "cring.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_RUNS 32
#define IDLE_MS 1000
#define RTT_SIZE 64
/* Seeds of the replies in the ping-pong differ from those of the requests. */
#define REPLY (UINT64_C(1) << 62)

static const size_t sizes[] = {64, 4096, 64 << 10, 1 << 20};
static const char *const size_names[] = {"64B", "4KiB", "64KiB", "1MiB"};

/* The benchmarks named on the command line; all if none. */
static char **only;
static int nonly;

static int wanted(const char *name)
{
    for (int i = 0; i < nonly; i++)
        if (strcmp(only[i], name) == 0)
            return 1;
    return nonly == 0;
}

/* ------------------------------------------------------------- failures */

static char made[300][80]; /* /dev/shm paths of the channels this process made */
static int nmade;
static const char *role = "chan";

/* Removes this process's channels with plain system calls only, so that it
 * also works from a signal handler and when libshm fails. */
static void remove_all(void)
{
    for (int i = 0; i < nmade; i++)
        unlink(made[i]);
}

static void on_signal(int sig)
{
    remove_all();
    signal(sig, SIG_DFL);
    raise(sig);
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void die(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s: ", role);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1); /* atexit runs remove_all */
}

static void die_shmlib(const char *what, int rc)
{
    char msg[512];
    shmlib_last_error(msg, sizeof msg);
    die("%s: %s (%s)", what, msg, shmlib_strerror(rc));
}

static void check(int rc, const char *what)
{
    if (rc < 0)
        die_shmlib(what, rc);
}

/* ------------------------------------------------------ the common work */

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* Message i: 8-byte words seed, seed + 1, ... with a seed that differs per
 * message. Every size here is a multiple of 8 bytes. */
static uint64_t seed_of(uint64_t i) { return i * UINT64_C(0x9e3779b97f4a7c15); }

static void fill(void *p, size_t size, uint64_t i)
{
    uint64_t *w = p, s = seed_of(i);
    for (size_t j = 0; j < size / 8; j++)
        w[j] = s + j;
}

static uint64_t sum(const void *p, size_t size)
{
    const uint64_t *w = p;
    uint64_t s = 0;
    for (size_t j = 0; j < size / 8; j++)
        s += w[j];
    return s;
}

/* What sum() gives for message i, without reading it. */
static uint64_t expected_sum(size_t size, uint64_t i)
{
    uint64_t n = size / 8;
    return n * seed_of(i) + n * (n - 1) / 2;
}

static void check_sum(const void *p, size_t size, uint64_t i)
{
    if (sum(p, size) != expected_sum(size, i))
        die("message %" PRIu64 " of %zu bytes arrived wrong", i, size);
}

/* ------------------------------------------------------------ transports */

enum transport { CHAN, CHAN_COPY, PIPE, SOCKET, C_RING, NTRANSPORTS };
static const char *const transport_names[] = {"chan", "chan-copy", "pipe", "unix-socket", "c-ring"};

/* The channel's data area for messages of this size: eight messages' worth,
 * at least 1 MiB. The choice matters little: in trials on a 2-core VM, 64
 * KiB to 4 MiB gave the same rates for 64 B and 4 KiB messages, and 4 to 64
 * times the size the same for 64 KiB and 1 MiB ones; only 3 times was
 * slower, the producer then waiting for nearly every release. */
static uint64_t chan_capacity(size_t size)
{
    uint64_t cap = 8 * (uint64_t)size;
    return cap < (1 << 20) ? 1 << 20 : cap;
}

static void write_full(int fd, const void *buf, size_t n)
{
    const char *p = buf;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            die("write: %s", strerror(errno));
        p += w;
        n -= (size_t)w;
    }
}

/* Reads exactly n bytes; 0 on success, 1 at end of file before any byte. */
static int read_full(int fd, void *buf, size_t n)
{
    char *p = buf;
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, p + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            die("read: %s", strerror(errno));
        if (r == 0) {
            if (got == 0)
                return 1;
            die("end of file inside a message");
        }
        got += (size_t)r;
    }
    return 0;
}

/* Producer side of one message. */
static void chan_put(shmlib_chan_t c, int copy, void *buf, size_t size, uint64_t i)
{
    if (copy) {
        fill(buf, size, i);
        check(shmlib_chan_send(c, buf, size, SHMLIB_WAIT_FOREVER), "chan_send");
    } else {
        void *p;
        check(shmlib_chan_reserve(c, size, SHMLIB_WAIT_FOREVER, &p), "chan_reserve");
        fill(p, size, i);
        check(shmlib_chan_commit(c, size), "chan_commit");
    }
}

/* Consumer side of one message. */
static void chan_get(shmlib_chan_t c, int copy, void *buf, size_t size, uint64_t i)
{
    size_t len;
    if (copy) {
        check(shmlib_chan_recv(c, buf, size, &len, SHMLIB_WAIT_FOREVER), "chan_recv");
        if (len != size)
            die("message %" PRIu64 " has %zu bytes, want %zu", i, len, size);
        check_sum(buf, size, i);
    } else {
        const void *p;
        check(shmlib_chan_peek(c, SHMLIB_WAIT_FOREVER, &p, &len), "chan_peek");
        if (len != size)
            die("message %" PRIu64 " has %zu bytes, want %zu", i, len, size);
        check_sum(p, size, i);
        check(shmlib_chan_release(c), "chan_release");
    }
}

/* The end of a stream: EEOS on a channel, end of file on a descriptor. */
static void chan_expect_end(shmlib_chan_t c)
{
    size_t len;
    int rc = shmlib_chan_recv(c, NULL, 0, &len, SHMLIB_WAIT_FOREVER);
    if (rc != SHMLIB_EEOS)
        die_shmlib("recv after the last message (want end of stream)", rc);
}

static void fd_expect_end(int fd)
{
    char c;
    if (read_full(fd, &c, 1) != 1)
        die("data after the last message");
}

/* ----------------------------------------------------------------- roles */

/* --tx chan|chan-copy KEY SIZE COUNT: produce COUNT messages, then close. */
static int role_tx_chan(const char *kind, const char *key, size_t size, uint64_t count)
{
    int copy = strcmp(kind, "chan-copy") == 0;
    shmlib_chan_t c;
    check(shmlib_chan_open(key, SHMLIB_CHAN_PRODUCER, &c), "chan_open");
    void *buf = copy ? aligned_alloc(64, size) : NULL;
    for (uint64_t i = 0; i < count; i++)
        chan_put(c, copy, buf, size, i);
    check(shmlib_chan_close(c), "chan_close");
    free(buf);
    return 0;
}

/* --tx fd FD SIZE COUNT: the same into a pipe or socket, then close it. */
static int role_tx_fd(int fd, size_t size, uint64_t count)
{
    void *buf = aligned_alloc(64, size);
    for (uint64_t i = 0; i < count; i++) {
        fill(buf, size, i);
        write_full(fd, buf, size);
    }
    close(fd);
    free(buf);
    return 0;
}

/* --echo chan KEY_IN KEY_OUT COUNT: answer each request with a reply. */
static int role_echo_chan(const char *in_key, const char *out_key, uint64_t count)
{
    shmlib_chan_t in, out;
    check(shmlib_chan_open(in_key, SHMLIB_CHAN_CONSUMER, &in), "chan_open");
    check(shmlib_chan_open(out_key, SHMLIB_CHAN_PRODUCER, &out), "chan_open");
    for (uint64_t i = 0; i < count; i++) {
        chan_get(in, 0, NULL, RTT_SIZE, i);
        chan_put(out, 0, NULL, RTT_SIZE, i | REPLY);
    }
    chan_expect_end(in);
    check(shmlib_chan_close(in), "chan_close");
    check(shmlib_chan_close(out), "chan_close");
    return 0;
}

/* --echo fd FD_IN FD_OUT COUNT */
static int role_echo_fd(int in, int out, uint64_t count)
{
    uint64_t buf[RTT_SIZE / 8];
    for (uint64_t i = 0; i < count; i++) {
        if (read_full(in, buf, RTT_SIZE) != 0)
            die("end of file at request %" PRIu64, i);
        check_sum(buf, RTT_SIZE, i);
        fill(buf, RTT_SIZE, i | REPLY);
        write_full(out, buf, RTT_SIZE);
    }
    fd_expect_end(in);
    return 0;
}

/* --idle PID FIRST N: N threads wait in recv, each on its channel
 * posix:/shmlib-bench-PID-(FIRST+i); say "ready" on stdout once all are
 * asleep; when a line arrives on stdin, print the CPU time (all threads)
 * and the wall time since "ready", in microseconds; then let each thread
 * take its one message. */
struct idler {
    shmlib_chan_t c;
};

static void *idle_wait(void *arg)
{
    struct idler *w = arg;
    uint64_t buf[RTT_SIZE / 8];
    size_t len;
    check(shmlib_chan_recv(w->c, buf, sizeof buf, &len, SHMLIB_WAIT_FOREVER), "chan_recv");
    return NULL;
}

static int role_idle(int ppid, int first, int n)
{
    struct idler *w = calloc((size_t)n, sizeof *w);
    pthread_t *t = calloc((size_t)n, sizeof *t);
    struct rusage r0, r1;
    char key[SHMLIB_KEY_MAX];
    for (int i = 0; i < n; i++) {
        snprintf(key, sizeof key, "posix:/shmlib-bench-%d-%d", ppid, first + i);
        check(shmlib_chan_open(key, SHMLIB_CHAN_CONSUMER, &w[i].c), "chan_open");
    }
    for (int i = 0; i < n; i++)
        if (pthread_create(&t[i], NULL, idle_wait, &w[i]) != 0)
            die("pthread_create");
    struct timespec settle = {0, 200 * 1000000L}; /* past every spin */
    nanosleep(&settle, NULL);
    printf("ready\n");
    fflush(stdout);
    getrusage(RUSAGE_SELF, &r0);
    double t0 = now_ns();
    char line[16];
    /* The idle time ends when the parent says so, before it sends: waking
     * the threads is not idling. */
    if (fgets(line, sizeof line, stdin) == NULL)
        die("no end of the idle time");
    double wall_us = (now_ns() - t0) / 1e3;
    getrusage(RUSAGE_SELF, &r1);
    double cpu_us = (double)(r1.ru_utime.tv_sec - r0.ru_utime.tv_sec) * 1e6 +
                    (double)(r1.ru_utime.tv_usec - r0.ru_utime.tv_usec) +
                    (double)(r1.ru_stime.tv_sec - r0.ru_stime.tv_sec) * 1e6 +
                    (double)(r1.ru_stime.tv_usec - r0.ru_stime.tv_usec);
    printf("%.0f %.0f\n", cpu_us, wall_us);
    fflush(stdout); /* a pipe: the parent waits for this line */
    for (int i = 0; i < n; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < n; i++) {
        chan_expect_end(w[i].c);
        check(shmlib_chan_close(w[i].c), "chan_close");
    }
    free(w);
    free(t);
    return 0;
}

/* ------------------------------------------------------------ processes */

/* Runs this program again as "/proc/self/exe ARGV..."; the descriptors in
 * keep (made O_CLOEXEC like all others here) are passed on; out, if not
 * -1, becomes its stdout. */
static pid_t spawn(const char *const argv[], const int *keep, int nkeep, int in, int out)
{
    const char *args[16] = {"/proc/self/exe"};
    int n = 1;
    for (int i = 0; argv[i] != NULL && n < 15; i++)
        args[n++] = argv[i];
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0)
        die("fork: %s", strerror(errno));
    if (pid == 0) {
        for (int i = 0; i < nkeep; i++)
            fcntl(keep[i], F_SETFD, 0);
        if (in >= 0)
            dup2(in, STDIN_FILENO);
        if (out >= 0)
            dup2(out, STDOUT_FILENO);
        execv(args[0], (char *const *)args);
        _exit(127);
    }
    return pid;
}

static void reap(pid_t pid, const char *what)
{
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            die("waitpid: %s", strerror(errno));
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        die("%s: wait status 0x%x", what, (unsigned)status);
}

/* Makes a channel named after this process; returns its key in key. */
static void new_chan(uint64_t capacity, char key[SHMLIB_KEY_MAX])
{
    static int n;
    if (nmade == (int)(sizeof made / sizeof made[0]))
        die("too many channels");
    snprintf(key, SHMLIB_KEY_MAX, "posix:/shmlib-bench-%d-%d", (int)getpid(), n);
    snprintf(made[nmade++], sizeof made[0], "/dev/shm/shmlib-bench-%d-%d", (int)getpid(), n++);
    check(shmlib_chan_create(key, capacity, 0600, 0, NULL, 0), "chan_create");
}

static void destroy_chan(const char *key)
{
    check(shmlib_destroy(key), "destroy");
    nmade--; /* the channels are made and destroyed one at a time (rtt: two, LIFO) */
}

/* A c-ring (cring.h) in a new /dev/shm object; returns its name in name. */
static struct cring *new_cring(uint64_t capacity, char name[64])
{
    static int n;
    if (nmade == (int)(sizeof made / sizeof made[0]))
        die("too many channels");
    snprintf(name, 64, "/shmlib-bench-%d-cring%d", (int)getpid(), n);
    snprintf(made[nmade++], sizeof made[0], "/dev/shm/shmlib-bench-%d-cring%d", (int)getpid(), n++);
    int fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0 || ftruncate(fd, 4096 + capacity) != 0)
        die("c-ring %s: %s", name, strerror(errno));
    struct cring *r = mmap(NULL, 4096 + capacity, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (r == MAP_FAILED)
        die("mmap: %s", strerror(errno));
    r->capacity = capacity;
    return r;
}

static struct cring *map_cring(const char *name)
{
    int fd = shm_open(name, O_RDWR | O_CLOEXEC, 0);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0)
        die("c-ring %s: %s", name, strerror(errno));
    struct cring *r = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (r == MAP_FAILED)
        die("mmap: %s", strerror(errno));
    return r;
}

static void destroy_cring(struct cring *r, const char *name)
{
    munmap(r, 4096 + r->capacity);
    shm_unlink(name);
    nmade--;
}

/* The c-ring's side of one message, as chan_put and chan_get. */
static void cring_put(struct cring *r, uint64_t *pos, size_t size, uint64_t i)
{
    uint64_t pad;
    void *p = cring_reserve(r, *pos, size, &pad);
    fill(p, size, i);
    *pos = cring_commit(r, *pos, pad, size);
}

static void cring_get(struct cring *r, uint64_t *pos, size_t size, uint64_t i)
{
    size_t len;
    uint64_t rec;
    const void *p = cring_peek(r, pos, &len, &rec);
    if (len != size)
        die("message %" PRIu64 " has %zu bytes, want %zu", i, len, size);
    check_sum(p, size, i);
    cring_release(r, pos, rec);
}

/* --tx c-ring NAME SIZE COUNT */
static int role_tx_cring(const char *name, size_t size, uint64_t count)
{
    struct cring *r = map_cring(name);
    uint64_t pos = 0;
    for (uint64_t i = 0; i < count; i++)
        cring_put(r, &pos, size, i);
    return 0;
}

/* --echo c-ring NAME_IN NAME_OUT COUNT */
static int role_echo_cring(const char *in_name, const char *out_name, uint64_t count)
{
    struct cring *in = map_cring(in_name), *out = map_cring(out_name);
    uint64_t ipos = 0, opos = 0;
    for (uint64_t i = 0; i < count; i++) {
        cring_get(in, &ipos, RTT_SIZE, i);
        cring_put(out, &opos, RTT_SIZE, i | REPLY);
    }
    return 0;
}

static void num(char *buf, size_t len, uint64_t v) { snprintf(buf, len, "%" PRIu64, v); }

/* ----------------------------------------------------------- throughput */

/* What the buffers of the baselines got, for the records. */
static int pipe_buffer, socket_buffer;

/* One stream of count messages of size bytes from a new producer process;
 * returns MB/s over all but the first eighth. */
static double stream(enum transport t, size_t size, uint64_t count)
{
    char key[SHMLIB_KEY_MAX], ssize[32], scount[32], sfd[16];
    uint64_t warm = count / 8;
    double t0 = 0;
    void *buf = aligned_alloc(64, size);
    pid_t pid;

    num(ssize, sizeof ssize, size);
    num(scount, sizeof scount, count);
    if (t == CHAN || t == CHAN_COPY) {
        shmlib_chan_t c;
        new_chan(chan_capacity(size), key);
        check(shmlib_chan_open(key, SHMLIB_CHAN_CONSUMER, &c), "chan_open");
        pid = spawn((const char *[]){"--tx", transport_names[t], key, ssize, scount, NULL}, NULL, 0, -1, -1);
        for (uint64_t i = 0; i < count; i++) {
            if (i == warm)
                t0 = now_ns();
            chan_get(c, t == CHAN_COPY, buf, size, i);
        }
        double dt = now_ns() - t0;
        chan_expect_end(c);
        check(shmlib_chan_close(c), "chan_close");
        reap(pid, "producer");
        destroy_chan(key);
        free(buf);
        return (double)(count - warm) * (double)size / dt * 1e3;
    }

    if (t == C_RING) {
        char name[64];
        struct cring *r = new_cring(chan_capacity(size), name);
        uint64_t pos = 0;
        pid = spawn((const char *[]){"--tx", "c-ring", name, ssize, scount, NULL}, NULL, 0, -1, -1);
        for (uint64_t i = 0; i < count; i++) {
            if (i == warm)
                t0 = now_ns();
            cring_get(r, &pos, size, i);
        }
        double dt = now_ns() - t0;
        reap(pid, "producer");
        destroy_cring(r, name);
        free(buf);
        return (double)(count - warm) * (double)size / dt * 1e3;
    }

    int fds[2]; /* [0] this process reads, [1] the producer writes */
    int bufsize = (int)chan_capacity(size);
    if (t == PIPE) {
        if (pipe2(fds, O_CLOEXEC) < 0)
            die("pipe2: %s", strerror(errno));
        /* Over /proc/sys/fs/pipe-max-size only with CAP_SYS_RESOURCE: then
         * as large as allowed. */
        for (int s = bufsize; s > 65536 && fcntl(fds[1], F_SETPIPE_SZ, s) < 0; s /= 2)
            ;
        pipe_buffer = fcntl(fds[1], F_GETPIPE_SZ);
    } else {
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) < 0)
            die("socketpair: %s", strerror(errno));
        /* A Unix stream socket queues what is sent on the receiver but
         * charges it to the sender's buffer; the kernel doubles the value
         * (for its bookkeeping) and caps it at net.core.wmem_max. */
        setsockopt(fds[1], SOL_SOCKET, SO_SNDBUF, &bufsize, sizeof bufsize);
        socklen_t len = sizeof socket_buffer;
        getsockopt(fds[1], SOL_SOCKET, SO_SNDBUF, &socket_buffer, &len);
    }
    snprintf(sfd, sizeof sfd, "%d", fds[1]);
    pid = spawn((const char *[]){"--tx", "fd", sfd, ssize, scount, NULL}, &fds[1], 1, -1, -1);
    close(fds[1]);
    for (uint64_t i = 0; i < count; i++) {
        if (i == warm)
            t0 = now_ns();
        if (read_full(fds[0], buf, size) != 0)
            die("end of file at message %" PRIu64, i);
        check_sum(buf, size, i);
    }
    double dt = now_ns() - t0;
    fd_expect_end(fds[0]);
    close(fds[0]);
    reap(pid, "producer");
    free(buf);
    return (double)(count - warm) * (double)size / dt * 1e3;
}

/* The single-threaded baseline: fill, memcpy, sum in one process. It takes
 * a transport, unused, only to be calibrated like stream(). */
static double memcpy_run(enum transport t, size_t size, uint64_t count)
{
    (void)t;
    void *src = aligned_alloc(64, size), *dst = aligned_alloc(64, size);
    uint64_t warm = count / 8;
    double t0 = 0;
    for (uint64_t i = 0; i < count; i++) {
        if (i == warm)
            t0 = now_ns();
        fill(src, size, i);
        memcpy(dst, src, size);
        check_sum(dst, size, i);
    }
    double dt = now_ns() - t0;
    free(src);
    free(dst);
    return (double)(count - warm) * (double)size / dt * 1e3;
}

/* How many messages make a measured run of about run_ms, from a short run
 * (at least 8 messages, 16 MiB and 20000 messages at most). */
static uint64_t calibrate(double (*run)(enum transport, size_t, uint64_t), enum transport t,
                          size_t size, double run_ms)
{
    uint64_t n = (16 << 20) / size;
    n = n < 8 ? 8 : n > 20000 ? 20000 : n;
    double mbps = run(t, size, n);
    double per_ms = mbps * 1e3 / (double)size; /* messages per ms */
    uint64_t count = (uint64_t)(per_ms * run_ms * 8 / 7); /* 7/8 are measured */
    return count < 16 ? 16 : count;
}

static void print_runs(const char *key, const double *v, int n)
{
    printf("\"%s\": [", key);
    for (int i = 0; i < n; i++)
        printf("%s%.6g", i ? ", " : "", v[i]);
    printf("]");
}

static void record(const char *name, const char *unit, const double *runs, const char *baseline,
                   const double *baseline_runs, int n, const char *extra)
{
    printf("{\"name\": \"%s\", \"unit\": \"%s\", ", name, unit);
    print_runs("value_runs", runs, n);
    if (baseline != NULL) {
        printf(", \"baseline\": \"%s\", ", baseline);
        print_runs("baseline_runs", baseline_runs, n);
    } else {
        printf(", \"baseline\": null, \"baseline_runs\": null");
    }
    printf("%s}\n", extra);
    fflush(stdout);
}

static void bench_throughput(int runs, double run_ms)
{
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        size_t size = sizes[s];
        uint64_t count[NTRANSPORTS], mcount = 0;
        double mbps[NTRANSPORTS][MAX_RUNS], memcpy_mbps[MAX_RUNS];
        int with_memcpy = size == (1 << 20);

        if (!wanted(size_names[s]))
            continue;
        fprintf(stderr, "chan: %s ...\n", size_names[s]);
        for (int t = 0; t < NTRANSPORTS; t++)
            count[t] = calibrate(stream, t, size, run_ms);
        if (with_memcpy)
            mcount = calibrate(memcpy_run, CHAN, size, run_ms);
        for (int r = 0; r < runs; r++) {
            for (int k = 0; k < NTRANSPORTS; k++) {
                int t = (k + r) % NTRANSPORTS;
                mbps[t][r] = stream(t, size, count[t]);
            }
            if (with_memcpy)
                memcpy_mbps[r] = memcpy_run(CHAN, size, mcount);
        }

        char name[64], extra[512];
        snprintf(extra, sizeof extra,
                 ", \"size\": %zu, \"capacity\": %" PRIu64 ", \"pipe_buffer\": %d, "
                 "\"socket_sndbuf\": %d, \"messages\": {\"chan\": %" PRIu64 ", \"chan-copy\": %"
                 PRIu64 ", \"pipe\": %" PRIu64 ", \"unix-socket\": %" PRIu64 "}",
                 size, chan_capacity(size), pipe_buffer, socket_buffer, count[CHAN],
                 count[CHAN_COPY], count[PIPE], count[SOCKET]);
        snprintf(name, sizeof name, "chan.c.%s", size_names[s]);
        record(name, "MB/s", mbps[CHAN], "pipe", mbps[PIPE], runs, extra);
        record(name, "MB/s", mbps[CHAN], "unix-socket", mbps[SOCKET], runs, extra);
        record(name, "MB/s", mbps[CHAN], "c-ring", mbps[C_RING], runs, extra);
        if (with_memcpy)
            record(name, "MB/s", mbps[CHAN], "memcpy", memcpy_mbps, runs, extra);
        snprintf(name, sizeof name, "chan.c.copy.%s", size_names[s]);
        record(name, "MB/s", mbps[CHAN_COPY], "pipe", mbps[PIPE], runs, extra);
        record(name, "MB/s", mbps[CHAN_COPY], "unix-socket", mbps[SOCKET], runs, extra);
    }
}

/* -------------------------------------------------------------- latency */

/* count round trips of a 64-byte message; returns ns per round trip over
 * all but the first eighth, and if trips is given, stores each of those
 * round trips' ns there. t is CHAN, C_RING or PIPE. */
static double ping_pong(enum transport t, uint64_t count, double *trips)
{
    char scount[32];
    uint64_t warm = count / 8, buf[RTT_SIZE / 8];
    double t0 = 0, dt, prev = 0;
    pid_t pid;

#define TRIP(i)                                                                                    \
    do {                                                                                           \
        if (trips != NULL && (i) >= warm) {                                                        \
            double now = now_ns();                                                                 \
            trips[(i) - warm] = now - prev;                                                        \
            prev = now;                                                                            \
        }                                                                                          \
    } while (0)

    num(scount, sizeof scount, count);
    if (t == CHAN) {
        char req_key[SHMLIB_KEY_MAX], rep_key[SHMLIB_KEY_MAX];
        shmlib_chan_t req, rep;
        new_chan(chan_capacity(RTT_SIZE), req_key);
        new_chan(chan_capacity(RTT_SIZE), rep_key);
        check(shmlib_chan_open(req_key, SHMLIB_CHAN_PRODUCER, &req), "chan_open");
        check(shmlib_chan_open(rep_key, SHMLIB_CHAN_CONSUMER, &rep), "chan_open");
        pid = spawn((const char *[]){"--echo", "chan", req_key, rep_key, scount, NULL}, NULL, 0, -1, -1);
        for (uint64_t i = 0; i < count; i++) {
            if (i == warm)
                prev = t0 = now_ns();
            chan_put(req, 0, NULL, RTT_SIZE, i);
            chan_get(rep, 0, NULL, RTT_SIZE, i | REPLY);
            TRIP(i);
        }
        dt = now_ns() - t0;
        check(shmlib_chan_close(req), "chan_close");
        chan_expect_end(rep);
        check(shmlib_chan_close(rep), "chan_close");
        reap(pid, "echo");
        destroy_chan(rep_key);
        destroy_chan(req_key);
    } else if (t == C_RING) {
        char req_name[64], rep_name[64];
        struct cring *req = new_cring(chan_capacity(RTT_SIZE), req_name);
        struct cring *rep = new_cring(chan_capacity(RTT_SIZE), rep_name);
        uint64_t qpos = 0, ppos = 0;
        pid = spawn((const char *[]){"--echo", "c-ring", req_name, rep_name, scount, NULL}, NULL, 0, -1, -1);
        for (uint64_t i = 0; i < count; i++) {
            if (i == warm)
                prev = t0 = now_ns();
            cring_put(req, &qpos, RTT_SIZE, i);
            cring_get(rep, &ppos, RTT_SIZE, i | REPLY);
            TRIP(i);
        }
        dt = now_ns() - t0;
        reap(pid, "echo");
        destroy_cring(req, req_name);
        destroy_cring(rep, rep_name);
    } else {
        int req[2], rep[2];
        char sin[16], sout[16];
        if (pipe2(req, O_CLOEXEC) < 0 || pipe2(rep, O_CLOEXEC) < 0)
            die("pipe2: %s", strerror(errno));
        snprintf(sin, sizeof sin, "%d", req[0]);
        snprintf(sout, sizeof sout, "%d", rep[1]);
        int keep[2] = {req[0], rep[1]};
        pid = spawn((const char *[]){"--echo", "fd", sin, sout, scount, NULL}, keep, 2, -1, -1);
        close(req[0]);
        close(rep[1]);
        for (uint64_t i = 0; i < count; i++) {
            if (i == warm)
                t0 = now_ns();
            fill(buf, RTT_SIZE, i);
            write_full(req[1], buf, RTT_SIZE);
            if (read_full(rep[0], buf, RTT_SIZE) != 0)
                die("end of file at reply %" PRIu64, i);
            check_sum(buf, RTT_SIZE, i | REPLY);
        }
        dt = now_ns() - t0;
        close(req[1]);
        fd_expect_end(rep[0]);
        close(rep[0]);
        reap(pid, "echo");
    }
#undef TRIP
    return dt / (double)(count - warm);
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The q-quantile (0..1) of n samples, which it sorts. */
static double quantile(double *v, uint64_t n, double q)
{
    qsort(v, n, sizeof *v, by_value);
    return v[(uint64_t)(q * (double)(n - 1))];
}

static void bench_latency(int runs, double run_ms)
{
    enum { NT = 3 };
    static const enum transport ts[NT] = {CHAN, PIPE, C_RING};
    double mean[NT][MAX_RUNS], p50[NT][MAX_RUNS], p99[NT][MAX_RUNS];
    uint64_t n[NT];
    fprintf(stderr, "chan: rtt ...\n");
    for (int k = 0; k < NT; k++) {
        double ns = ping_pong(ts[k], 2000, NULL);
        n[k] = (uint64_t)(run_ms * 1e6 / ns * 8 / 7);
        if (n[k] > 4000000)
            n[k] = 4000000;
    }
    for (int r = 0; r < runs; r++) {
        for (int j = 0; j < NT; j++) {
            int k = (j + r) % NT;
            double *trips = malloc(sizeof(double) * n[k]);
            if (trips == NULL)
                die("out of memory");
            mean[k][r] = ping_pong(ts[k], n[k], trips);
            uint64_t m = n[k] - n[k] / 8;
            p50[k][r] = quantile(trips, m, 0.50);
            p99[k][r] = quantile(trips, m, 0.99);
            free(trips);
        }
    }
    char extra[256];
    snprintf(extra, sizeof extra,
             ", \"size\": %d, \"capacity\": %" PRIu64 ", \"round_trips\": {\"chan\": %" PRIu64
             ", \"pipe\": %" PRIu64 ", \"c-ring\": %" PRIu64 "}",
             RTT_SIZE, chan_capacity(RTT_SIZE), n[0], n[1], n[2]);
    record("chan.c.rtt.64B", "ns", mean[0], "pipe", mean[1], runs, extra);
    record("chan.c.rtt.64B", "ns", p50[0], "c-ring", p50[2], runs, extra);
    record("chan.c.rtt.64B.p99", "ns", p99[0], "c-ring", p99[2], runs, extra);
}

/* ------------------------------------------------------------- idle CPU */

/* waiters idle waits in one process; returns the percent of a core that
 * process used while they slept (the last message wakes the last one). */
static double idle_run(int waiters)
{
    char key[SHMLIB_KEY_MAX], line[128], spid[16], sfirst[16], sn[16];
    shmlib_chan_t *c = calloc((size_t)waiters, sizeof *c);
    char (*keys)[SHMLIB_KEY_MAX] = calloc((size_t)waiters, sizeof *keys);
    int out[2], first = -1;
    uint64_t msg[RTT_SIZE / 8];
    double cpu_us, wall_us;

    for (int i = 0; i < waiters; i++) {
        new_chan(4096, keys[i]);
        int n = atoi(strrchr(keys[i], '-') + 1);
        if (first < 0)
            first = n;
        check(shmlib_chan_open(keys[i], SHMLIB_CHAN_PRODUCER, &c[i]), "chan_open");
    }
    (void)key;
    if (pipe2(out, O_CLOEXEC) < 0)
        die("pipe2: %s", strerror(errno));
    snprintf(spid, sizeof spid, "%d", (int)getpid());
    snprintf(sfirst, sizeof sfirst, "%d", first);
    snprintf(sn, sizeof sn, "%d", waiters);
    int in[2];
    if (pipe2(in, O_CLOEXEC) < 0)
        die("pipe2: %s", strerror(errno));
    pid_t pid = spawn((const char *[]){"--idle", spid, sfirst, sn, NULL}, NULL, 0, in[0], out[1]);
    close(out[1]);
    close(in[0]);
    FILE *f = fdopen(out[0], "r");
    if (f == NULL || fgets(line, sizeof line, f) == NULL || strcmp(line, "ready\n") != 0)
        die("the idle consumer did not get ready");
    struct timespec idle = {IDLE_MS / 1000, (IDLE_MS % 1000) * 1000000L};
    nanosleep(&idle, NULL);
    if (write(in[1], "end\n", 4) != 4)
        die("the idle consumer is gone");
    close(in[1]);
    fill(msg, sizeof msg, 0);
    for (int i = 0; i < waiters; i++)
        check(shmlib_chan_send(c[i], msg, sizeof msg, SHMLIB_WAIT_FOREVER), "chan_send");
    if (fgets(line, sizeof line, f) == NULL || sscanf(line, "%lf %lf", &cpu_us, &wall_us) != 2)
        die("the idle consumer did not report");
    for (int i = 0; i < waiters; i++)
        check(shmlib_chan_close(c[i]), "chan_close");
    fclose(f);
    reap(pid, "idle consumer");
    for (int i = 0; i < waiters; i++)
        destroy_chan(keys[i]);
    free(c);
    free(keys);
    return cpu_us / wall_us * 100;
}

static void bench_idle(int runs)
{
    double pct[MAX_RUNS];
    char extra[64];
    fprintf(stderr, "chan: idle ...\n");
    for (int r = 0; r < runs; r++)
        pct[r] = idle_run(1);
    snprintf(extra, sizeof extra, ", \"idle_ms\": %d", IDLE_MS);
    record("chan.idle_cpu", "%", pct, NULL, NULL, runs, extra);
    for (int r = 0; r < runs; r++)
        pct[r] = idle_run(256);
    snprintf(extra, sizeof extra, ", \"idle_ms\": %d, \"waiters\": 256", IDLE_MS);
    record("chan.idle.256", "%", pct, NULL, NULL, runs, extra);
}

int main(int argc, char **argv)
{
    if (argc == 6 && strcmp(argv[1], "--tx") == 0) {
        role = "chan --tx";
        size_t size = strtoull(argv[4], NULL, 10);
        uint64_t count = strtoull(argv[5], NULL, 10);
        if (strcmp(argv[2], "fd") == 0)
            return role_tx_fd(atoi(argv[3]), size, count);
        if (strcmp(argv[2], "c-ring") == 0)
            return role_tx_cring(argv[3], size, count);
        return role_tx_chan(argv[2], argv[3], size, count);
    }
    if (argc == 6 && strcmp(argv[1], "--echo") == 0) {
        role = "chan --echo";
        uint64_t count = strtoull(argv[5], NULL, 10);
        if (strcmp(argv[2], "fd") == 0)
            return role_echo_fd(atoi(argv[3]), atoi(argv[4]), count);
        if (strcmp(argv[2], "c-ring") == 0)
            return role_echo_cring(argv[3], argv[4], count);
        return role_echo_chan(argv[3], argv[4], count);
    }
    if (argc == 5 && strcmp(argv[1], "--idle") == 0) {
        role = "chan --idle";
        return role_idle(atoi(argv[2]), atoi(argv[3]), atoi(argv[4]));
    }

    int runs = argc > 1 ? atoi(argv[1]) : 5;
    double run_ms = argc > 2 ? atof(argv[2]) : 150;
    if (runs < 1 || runs > MAX_RUNS || run_ms <= 0) {
        fprintf(stderr, "usage: chan [RUNS [RUN_MS [BENCH...]]], BENCH one of 64B 4KiB 64KiB "
                        "1MiB rtt idle (default: all)\n");
        return 2;
    }
    only = argv + 3;
    nonly = argc > 3 ? argc - 3 : 0;
    atexit(remove_all);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    /* Ignored here and so in the exec'd producers: one whose reader died
     * gets EPIPE and says so, instead of dying of SIGPIPE without a word. */
    signal(SIGPIPE, SIG_IGN);

    bench_throughput(runs, run_ms);
    if (wanted("rtt"))
        bench_latency(runs, run_ms);
    if (wanted("idle"))
        bench_idle(runs < 3 ? runs : 3); /* a second each */
    return 0;
}
