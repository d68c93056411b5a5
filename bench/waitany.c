/*
 * bench/waitany.c - waiting on many: shmlib_chan_wait_any against epoll.
 *
 *     waitany [RUNS [ROUNDS]]
 *
 *   waitany.c.rtt.64B  ns per round trip of a 64-byte message: this
 *                      process sends it on one of 64 channels (a different
 *                      one each round) to an echo process that waits on all
 *                      64 consumer ends with shmlib_chan_wait_any, receives
 *                      it from the end it names and sends it back on a
 *                      reply channel, where this process receives it.
 *     epoll            baseline: the same over 64 pipes, the echo process
 *                      waiting in epoll_wait on all 64, the reply over a
 *                      pipe this process read()s.
 *
 *   notify.idle.256    % of one core used by this process (all threads,
 *                      getrusage) while 256 consumer ends sit armed
 *                      (shmlib_chan_arm) on idle channels for a second: the
 *                      watcher threads asleep. No baseline; target <= 1.
 *
 * Both sides of both transports copy the 64 bytes in and out (send/recv,
 * write/read). RUNS rounds of ROUNDS round trips (default 7 x 20000),
 * transports alternating; the first eighth of each run is not timed. One
 * JSON record on stdout, as bench/chan.c's. Channels are POSIX objects named
 * shmlib-bench-PID-wN, removed on every exit path of this process.
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
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define N 64
#define MAX_RUNS 32

static char keys[N + 1][SHMLIB_KEY_MAX];
static int nkeys;

static void remove_all(void)
{
    for (int i = 0; i < nkeys; i++)
        shmlib_destroy(keys[i]);
    nkeys = 0;
}

static void on_signal(int sig)
{
    for (int i = 0; i < nkeys; i++) {
        char path[SHMLIB_KEY_MAX + 16];
        snprintf(path, sizeof path, "/dev/shm/%s", keys[i] + strlen("posix:/"));
        unlink(path);
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

static void check(int rc, const char *what)
{
    if (rc != SHMLIB_OK) {
        char msg[512] = "";
        shmlib_last_error(msg, sizeof msg);
        fprintf(stderr, "waitany: %s: %s\n", what, msg);
        remove_all();
        exit(1);
    }
}

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static void full(ssize_t n, const char *what)
{
    if (n != 64) {
        fprintf(stderr, "waitany: %s: %s\n", what, n < 0 ? strerror(errno) : "short");
        exit(1);
    }
}

/* The echo process over channels: keys in argv, the reply channel last. */
static int echo_chan(char **argv, uint64_t rounds)
{
    shmlib_chan_t rx[N], tx;
    for (int i = 0; i < N; i++)
        check(shmlib_chan_open(argv[i], SHMLIB_CHAN_CONSUMER, &rx[i]), "chan_open");
    check(shmlib_chan_open(argv[N], SHMLIB_CHAN_PRODUCER, &tx), "chan_open");
    char buf[64];
    for (uint64_t r = 0; r < rounds; r++) {
        size_t idx, len;
        check(shmlib_chan_wait_any(rx, N, SHMLIB_WAIT_FOREVER, &idx), "chan_wait_any");
        check(shmlib_chan_recv(rx[idx], buf, sizeof buf, &len, 0), "chan_recv");
        check(shmlib_chan_send(tx, buf, len, SHMLIB_WAIT_FOREVER), "chan_send");
    }
    return 0;
}

/* The echo process over pipes: the read ends' fds in argv, the reply last. */
static int echo_pipe(char **argv, uint64_t rounds)
{
    int ep = epoll_create1(EPOLL_CLOEXEC), out = atoi(argv[N]);
    for (int i = 0; i < N; i++) {
        struct epoll_event ev = {.events = EPOLLIN, .data.fd = atoi(argv[i])};
        epoll_ctl(ep, EPOLL_CTL_ADD, ev.data.fd, &ev);
    }
    char buf[64];
    for (uint64_t r = 0; r < rounds; r++) {
        struct epoll_event ev;
        while (epoll_wait(ep, &ev, 1, -1) != 1)
            ;
        full(read(ev.data.fd, buf, sizeof buf), "read");
        full(write(out, buf, sizeof buf), "write");
    }
    return 0;
}

static pid_t spawn(const char *kind, char **args, uint64_t rounds)
{
    char srounds[32];
    snprintf(srounds, sizeof srounds, "%" PRIu64, rounds);
    const char *argv[N + 6] = {"/proc/self/exe", "--echo", kind, srounds};
    for (int i = 0; i <= N; i++)
        argv[4 + i] = args[i];
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    return pid;
}

static void reap(pid_t pid)
{
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "waitany: the echo process failed: 0x%x\n", (unsigned)status);
        remove_all();
        exit(1);
    }
}

static double run_chan(uint64_t rounds)
{
    static int serial;
    char *args[N + 1];
    for (int i = 0; i <= N; i++) {
        snprintf(keys[i], sizeof keys[i], "posix:/shmlib-bench-%d-w%d", (int)getpid(), serial++);
        check(shmlib_chan_create(keys[i], 65536, 0600, 0, NULL, 0), "chan_create");
        nkeys = i + 1;
        args[i] = keys[i];
    }
    shmlib_chan_t tx[N], rx;
    for (int i = 0; i < N; i++)
        check(shmlib_chan_open(keys[i], SHMLIB_CHAN_PRODUCER, &tx[i]), "chan_open");
    check(shmlib_chan_open(keys[N], SHMLIB_CHAN_CONSUMER, &rx), "chan_open");
    pid_t pid = spawn("chan", args, rounds);
    char buf[64] = {1};
    double t0 = 0;
    for (uint64_t r = 0; r < rounds; r++) {
        if (r == rounds / 8)
            t0 = now_ns();
        size_t len;
        check(shmlib_chan_send(tx[r % N], buf, sizeof buf, SHMLIB_WAIT_FOREVER), "chan_send");
        check(shmlib_chan_recv(rx, buf, sizeof buf, &len, SHMLIB_WAIT_FOREVER), "chan_recv");
    }
    double per = (now_ns() - t0) / (double)(rounds - rounds / 8);
    reap(pid);
    for (int i = 0; i < N; i++)
        shmlib_chan_close(tx[i]);
    shmlib_chan_close(rx);
    remove_all();
    return per;
}

static double run_pipe(uint64_t rounds)
{
    int ping[N][2], pong[2];
    char fds[N + 1][16], *args[N + 1];
    for (int i = 0; i < N; i++) {
        if (pipe2(ping[i], O_CLOEXEC) != 0)
            exit(1);
        fcntl(ping[i][0], F_SETFD, 0);
        snprintf(fds[i], sizeof fds[i], "%d", ping[i][0]);
        args[i] = fds[i];
    }
    if (pipe2(pong, O_CLOEXEC) != 0)
        exit(1);
    fcntl(pong[1], F_SETFD, 0);
    snprintf(fds[N], sizeof fds[N], "%d", pong[1]);
    args[N] = fds[N];
    pid_t pid = spawn("pipe", args, rounds);
    for (int i = 0; i < N; i++)
        close(ping[i][0]);
    close(pong[1]);
    char buf[64] = {1};
    double t0 = 0;
    for (uint64_t r = 0; r < rounds; r++) {
        if (r == rounds / 8)
            t0 = now_ns();
        full(write(ping[r % N][1], buf, sizeof buf), "write");
        full(read(pong[0], buf, sizeof buf), "read");
    }
    double per = (now_ns() - t0) / (double)(rounds - rounds / 8);
    reap(pid);
    for (int i = 0; i < N; i++)
        close(ping[i][1]);
    close(pong[0]);
    return per;
}

/* % of a core this process uses while 256 ends are armed and idle. */
static double idle_armed(void)
{
    enum { IDLE = 256 };
    static char ikeys[IDLE][SHMLIB_KEY_MAX];
    static shmlib_chan_t rx[IDLE];
    for (int i = 0; i < IDLE; i++) {
        snprintf(ikeys[i], sizeof ikeys[i], "posix:/shmlib-bench-%d-i%d", (int)getpid(), i);
        check(shmlib_chan_create(ikeys[i], 4096, 0600, 0, NULL, 0), "chan_create");
        check(shmlib_chan_open(ikeys[i], SHMLIB_CHAN_CONSUMER, &rx[i]), "chan_open");
        check(shmlib_chan_arm(rx[i]), "chan_arm");
    }
    struct timespec settle = {0, 100000000}, second = {1, 0};
    nanosleep(&settle, NULL);
    struct rusage a, b;
    getrusage(RUSAGE_SELF, &a);
    double t0 = now_ns();
    nanosleep(&second, NULL);
    getrusage(RUSAGE_SELF, &b);
    double wall = now_ns() - t0;
    double cpu = ((double)(b.ru_utime.tv_sec - a.ru_utime.tv_sec) + (double)(b.ru_stime.tv_sec - a.ru_stime.tv_sec)) * 1e9 +
                 ((double)(b.ru_utime.tv_usec - a.ru_utime.tv_usec) + (double)(b.ru_stime.tv_usec - a.ru_stime.tv_usec)) * 1e3;
    for (int i = 0; i < IDLE; i++) {
        shmlib_chan_close(rx[i]);
        shmlib_destroy(ikeys[i]);
    }
    return 100 * cpu / wall;
}

int main(int argc, char **argv)
{
    if (argc == N + 5 && strcmp(argv[1], "--echo") == 0) {
        uint64_t rounds = strtoull(argv[3], NULL, 10);
        return strcmp(argv[2], "chan") == 0 ? echo_chan(argv + 4, rounds) : echo_pipe(argv + 4, rounds);
    }
    int runs = argc > 1 ? atoi(argv[1]) : 7;
    uint64_t rounds = argc > 2 ? strtoull(argv[2], NULL, 10) : 20000;
    runs = runs < 1 ? 1 : runs > MAX_RUNS ? MAX_RUNS : runs;
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    double chan[MAX_RUNS], pipe_[MAX_RUNS];
    for (int r = 0; r < runs; r++) {
        if (r % 2) {
            chan[r] = run_chan(rounds);
            pipe_[r] = run_pipe(rounds);
        } else {
            pipe_[r] = run_pipe(rounds);
            chan[r] = run_chan(rounds);
        }
    }
    printf("{\"name\": \"waitany.c.rtt.64B\", \"unit\": \"ns\", \"value_runs\": [");
    for (int r = 0; r < runs; r++)
        printf("%s%.6g", r ? ", " : "", chan[r]);
    printf("], \"baseline\": \"epoll\", \"baseline_runs\": [");
    for (int r = 0; r < runs; r++)
        printf("%s%.6g", r ? ", " : "", pipe_[r]);
    printf("], \"ends\": %d, \"rounds\": %" PRIu64 "}\n", N, rounds);
    double idle[3];
    for (int r = 0; r < 3; r++)
        idle[r] = idle_armed();
    printf("{\"name\": \"notify.idle.256\", \"unit\": \"%%\", \"value_runs\": [%.4g, %.4g, %.4g], "
           "\"baseline\": null, \"baseline_runs\": null, \"ends\": 256, \"rounds\": 0}\n", idle[0], idle[1], idle[2]);
    return 0;
}
