/*
 * test_chan_peers.c - the other end's process dies (SIGKILL, reaped or not)
 * or closes while this one waits, or leaves right when it is checked:
 * SHMLIB_EPEER, after every committed message, and never a hang.
 *
 *   test_chan_peers [TEST_NAME...]   all tests, or only those named
 */
#include "harness.h"
#include "chantest.h"

/* A producer that dies: its committed messages arrive, then EPEER, never its
 * uncommitted reservation; a new process takes its end over. */
static void test_producer_killed(void)
{
    char key[SHMLIB_KEY_MAX], want[64];
    shmlib_chan_t cons;
    const void *ptr;
    size_t len;
    unsigned char buf[64];
    struct peer p = {.pid = -1};

    for (int b = POSIX; b <= SYSV; b++) {
        printf("   %s\n", backend_names[b]);
        if (!new_chan(b, 4096, key))
            continue;
        if (!open_end(key, SHMLIB_CHAN_CONSUMER, &cons)) {
            CHECK_RC(shmlib_destroy(key), 0);
            continue;
        }
        if (!peer_start(&p, (const char *[]){"--peer", key, "open:producer", "send:1:30",
                                             "send:2:31", "reserve:3:32", "ready", "go", NULL}) ||
            !peer_await(&p)) {
            peer_kill(&p);
            close_end(cons);
            CHECK_RC(shmlib_destroy(key), 0);
            continue;
        }
        pid_t dead = p.pid;
        int64_t killed = now_ns();
        peer_kill(&p);
        RECV_PATTERN(cons, 1, 30);
        RECV_PATTERN(cons, 2, 31);
        CHECK_FAILS(shmlib_chan_recv(cons, buf, sizeof buf, &len, 1000 * MS), SHMLIB_EPEER,
                    "chan_recv", key);
        int64_t dt = now_ns() - killed;
        CHECKF(dt < 500 * MS, "EPEER %.1f ms after the kill", (double)dt / 1e6);
        snprintf(want, sizeof want, "pid %d", (int)dead);
        CHECK_MESSAGE_HAS(want);
        /* It stays so, whatever the timeout. */
        CHECK_FAILS(shmlib_chan_recv(cons, buf, sizeof buf, &len, 0), SHMLIB_EPEER, "chan_recv",
                    key);
        CHECK_FAILS(shmlib_chan_peek(cons, SHMLIB_WAIT_FOREVER, &ptr, &len), SHMLIB_EPEER,
                    "chan_peek", key);

        /* A new producer takes the dead one's end, and the stream goes on
         * where the committed messages ended. */
        if (peer_start(&p, (const char *[]){"--peer", key, "open:producer", "send:4:33", "close",
                                            NULL}))
            peer_finish(&p, "producer taking over");
        RECV_PATTERN(cons, 4, 33);
        CHECK_FAILS(shmlib_chan_recv(cons, buf, sizeof buf, &len, 0), SHMLIB_EEOS, "chan_recv",
                    key);
        close_end(cons);
        CHECK_RC(shmlib_destroy(key), 0);
    }
}

/*
 * The same, but the dead producer is not reaped yet: it is a zombie of the
 * consumer's own process, which cannot reap it while it waits in recv. A
 * zombie has died all the same; the header promises EPEER.
 */
static void test_producer_killed_unreaped(void)
{
    char key[SHMLIB_KEY_MAX];
    shmlib_chan_t cons;
    size_t len;
    unsigned char buf[64];
    struct peer p = {.pid = -1};

    if (!new_chan(POSIX, 4096, key))
        return;
    if (open_end(key, SHMLIB_CHAN_CONSUMER, &cons) &&
        peer_start(&p, (const char *[]){"--peer", key, "open:producer", "send:1:30", "ready",
                                        "go", NULL}) &&
        peer_await(&p)) {
        int64_t killed = now_ns();
        kill(p.pid, SIGKILL);
        RECV_PATTERN(cons, 1, 30);
        CHECK_FAILS(shmlib_chan_recv(cons, buf, sizeof buf, &len, 1000 * MS), SHMLIB_EPEER,
                    "chan_recv", key);
        int64_t dt = now_ns() - killed;
        CHECKF(dt < 500 * MS, "EPEER %.1f ms after the kill", (double)dt / 1e6);
    }
    peer_kill(&p);
    close_end(cons);
    CHECK_RC(shmlib_destroy(key), 0);
}

struct killer {
    pid_t pid;
    int64_t killed; /* when */
};

static void *killer_run(void *arg)
{
    struct killer *k = arg;
    sleep_ms(150);
    k->killed = now_ns();
    kill(k->pid, SIGKILL);
    harness_wait(k->pid);
    return NULL;
}

/* The mirror: a consumer dies while the producer waits on a full ring. */
static void test_consumer_killed(void)
{
    char key[SHMLIB_KEY_MAX], want[64];
    shmlib_chan_t prod, cons;
    uint64_t max;
    struct peer p = {.pid = -1};

    for (int b = POSIX; b <= SYSV; b++) {
        printf("   %s\n", backend_names[b]);
        if (!new_chan(b, 4096, key))
            continue;
        if (!peer_start(&p, (const char *[]){"--peer", key, "open:consumer", "ready", "go", NULL})
            || !peer_await(&p) || !open_end(key, SHMLIB_CHAN_PRODUCER, &prod)) {
            peer_kill(&p);
            CHECK_RC(shmlib_destroy(key), 0);
            continue;
        }
        CHECK_RC(shmlib_chan_max_message(prod, &max), 0);
        /* Full, and the consumer alive: a plain timeout. */
        CHECK_INT(fill_ring(prod, max, 1), 2);
        CHECK_FAILS(send_pattern(prod, 3, max, 0), SHMLIB_ETIMEDOUT, "chan_send", key);

        struct killer k = {.pid = p.pid};
        pthread_t t;
        if (CHECK(pthread_create(&t, NULL, killer_run, &k) == 0)) {
            CHECK_FAILS(send_pattern(prod, 3, max, 2000 * MS), SHMLIB_EPEER, "chan_send", key);
            int64_t returned = now_ns();
            pthread_join(t, NULL);
            CHECKF(returned - k.killed < 500 * MS, "EPEER %.1f ms after the kill",
                   (double)(returned - k.killed) / 1e6);
            snprintf(want, sizeof want, "pid %d", (int)k.pid);
            CHECK_MESSAGE_HAS(want);
            CHECK_MESSAGE_HAS("consumer");
        }
        close(p.go);
        close(p.ready);

        /* A new consumer takes the end over and receives all that was sent;
         * then the producer goes on. */
        if (open_end(key, SHMLIB_CHAN_CONSUMER, &cons)) {
            RECV_PATTERN(cons, 1, max);
            RECV_PATTERN(cons, 2, max);
            CHECK_RC(send_pattern(prod, 3, max, 0), 0);
            RECV_PATTERN(cons, 3, max);
            close_end(cons);
        }
        close_end(prod);
        CHECK_RC(shmlib_destroy(key), 0);
    }
}

/* A consumer that closes its end tells a producer waiting for room that
 * nobody will make any, until another consumer opens the channel. */
static void test_consumer_closed(void)
{
    char key[SHMLIB_KEY_MAX];
    shmlib_chan_t prod, cons;
    uint64_t max;
    struct peer p = {.pid = -1};

    for (int b = POSIX; b <= SYSV; b++) {
        printf("   %s\n", backend_names[b]);
        if (!new_chan(b, 4096, key))
            continue;
        if (!open_end(key, SHMLIB_CHAN_PRODUCER, &prod)) {
            CHECK_RC(shmlib_destroy(key), 0);
            continue;
        }
        CHECK_RC(shmlib_chan_max_message(prod, &max), 0);
        CHECK_INT(fill_ring(prod, max, 1), 2);
        if (peer_start(&p, (const char *[]){"--peer", key, "open:consumer", "ready", "go",
                                            "sleep:150", "close", "ready", "go", NULL}) &&
            peer_await(&p)) {
            peer_go(&p);
            int64_t t0 = now_ns();
            CHECK_FAILS(send_pattern(prod, 3, max, 2000 * MS), SHMLIB_EPEER, "chan_send", key);
            int64_t dt = now_ns() - t0;
            CHECKF(dt >= 100 * MS && dt < 650 * MS,
                   "EPEER %.1f ms after the wait began, for a close 150 ms on", (double)dt / 1e6);
            CHECK_MESSAGE_HAS("closed");
            /* It stays so while the ring is full and nobody receives. */
            if (peer_await(&p))
                CHECK_FAILS(send_pattern(prod, 3, max, 0), SHMLIB_EPEER, "chan_send", key);
        }
        peer_finish(&p, "consumer that closes");

        /* Another consumer: a plain wait again, and the stream goes on. */
        if (open_end(key, SHMLIB_CHAN_CONSUMER, &cons)) {
            CHECK_FAILS(send_pattern(prod, 3, max, 0), SHMLIB_ETIMEDOUT, "chan_send", key);
            RECV_PATTERN(cons, 1, max);
            CHECK_RC(send_pattern(prod, 3, max, 0), 0);
            RECV_PATTERN(cons, 2, max);
            RECV_PATTERN(cons, 3, max);
            /* With room, a producer does not care whether anybody receives. */
            close_end(cons);
            CHECK_RC(send_pattern(prod, 4, 10, 0), 0);
        }
        close_end(prod);
        CHECK_RC(shmlib_destroy(key), 0);
    }
}

/*
 * A peer that does its last part properly (commits, closes, or makes room
 * and closes) and exits at about the moment the waiting side wakes to check
 * on it: a sleeping waiter looks every 100 ms or so, and the peer acts 97 to
 * 103 ms after the wait began. The waiter gets what the peer did, never
 * SHMLIB_EPEER: the peer did not die holding its end.
 */
static void test_peer_leaves_at_check(void)
{
    char key[SHMLIB_KEY_MAX], step[32];
    unsigned char buf[16];
    size_t len;
    uint64_t max;
    int rc;

    for (int delay = 97; delay <= 103; delay++) {
        snprintf(step, sizeof step, "sleep:%d", delay);
        for (int part = 0; part < 3; part++) {
            shmlib_chan_t chan = 0;
            struct peer p = {.pid = -1};
            if (!new_chan(POSIX, 4096, key))
                return;
            const char *const argv[3][9] = {
                {"--peer", key, "open:producer", "ready", "go", step, "close", NULL},
                {"--peer", key, "open:producer", "ready", "go", step, "send:1:8", "close", NULL},
                {"--peer", key, "open:consumer", "ready", "go", step, "recv:1:max", "close", NULL},
            };
            int end = part < 2 ? SHMLIB_CHAN_CONSUMER : SHMLIB_CHAN_PRODUCER;
            if (open_end(key, end, &chan) &&
                (part < 2 || (CHECK_RC(shmlib_chan_max_message(chan, &max), 0) &&
                              CHECK_INT(fill_ring(chan, max, 1), 2))) &&
                peer_start(&p, argv[part]) && peer_await(&p)) {
                peer_go(&p);
                switch (part) {
                case 0: /* the producer closes: end of stream */
                    rc = shmlib_chan_recv(chan, buf, sizeof buf, &len, SHMLIB_WAIT_FOREVER);
                    CHECKF(rc == SHMLIB_EEOS, "close %d ms on: recv gave %s (%s), want "
                           "SHMLIB_EEOS", delay, harness_code_name(rc), harness_last_error());
                    break;
                case 1: /* the producer sends, then closes */
                    rc = shmlib_chan_recv(chan, buf, sizeof buf, &len, SHMLIB_WAIT_FOREVER);
                    CHECKF(rc == 0 && len == 8 && harness_verify(buf, 8, 1) == 8,
                           "send and close %d ms on: recv gave %s (%s), want the message",
                           delay, harness_code_name(rc), harness_last_error());
                    CHECK_RC(shmlib_chan_recv(chan, buf, sizeof buf, &len, SHMLIB_WAIT_FOREVER),
                             SHMLIB_EEOS);
                    break;
                case 2: /* the consumer makes room, then closes */
                    rc = send_pattern(chan, 3, max, SHMLIB_WAIT_FOREVER);
                    CHECKF(rc == 0, "room made and close %d ms on: send gave %s (%s), want 0",
                           delay, harness_code_name(rc), harness_last_error());
                    break;
                }
            }
            peer_finish(&p, argv[part][2]);
            close_end(chan);
            CHECK_RC(shmlib_destroy(key), 0);
        }
    }
}

static const struct harness_test tests[] = {
    HARNESS_TEST(test_producer_killed),
    HARNESS_TEST(test_producer_killed_unreaped),
    HARNESS_TEST(test_consumer_killed),
    HARNESS_TEST(test_consumer_closed),
    HARNESS_TEST(test_peer_leaves_at_check),
};

int main(int argc, char **argv)
{
    return chan_main(tests, sizeof tests / sizeof tests[0], argc, argv);
}
