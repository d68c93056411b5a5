/*
 * test_notify.c - pollable ends (shmlib_chan_fd, shmlib_chan_arm) under
 * epoll, against real futexes and processes: 200 armed consumer ends of
 * which only the one sent to turns readable, re-arming, a producer waiting
 * for room, a broadcast subscriber, a peer killed with SIGKILL, close
 * while armed.
 *
 * Role: --send KEY READYFD GOFD   opens the producer of channel KEY, says
 * so, waits for a byte on GOFD, sends "late", then sleeps until killed.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <time.h>

#include "harness.h"

#define N 200

static int key_seq;

static void new_key(char *key, size_t len)
{
    snprintf(key, len, "posix:/libshm-notify-%d-%d", (int)getpid(), key_seq++);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The index (data.u32) epoll reports within ms, or -1. */
static int ready_one(int ep, int ms)
{
    struct epoll_event ev[4];
    int n = epoll_wait(ep, ev, 4, ms);
    return n == 1 ? (int)ev[0].data.u32 : n == 0 ? -1 : -2;
}

static void test_many_consumers(void)
{
    static char keys[N][SHMLIB_KEY_MAX];
    static shmlib_chan_t tx[N], rx[N];
    int ep = epoll_create1(EPOLL_CLOEXEC);
    for (int i = 0; i < N; i++) {
        new_key(keys[i], sizeof keys[i]);
        int fd = -1;
        if (!CHECK_RC(shmlib_chan_create(keys[i], 4096, 0600, 0, NULL, 0), SHMLIB_OK) ||
            !CHECK_RC(shmlib_chan_open(keys[i], SHMLIB_CHAN_PRODUCER, &tx[i]), SHMLIB_OK) ||
            !CHECK_RC(shmlib_chan_open(keys[i], SHMLIB_CHAN_CONSUMER, &rx[i]), SHMLIB_OK) ||
            !CHECK_RC(shmlib_chan_fd(rx[i], &fd), SHMLIB_OK))
            return;
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
        CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) == 0);
        CHECK_RC(shmlib_chan_arm(rx[i]), SHMLIB_OK);
    }
    CHECK_INT(ready_one(ep, 50), -1);
    int right = 1;
    for (int k = 3; k < N; k += 41) {
        right &= shmlib_chan_send(tx[k], "hi", 2, 0) == SHMLIB_OK;
        right &= ready_one(ep, 2000) == k;
        char buf[8];
        size_t len;
        right &= shmlib_chan_recv(rx[k], buf, sizeof buf, &len, 0) == SHMLIB_OK && len == 2;
        right &= shmlib_chan_recv(rx[k], buf, sizeof buf, &len, 0) == SHMLIB_ETIMEDOUT;
        right &= shmlib_chan_arm(rx[k]) == SHMLIB_OK;
        right &= ready_one(ep, 20) == -1;
    }
    CHECK(right);
    /* Arming an end that is ready already: readable at once. */
    CHECK_RC(shmlib_chan_send(tx[7], "x", 1, 0), SHMLIB_OK);
    CHECK_INT(ready_one(ep, 2000), 7);
    CHECK_RC(shmlib_chan_arm(rx[7]), SHMLIB_OK);
    CHECK_INT(ready_one(ep, 0), 7);
    char buf[8];
    size_t len;
    CHECK_RC(shmlib_chan_recv(rx[7], buf, sizeof buf, &len, 0), SHMLIB_OK);
    CHECK_RC(shmlib_chan_arm(rx[7]), SHMLIB_OK);
    CHECK_INT(ready_one(ep, 20), -1);
    /* The producer's close (end of stream) makes an end ready too. */
    CHECK_RC(shmlib_chan_close(tx[9]), SHMLIB_OK);
    CHECK_INT(ready_one(ep, 2000), 9);
    /* Closing armed ends: no fault, their fds go. */
    int fd;
    CHECK_RC(shmlib_chan_fd(rx[11], &fd), SHMLIB_OK);
    for (int i = 0; i < N; i++) {
        if (i != 9)
            shmlib_chan_close(tx[i]);
        shmlib_chan_close(rx[i]);
        shmlib_destroy(keys[i]);
    }
    CHECK(fcntl(fd, F_GETFD) == -1 && errno == EBADF);
    CHECK_RC(shmlib_chan_fd(rx[0], &fd), SHMLIB_EINVAL);
    close(ep);
}

/* A producer with a full ring turns ready when its consumer makes room; a
 * broadcast subscriber when its producer sends. */
static void test_producer_and_subscriber(void)
{
    char key[SHMLIB_KEY_MAX], bkey[SHMLIB_KEY_MAX];
    new_key(key, sizeof key);
    new_key(bkey, sizeof bkey);
    shmlib_chan_t tx, rx, btx, brx;
    int fd, bfd;
    CHECK_RC(shmlib_chan_create(key, 4096, 0600, 0, NULL, 0), SHMLIB_OK);
    CHECK_RC(shmlib_chan_open(key, SHMLIB_CHAN_PRODUCER, &tx), SHMLIB_OK);
    CHECK_RC(shmlib_chan_open(key, SHMLIB_CHAN_CONSUMER, &rx), SHMLIB_OK);
    CHECK_RC(shmlib_bcast_create(bkey, 4096, 2, 0600, 0, NULL, 0), SHMLIB_OK);
    CHECK_RC(shmlib_chan_open(bkey, SHMLIB_CHAN_PRODUCER, &btx), SHMLIB_OK);
    CHECK_RC(shmlib_chan_open(bkey, SHMLIB_CHAN_SUBSCRIBER, &brx), SHMLIB_OK);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    CHECK_RC(shmlib_chan_fd(tx, &fd), SHMLIB_OK);
    CHECK_RC(shmlib_chan_fd(brx, &bfd), SHMLIB_OK);
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = 0};
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    ev.data.u32 = 1;
    epoll_ctl(ep, EPOLL_CTL_ADD, bfd, &ev);
    char buf[256] = {0};
    size_t len;
    while (shmlib_chan_send(tx, buf, 100, 0) == SHMLIB_OK)
        ;
    CHECK_RC(shmlib_chan_arm(tx), SHMLIB_OK);
    CHECK_RC(shmlib_chan_arm(brx), SHMLIB_OK);
    CHECK_INT(ready_one(ep, 50), -1);
    for (int i = 0; i < 30; i++)
        shmlib_chan_recv(rx, buf, sizeof buf, &len, 0);
    CHECK_INT(ready_one(ep, 2000), 0);
    epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL); /* it stays readable: room is there */
    CHECK_RC(shmlib_chan_send(btx, "b", 1, 0), SHMLIB_OK);
    CHECK_INT(ready_one(ep, 2000), 1);
    shmlib_chan_close(tx);
    shmlib_chan_close(rx);
    shmlib_chan_close(btx);
    shmlib_chan_close(brx);
    CHECK_RC(shmlib_destroy(key), SHMLIB_OK);
    CHECK_RC(shmlib_destroy(bkey), SHMLIB_OK);
    close(ep);
}

static int role_send(const char *key, int ready, int go)
{
    shmlib_chan_t tx;
    char c;
    if (shmlib_chan_open(key, SHMLIB_CHAN_PRODUCER, &tx) != SHMLIB_OK || write(ready, "r", 1) != 1 ||
        read(go, &c, 1) != 1 || shmlib_chan_send(tx, "late", 4, 0) != SHMLIB_OK)
        _exit(2);
    for (;;)
        pause();
}

/* Across processes: a message from a producer process makes the fd
 * readable; that producer killed with SIGKILL makes it readable again
 * (within about 100 ms), and recv says why. */
static void test_other_process(void)
{
    char key[SHMLIB_KEY_MAX], sready[16], sgo[16];
    new_key(key, sizeof key);
    shmlib_chan_t rx;
    int fd, rp[2], gp[2];
    CHECK_RC(shmlib_chan_create(key, 4096, 0600, 0, NULL, 0), SHMLIB_OK);
    CHECK_RC(shmlib_chan_open(key, SHMLIB_CHAN_CONSUMER, &rx), SHMLIB_OK);
    CHECK_RC(shmlib_chan_fd(rx, &fd), SHMLIB_OK);
    CHECK(pipe(rp) == 0 && pipe(gp) == 0);
    snprintf(sready, sizeof sready, "%d", rp[1]);
    snprintf(sgo, sizeof sgo, "%d", gp[0]);
    fflush(stdout);
    pid_t kid = fork();
    if (kid == 0) {
        execl("/proc/self/exe", "test_notify", "--send", key, sready, sgo, (char *)NULL);
        _exit(127);
    }
    close(rp[1]);
    close(gp[0]);
    char c;
    CHECK(read(rp[0], &c, 1) == 1);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = 5};
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    CHECK_RC(shmlib_chan_arm(rx), SHMLIB_OK);
    CHECK_INT(ready_one(ep, 30), -1);
    CHECK(write(gp[1], "g", 1) == 1);
    CHECK_INT(ready_one(ep, 2000), 5);
    char buf[8];
    size_t len;
    CHECK_RC(shmlib_chan_recv(rx, buf, sizeof buf, &len, 0), SHMLIB_OK);
    CHECK_RC(shmlib_chan_arm(rx), SHMLIB_OK);
    kill(kid, SIGKILL);
    harness_wait(kid);
    int64_t t0 = now_ms();
    CHECK_INT(ready_one(ep, 2000), 5);
    CHECKF(now_ms() - t0 < 400, "a dead peer was seen after %lld ms", (long long)(now_ms() - t0));
    CHECK_RC(shmlib_chan_recv(rx, buf, sizeof buf, &len, 0), SHMLIB_EPEER);
    shmlib_chan_close(rx);
    CHECK_RC(shmlib_destroy(key), SHMLIB_OK);
    close(ep);
    close(rp[0]);
    close(gp[1]);
}

int main(int argc, char **argv)
{
    if (argc == 5 && strcmp(argv[1], "--send") == 0)
        return role_send(argv[2], atoi(argv[3]), atoi(argv[4]));
    printf("-- %d consumers under epoll\n", N);
    test_many_consumers();
    printf("-- a producer and a subscriber\n");
    test_producer_and_subscriber();
    printf("-- a producer process, then its death\n");
    test_other_process();
    return harness_finish();
}
