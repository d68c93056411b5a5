/*
 * test_waitany.c - shmlib_chan_wait_any against real futexes and real
 * processes: which end is ready among 64 channels, mixed directions and
 * broadcast ends, timeouts, a wake and a close from another thread, a
 * signal, a dead peer (a producer process killed with SIGKILL), misuse.
 *
 * Role: --hold KEY READYFD   opens the producer of channel KEY, says so,
 * and sleeps until killed.
 */
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/time.h>
#include <time.h>

#include "harness.h"

#define N 64

static int key_seq;

static void new_key(char *key, size_t len)
{
    snprintf(key, len, "posix:/libshm-waitany-%d-%d", (int)getpid(), key_seq++);
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

struct pair {
    char key[SHMLIB_KEY_MAX];
    shmlib_chan_t tx, rx;
};

static int make_pair(struct pair *p, uint64_t capacity)
{
    new_key(p->key, sizeof p->key);
    return CHECK_RC(shmlib_chan_create(p->key, capacity, 0600, 0, NULL, 0), SHMLIB_OK) &&
           CHECK_RC(shmlib_chan_open(p->key, SHMLIB_CHAN_PRODUCER, &p->tx), SHMLIB_OK) &&
           CHECK_RC(shmlib_chan_open(p->key, SHMLIB_CHAN_CONSUMER, &p->rx), SHMLIB_OK);
}

static void drop_pair(struct pair *p)
{
    shmlib_chan_close(p->tx);
    shmlib_chan_close(p->rx);
    CHECK_RC(shmlib_destroy(p->key), SHMLIB_OK);
}

struct later {
    shmlib_chan_t chan;
    int what; /* 0: send one message, 1: wake, 2: close */
    int delay_ms;
};

static void *act_later(void *arg)
{
    struct later *l = arg;
    struct timespec ts = {0, l->delay_ms * 1000000L};
    nanosleep(&ts, NULL);
    if (l->what == 0)
        shmlib_chan_send(l->chan, "hello", 5, 0);
    else if (l->what == 1)
        shmlib_chan_wake(l->chan);
    else
        shmlib_chan_close(l->chan);
    return NULL;
}

/* 64 consumer ends; a message on each one in turn, sent by another thread
 * while the wait sleeps, is found at its index, and only there. */
static void test_which_of_64(void)
{
    static struct pair p[N];
    shmlib_chan_t rx[N];
    for (int i = 0; i < N; i++) {
        if (!make_pair(&p[i], 4096))
            return;
        rx[i] = p[i].rx;
    }
    int right = 1;
    for (int k = 0; k < N; k += 7) {
        struct later l = {p[k].tx, 0, 5};
        pthread_t t;
        pthread_create(&t, NULL, act_later, &l);
        size_t idx = 99;
        int rc = shmlib_chan_wait_any(rx, N, 5000000000LL, &idx);
        pthread_join(t, NULL);
        right &= rc == SHMLIB_OK && idx == (size_t)k;
        char buf[8];
        size_t len;
        right &= shmlib_chan_recv(p[k].rx, buf, sizeof buf, &len, 0) == SHMLIB_OK && len == 5;
    }
    CHECK(right);
    size_t idx;
    int64_t t0 = now_ns();
    CHECK_RC(shmlib_chan_wait_any(rx, N, 50000000, &idx), SHMLIB_ETIMEDOUT);
    int64_t took = now_ns() - t0;
    CHECKF(took >= 50000000 && took < 1000000000, "a 50 ms timeout took %lld ms", (long long)(took / 1000000));
    CHECK_RC(shmlib_chan_wait_any(rx, N, 0, &idx), SHMLIB_ETIMEDOUT);

    /* Wake and close from another thread end the wait. */
    struct later w = {rx[3], 1, 20};
    pthread_t t;
    pthread_create(&t, NULL, act_later, &w);
    CHECK_RC(shmlib_chan_wait_any(rx, N, 5000000000LL, &idx), SHMLIB_EWOKEN);
    pthread_join(t, NULL);
    struct later c = {rx[5], 2, 20};
    pthread_create(&t, NULL, act_later, &c);
    CHECK_RC(shmlib_chan_wait_any(rx, N, 5000000000LL, &idx), SHMLIB_EWOKEN);
    pthread_join(t, NULL);
    CHECK_RC(shmlib_chan_wait_any(rx, N, 0, &idx), SHMLIB_EINVAL); /* rx[5] is closed */

    /* Misuse. */
    shmlib_chan_t twice[2] = {rx[0], rx[0]};
    CHECK_RC(shmlib_chan_wait_any(twice, 2, 0, &idx), SHMLIB_EINVAL);
    CHECK_RC(shmlib_chan_wait_any(rx, 0, 0, &idx), SHMLIB_EINVAL);
    CHECK_RC(shmlib_chan_wait_any(rx, SHMLIB_WAIT_ANY_MAX + 1, 0, &idx), SHMLIB_EINVAL);
    CHECK_RC(shmlib_chan_wait_any(NULL, 1, 0, &idx), SHMLIB_EINVAL);
    CHECK_RC(shmlib_chan_wait_any(rx, 1, 0, (size_t *)16), SHMLIB_EFAULT);
    for (int i = 0; i < N; i++)
        drop_pair(&p[i]);
}

struct busy_arg {
    shmlib_chan_t chan;
    int rc;
};

static void *recv_meanwhile(void *arg)
{
    struct busy_arg *b = arg;
    struct timespec ts = {0, 20000000};
    nanosleep(&ts, NULL);
    char buf[8];
    size_t len;
    b->rc = shmlib_chan_recv(b->chan, buf, sizeof buf, &len, 0);
    shmlib_chan_wake(b->chan);
    return NULL;
}

/* Directions and kinds mixed: a full channel producer becomes ready when
 * its consumer drains; a broadcast subscriber when its producer sends.
 * Another thread's call on a waited end is refused. */
static void test_mixed(void)
{
    struct pair full;
    char bkey[SHMLIB_KEY_MAX];
    if (!make_pair(&full, 4096))
        return;
    new_key(bkey, sizeof bkey);
    shmlib_chan_t btx, brx;
    CHECK_RC(shmlib_bcast_create(bkey, 4096, 4, 0600, 0, NULL, 0), SHMLIB_OK);
    CHECK_RC(shmlib_chan_open(bkey, SHMLIB_CHAN_PRODUCER, &btx), SHMLIB_OK);
    CHECK_RC(shmlib_chan_open(bkey, SHMLIB_CHAN_SUBSCRIBER, &brx), SHMLIB_OK);
    char big[2000] = {0};
    while (shmlib_chan_send(full.tx, big, 100, 0) == SHMLIB_OK)
        ;
    shmlib_chan_t set[3] = {brx, full.tx, btx};
    size_t idx = 99;
    /* The broadcast producer has no subscriber behind: ready at once. */
    CHECK_RC(shmlib_chan_wait_any(set, 3, 0, &idx), SHMLIB_OK);
    CHECK_INT(idx, 2);
    CHECK_RC(shmlib_chan_wait_any(set, 2, 0, &idx), SHMLIB_ETIMEDOUT);
    CHECK_RC(shmlib_chan_send(btx, "x", 1, 0), SHMLIB_OK);
    CHECK_RC(shmlib_chan_wait_any(set, 2, 1000000000, &idx), SHMLIB_OK);
    CHECK_INT(idx, 0);
    char buf[8];
    size_t len;
    CHECK_RC(shmlib_chan_recv(brx, buf, sizeof buf, &len, 0), SHMLIB_OK);
    /* The full producer: ready once its consumer made room for the
     * largest message. */
    for (int i = 0; i < 30; i++)
        shmlib_chan_recv(full.rx, big, sizeof big, &len, 0);
    CHECK_RC(shmlib_chan_wait_any(set, 2, 1000000000, &idx), SHMLIB_OK);
    CHECK_INT(idx, 1);
    /* busy: a call on a waited end from another thread */
    struct busy_arg b = {brx, 0};
    pthread_t t;
    pthread_create(&t, NULL, recv_meanwhile, &b);
    CHECK_RC(shmlib_chan_wait_any(set, 1, 5000000000LL, &idx), SHMLIB_EWOKEN);
    pthread_join(t, NULL);
    CHECK_RC(b.rc, SHMLIB_EBUSY);
    shmlib_chan_close(btx);
    shmlib_chan_close(brx);
    CHECK_RC(shmlib_destroy(bkey), SHMLIB_OK);
    drop_pair(&full);
}

static void on_alarm(int sig) { (void)sig; }

/* A signal ends the wait when an end was opened with SHMLIB_CHAN_EINTR. */
static void test_eintr(void)
{
    char key[SHMLIB_KEY_MAX];
    new_key(key, sizeof key);
    shmlib_chan_t rx;
    CHECK_RC(shmlib_chan_create(key, 4096, 0600, 0, NULL, 0), SHMLIB_OK);
    CHECK_RC(shmlib_chan_open(key, SHMLIB_CHAN_CONSUMER | SHMLIB_CHAN_EINTR, &rx), SHMLIB_OK);
    struct sigaction sa = {0};
    sa.sa_handler = on_alarm;
    sigaction(SIGALRM, &sa, NULL);
    struct itimerval it = {{0, 0}, {0, 50000}};
    setitimer(ITIMER_REAL, &it, NULL);
    size_t idx;
    CHECK_RC(shmlib_chan_wait_any(&rx, 1, 5000000000LL, &idx), SHMLIB_EINTR);
    signal(SIGALRM, SIG_DFL);
    shmlib_chan_close(rx);
    CHECK_RC(shmlib_destroy(key), SHMLIB_OK);
}

static int role_hold(const char *key, int ready)
{
    shmlib_chan_t tx;
    if (shmlib_chan_open(key, SHMLIB_CHAN_PRODUCER, &tx) != SHMLIB_OK || write(ready, "r", 1) != 1)
        _exit(2);
    for (;;)
        pause();
}

/* A producer process killed with SIGKILL: its consumer's end is ready
 * within about 100 ms, and its recv says why. */
static void test_dead_peer(void)
{
    char key[SHMLIB_KEY_MAX], fd[16];
    struct pair other;
    if (!make_pair(&other, 4096))
        return;
    new_key(key, sizeof key);
    shmlib_chan_t rx;
    CHECK_RC(shmlib_chan_create(key, 4096, 0600, 0, NULL, 0), SHMLIB_OK);
    CHECK_RC(shmlib_chan_open(key, SHMLIB_CHAN_CONSUMER, &rx), SHMLIB_OK);
    int p[2];
    CHECK(pipe(p) == 0);
    snprintf(fd, sizeof fd, "%d", p[1]);
    fflush(stdout);
    pid_t kid = fork();
    if (kid == 0) {
        execl("/proc/self/exe", "test_waitany", "--hold", key, fd, (char *)NULL);
        _exit(127);
    }
    close(p[1]);
    char c;
    CHECK(read(p[0], &c, 1) == 1);
    close(p[0]);
    kill(kid, SIGKILL);
    harness_wait(kid);
    shmlib_chan_t set[2] = {other.rx, rx};
    size_t idx = 99;
    int64_t t0 = now_ns();
    CHECK_RC(shmlib_chan_wait_any(set, 2, 3000000000LL, &idx), SHMLIB_OK);
    CHECK_INT(idx, 1);
    CHECKF(now_ns() - t0 < 400000000, "the dead peer was seen after %lld ms", (long long)((now_ns() - t0) / 1000000));
    char buf[8];
    size_t len;
    CHECK_RC(shmlib_chan_recv(rx, buf, sizeof buf, &len, 0), SHMLIB_EPEER);
    shmlib_chan_close(rx);
    CHECK_RC(shmlib_destroy(key), SHMLIB_OK);
    drop_pair(&other);
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "--hold") == 0)
        return role_hold(argv[2], atoi(argv[3]));
    printf("-- which of 64\n");
    test_which_of_64();
    printf("-- mixed ends\n");
    test_mixed();
    printf("-- EINTR\n");
    test_eintr();
    printf("-- a dead peer\n");
    test_dead_peer();
    return harness_finish();
}
