/*
 * bench/bcast.c - broadcast channels against one-consumer channels and
 * pipes, between processes.
 *
 *     bcast [RUNS [RUN_MS]]
 *
 *   bcast.c.SIZE.4subs  MB/s delivered to EACH of 4 subscriber processes
 *                       (SIZE: 64B, 1MiB) by one lossless broadcast channel,
 *                       in place: the producer (this process) reserves,
 *                       fills every word and commits once; each subscriber
 *                       peeks, sums every word, checks it and releases.
 *     chan.c.SIZE       baseline: the same through a channel to one
 *                       consumer process, in place.
 *     pipe              baseline: write() of each filled message into a
 *                       pipe, one reader process that reads exactly one
 *                       message at a time and sums it.
 *
 * A run's clock starts when the producer has sent the first eighth of its
 * messages and stops when every reader has exited (after checking its
 * last message), so that the slowest reader sets the rate; the readers
 * join before the first message. Capacity: eight messages' worth, at
 * least 1 MiB (as bench/chan.c); the pipe's buffer the same where the
 * kernel allows. Runs rotate the transports, RUNS rounds (default 5), each
 * about RUN_MS (default 150 ms) after a calibration run. Output: one JSON
 * record per line, as bench/chan.c's; bench/run.py takes the medians.
 *
 * Segments are POSIX objects named shmlib-bench-PID-bN, removed on
 * every exit path of this process, including SIGINT and SIGTERM.
 */
#include <shmlib.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_RUNS 32
#define SUBS 4

static char made[96];

static void remove_made(void)
{
    if (made[0])
        unlink(made);
    made[0] = 0;
}

static void on_signal(int sig)
{
    remove_made();
    signal(sig, SIG_DFL);
    raise(sig);
}

static void die(const char *what, int rc)
{
    char msg[512] = "";
    shmlib_last_error(msg, sizeof msg);
    fprintf(stderr, "bcast: %s: %d %s\n", what, rc, msg);
    remove_made();
    exit(1);
}

static void check(int rc, const char *what)
{
    if (rc != SHMLIB_OK)
        die(what, rc);
}

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* Message i: 8-byte words seed, seed + 1, ...; every size is a multiple of 8. */
static uint64_t seed_of(uint64_t i) { return i * UINT64_C(0x9e3779b97f4a7c15); }

static void fill(void *p, size_t size, uint64_t i)
{
    uint64_t *w = p, s = seed_of(i);
    for (size_t j = 0; j < size / 8; j++)
        w[j] = s + j;
}

static void check_sum(const void *p, size_t size, uint64_t i)
{
    const uint64_t *w = p;
    uint64_t s = 0, n = size / 8;
    for (size_t j = 0; j < n; j++)
        s += w[j];
    if (s != n * seed_of(i) + n * (n - 1) / 2) {
        fprintf(stderr, "bcast: message %" PRIu64 " arrived wrong\n", i);
        exit(1);
    }
}

static uint64_t capacity_for(size_t size)
{
    uint64_t cap = 8 * (uint64_t)size;
    return cap < (1 << 20) ? 1 << 20 : cap;
}

enum transport { BCAST, CHAN, PIPE, NTRANSPORTS };

/* Reader roles: --read chan|bcast KEY SIZE COUNT READYFD, --read fd FD SIZE COUNT READYFD. */
static int role_read(char **argv)
{
    size_t size = strtoull(argv[3], NULL, 10);
    uint64_t count = strtoull(argv[4], NULL, 10);
    int ready = atoi(argv[5]);
    if (strcmp(argv[1], "fd") == 0) {
        int fd = atoi(argv[2]);
        char *buf = aligned_alloc(64, size);
        if (write(ready, "r", 1) != 1)
            return 1;
        for (uint64_t i = 0; i < count; i++) {
            for (size_t got = 0; got < size;) {
                ssize_t r = read(fd, buf + got, size - got);
                if (r <= 0 && !(r < 0 && errno == EINTR))
                    return 1;
                got += r > 0 ? (size_t)r : 0;
            }
            check_sum(buf, size, i);
        }
        return 0;
    }
    shmlib_chan_t c;
    int end = strcmp(argv[1], "bcast") == 0 ? SHMLIB_CHAN_SUBSCRIBER : SHMLIB_CHAN_CONSUMER;
    check(shmlib_chan_open(argv[2], end, &c), "chan_open");
    if (write(ready, "r", 1) != 1)
        return 1;
    for (uint64_t i = 0; i < count; i++) {
        const void *p;
        size_t len;
        check(shmlib_chan_peek(c, SHMLIB_WAIT_FOREVER, &p, &len), "chan_peek");
        check_sum(p, len, i);
        check(shmlib_chan_release(c), "chan_release");
    }
    check(shmlib_chan_close(c), "chan_close");
    return 0;
}

static pid_t spawn_reader(const char *kind, const char *what, size_t size, uint64_t count, int *ready_rd)
{
    int p[2];
    if (pipe(p) != 0)
        exit(1);
    char ssize[32], scount[32], sready[16];
    snprintf(ssize, sizeof ssize, "%zu", size);
    snprintf(scount, sizeof scount, "%" PRIu64, count);
    snprintf(sready, sizeof sready, "%d", p[1]);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        close(p[0]);
        execl("/proc/self/exe", "bcast", "--read", kind, what, ssize, scount, sready, (char *)NULL);
        _exit(127);
    }
    close(p[1]);
    *ready_rd = p[0];
    return pid;
}

static void await_ready(int fd)
{
    char c;
    if (read(fd, &c, 1) != 1) {
        fprintf(stderr, "bcast: a reader did not start\n");
        exit(1);
    }
    close(fd);
}

static void reap(pid_t pid)
{
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            exit(1);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "bcast: a reader failed: status 0x%x\n", (unsigned)status);
        remove_made();
        exit(1);
    }
}

/* One run: count messages of size bytes to the readers; MB/s per reader. */
static double run(enum transport t, size_t size, uint64_t count)
{
    static int n;
    char key[SHMLIB_KEY_MAX], sfd[16];
    pid_t pids[SUBS];
    int readers = t == BCAST ? SUBS : 1, fds[2] = {-1, -1};
    shmlib_chan_t c = 0;
    if (t == PIPE) {
        if (pipe2(fds, O_CLOEXEC) != 0)
            exit(1);
        for (int s = (int)capacity_for(size); s > 65536 && fcntl(fds[1], F_SETPIPE_SZ, s) < 0; s /= 2)
            ;
        fcntl(fds[0], F_SETFD, 0);
        snprintf(sfd, sizeof sfd, "%d", fds[0]);
    } else {
        snprintf(key, sizeof key, "posix:/shmlib-bench-%d-b%d", (int)getpid(), n);
        snprintf(made, sizeof made, "/dev/shm/shmlib-bench-%d-b%d", (int)getpid(), n++);
        if (t == BCAST)
            check(shmlib_bcast_create(key, capacity_for(size), SUBS, 0600, 0, NULL, 0), "bcast_create");
        else
            check(shmlib_chan_create(key, capacity_for(size), 0600, 0, NULL, 0), "chan_create");
        check(shmlib_chan_open(key, SHMLIB_CHAN_PRODUCER, &c), "chan_open");
    }
    for (int i = 0; i < readers; i++) {
        int ready;
        pids[i] = spawn_reader(t == PIPE ? "fd" : t == BCAST ? "bcast" : "chan", t == PIPE ? sfd : key, size, count, &ready);
        await_ready(ready);
    }
    if (t == PIPE)
        close(fds[0]);
    char *buf = aligned_alloc(64, size);
    uint64_t warm = count / 8;
    double t0 = 0;
    for (uint64_t i = 0; i < count; i++) {
        if (i == warm)
            t0 = now_ns();
        if (t == PIPE) {
            fill(buf, size, i);
            for (size_t off = 0; off < size;) {
                ssize_t w = write(fds[1], buf + off, size - off);
                if (w <= 0 && !(w < 0 && errno == EINTR))
                    exit(1);
                off += w > 0 ? (size_t)w : 0;
            }
        } else {
            void *p;
            check(shmlib_chan_reserve(c, size, SHMLIB_WAIT_FOREVER, &p), "chan_reserve");
            fill(p, size, i);
            check(shmlib_chan_commit(c, size), "chan_commit");
        }
    }
    for (int i = 0; i < readers; i++)
        reap(pids[i]);
    double dt = now_ns() - t0;
    if (t == PIPE) {
        close(fds[1]);
    } else {
        check(shmlib_chan_close(c), "chan_close");
        check(shmlib_destroy(key), "destroy");
        made[0] = 0;
    }
    free(buf);
    return (double)(count - warm) * (double)size / dt * 1e3;
}

static uint64_t calibrate(enum transport t, size_t size, double run_ms)
{
    uint64_t n = (16 << 20) / size;
    n = n < 64 ? 64 : n > 40000 ? 40000 : n;
    double per_ms = run(t, size, n) * 1e3 / (double)size;
    uint64_t count = (uint64_t)(per_ms * run_ms * 8 / 7);
    return count < 64 ? 64 : count;
}

static void record(const char *name, const double *v, const char *base, const double *b, int n, size_t size)
{
    printf("{\"name\": \"%s\", \"unit\": \"MB/s\", \"value_runs\": [", name);
    for (int i = 0; i < n; i++)
        printf("%s%.6g", i ? ", " : "", v[i]);
    printf("], \"baseline\": \"%s\", \"baseline_runs\": [", base);
    for (int i = 0; i < n; i++)
        printf("%s%.6g", i ? ", " : "", b[i]);
    printf("], \"size\": %zu, \"capacity\": %" PRIu64 ", \"subscribers\": %d}\n", size, capacity_for(size), SUBS);
    fflush(stdout);
}

int main(int argc, char **argv)
{
    if (argc == 7 && strcmp(argv[1], "--read") == 0)
        return role_read(argv + 1);
    int runs = argc > 1 ? atoi(argv[1]) : 5;
    double run_ms = argc > 2 ? atof(argv[2]) : 150;
    runs = runs < 1 ? 1 : runs > MAX_RUNS ? MAX_RUNS : runs;
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    static const size_t sizes[] = {64, 1 << 20};
    static const char *const names[] = {"64B", "1MiB"};
    static const char *const base_names[] = {"bcast", "chan.c", "pipe"};
    for (int s = 0; s < 2; s++) {
        fprintf(stderr, "bcast: %s ...\n", names[s]);
        uint64_t count[NTRANSPORTS];
        double mbps[NTRANSPORTS][MAX_RUNS];
        for (int t = 0; t < NTRANSPORTS; t++)
            count[t] = calibrate(t, sizes[s], run_ms);
        for (int r = 0; r < runs; r++)
            for (int k = 0; k < NTRANSPORTS; k++) {
                int t = (k + r) % NTRANSPORTS;
                mbps[t][r] = run(t, sizes[s], count[t]);
            }
        char name[64], base[64];
        snprintf(name, sizeof name, "bcast.c.%s.4subs", names[s]);
        snprintf(base, sizeof base, "%s.%s", base_names[CHAN], names[s]);
        record(name, mbps[BCAST], base, mbps[CHAN], runs, sizes[s]);
        record(name, mbps[BCAST], base_names[PIPE], mbps[PIPE], runs, sizes[s]);
    }
    return 0;
}
