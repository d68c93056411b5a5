/*
 * test_chan_waits.c - how channel calls wait: timeouts (0, finite, forever),
 * the end of the stream, and an end in use by another thread (SHMLIB_EBUSY).
 *
 *   test_chan_waits [TEST_NAME...]   all tests, or only those named
 */
#include "harness.h"
#include "chantest.h"

/* A timeout of 0 never waits, a positive one waits that long, a negative
 * one until the other process acts. */
static void test_timeouts(void)
{
    char key[SHMLIB_KEY_MAX];
    shmlib_chan_t prod, cons;
    const void *ptr;
    void *wptr;
    size_t len;
    uint64_t max;
    unsigned char buf[64];
    int64_t t0, dt;
    struct peer p = {.pid = -1};

    for (int b = POSIX; b <= SYSV; b++) {
        printf("   %s\n", backend_names[b]);
        if (!new_chan(b, 4096, key))
            continue;
        if (!open_end(key, SHMLIB_CHAN_PRODUCER, &prod) ||
            !open_end(key, SHMLIB_CHAN_CONSUMER, &cons)) {
            CHECK_RC(shmlib_destroy(key), 0);
            continue;
        }
        CHECK_RC(shmlib_chan_max_message(prod, &max), 0);

        /* Empty ring. */
        t0 = now_ns();
        CHECK_FAILS(shmlib_chan_recv(cons, buf, sizeof buf, &len, 0), SHMLIB_ETIMEDOUT,
                    "chan_recv", key);
        CHECK_FAILS(shmlib_chan_peek(cons, 0, &ptr, &len), SHMLIB_ETIMEDOUT, "chan_peek", key);
        dt = now_ns() - t0;
        CHECKF(dt < 50 * MS, "two calls with timeout 0 took %.1f ms", (double)dt / 1e6);
        t0 = now_ns();
        CHECK_FAILS(shmlib_chan_recv(cons, buf, sizeof buf, &len, 50 * MS), SHMLIB_ETIMEDOUT,
                    "chan_recv", key);
        dt = now_ns() - t0;
        CHECKF(dt >= 50 * MS && dt < 1000 * MS, "recv with 50 ms returned after %.1f ms",
               (double)dt / 1e6);
        t0 = now_ns();
        CHECK_FAILS(shmlib_chan_peek(cons, 30 * MS, &ptr, &len), SHMLIB_ETIMEDOUT, "chan_peek",
                    key);
        dt = now_ns() - t0;
        CHECKF(dt >= 30 * MS && dt < 1000 * MS, "peek with 30 ms returned after %.1f ms",
               (double)dt / 1e6);

        /* Full ring. */
        unsigned sent = fill_ring(prod, max, 1);
        CHECK_INT(sent, 2);
        t0 = now_ns();
        CHECK_FAILS(send_pattern(prod, 9, max, 0), SHMLIB_ETIMEDOUT, "chan_send", key);
        CHECK_FAILS(shmlib_chan_reserve(prod, 1, 0, &wptr), SHMLIB_ETIMEDOUT, "chan_reserve",
                    key);
        dt = now_ns() - t0;
        CHECKF(dt < 50 * MS, "two calls with timeout 0 took %.1f ms", (double)dt / 1e6);
        t0 = now_ns();
        CHECK_FAILS(shmlib_chan_reserve(prod, 1, 50 * MS, &wptr), SHMLIB_ETIMEDOUT,
                    "chan_reserve", key);
        dt = now_ns() - t0;
        CHECKF(dt >= 50 * MS && dt < 1000 * MS, "reserve with 50 ms returned after %.1f ms",
               (double)dt / 1e6);
        t0 = now_ns();
        CHECK_FAILS(send_pattern(prod, 9, 1, 30 * MS), SHMLIB_ETIMEDOUT, "chan_send", key);
        dt = now_ns() - t0;
        CHECKF(dt >= 30 * MS && dt < 1000 * MS, "send with 30 ms returned after %.1f ms",
               (double)dt / 1e6);

        /* Forever, and any negative value: until the other process acts.
         * The consumer goes to a peer that drains the ring 100 ms after
         * the producer has started to wait. */
        close_end(cons);
        if (peer_start(&p, (const char *[]){"--peer", key, "open:consumer", "ready", "go",
                                            "sleep:100", "recv:1:max", "go", "sleep:100",
                                            "recv:2:max", "recv:3:10", "recv:4:max", "close",
                                            NULL}) &&
            peer_await(&p)) {
            peer_go(&p);
            t0 = now_ns();
            int rc = shmlib_chan_reserve(prod, 10, SHMLIB_WAIT_FOREVER, &wptr);
            dt = now_ns() - t0;
            CHECKF(dt >= 80 * MS, "reserve(WAIT_FOREVER) returned after %.1f ms, before the "
                   "consumer received anything", (double)dt / 1e6);
            if (CHECK_RC(rc, 0)) {
                harness_fill(wptr, 10, 3);
                CHECK_RC(shmlib_chan_commit(prod, 10), 0);
            }
            peer_go(&p);
            t0 = now_ns();
            CHECK_RC(send_pattern(prod, 4, max, INT64_MIN), 0);
            dt = now_ns() - t0;
            CHECKF(dt >= 80 * MS, "send(INT64_MIN) returned after %.1f ms, before the consumer "
                   "received anything", (double)dt / 1e6);
        }
        peer_finish(&p, "the draining consumer");

        close_end(prod);
        CHECK_RC(shmlib_destroy(key), 0);

        /* And the other way, on a new channel (the producer's close ended
         * that stream): a consumer waiting forever for a producer process. */
        if (!new_chan(b, 4096, key))
            continue;
        if (open_end(key, SHMLIB_CHAN_CONSUMER, &cons) &&
            peer_start(&p, (const char *[]){"--peer", key, "open:producer", "ready", "go",
                                            "sleep:100", "send:7:33", "close", NULL}) &&
            peer_await(&p)) {
            peer_go(&p);
            t0 = now_ns();
            len = 0;
            CHECK_RC(shmlib_chan_recv(cons, buf, sizeof buf, &len, SHMLIB_WAIT_FOREVER), 0);
            dt = now_ns() - t0;
            CHECKF(dt >= 80 * MS, "recv(WAIT_FOREVER) returned after %.1f ms, before the "
                   "producer sent", (double)dt / 1e6);
            CHECK_INT(len, 33);
            CHECK_INT(harness_verify(buf, 33, 7), 33);
        }
        peer_finish(&p, "the late producer");
        close_end(cons);
        CHECK_RC(shmlib_destroy(key), 0);
    }
}

/* The producer's close ends the stream, after everything it committed. */
static void test_end_of_stream(void)
{
    char key[SHMLIB_KEY_MAX];
    shmlib_chan_t cons, chan;
    const void *ptr;
    size_t len;
    unsigned char buf[16];
    struct peer p = {.pid = -1};

    for (int b = POSIX; b <= SYSV; b++) {
        printf("   %s\n", backend_names[b]);
        if (!new_chan(b, 4096, key))
            continue;
        if (!open_end(key, SHMLIB_CHAN_CONSUMER, &cons)) {
            CHECK_RC(shmlib_destroy(key), 0);
            continue;
        }
        /* N messages, then close, in another process; a reservation
         * pending at close is dropped. */
        if (peer_start(&p, (const char *[]){"--peer", key, "open:producer", "send:1:10",
                                            "send:2:0", "send:3:max", "reserve:4:50", "close",
                                            NULL}))
            peer_finish(&p, "producer of 3");
        RECV_PATTERN(cons, 1, 10);
        RECV_PATTERN(cons, 2, 0);
        RECV_PATTERN(cons, 3, 4096 / 2 - 16);
        CHECK_FAILS(shmlib_chan_recv(cons, buf, sizeof buf, &len, 0), SHMLIB_EEOS, "chan_recv",
                    key);
        CHECK_FAILS(shmlib_chan_recv(cons, buf, sizeof buf, &len, SHMLIB_WAIT_FOREVER),
                    SHMLIB_EEOS, "chan_recv", key);
        CHECK_FAILS(shmlib_chan_peek(cons, PATIENCE, &ptr, &len), SHMLIB_EEOS, "chan_peek", key);

        /* The stream stays ended: no new producer, here or elsewhere. */
        chan = 0;
        CHECK_FAILS(shmlib_chan_open(key, SHMLIB_CHAN_PRODUCER, &chan), SHMLIB_EEOS, "chan_open",
                    key);
        CHECK_INT(chan, 0);
        close_end(cons);
        /* A new consumer of an ended stream gets EEOS too. */
        if (peer_start(&p, (const char *[]){"--peer", key, "open:consumer", "eeos", "close",
                                            NULL}))
            peer_finish(&p, "consumer of an ended stream");
        CHECK_RC(shmlib_destroy(key), 0);

        /* A consumer asleep in recv(WAIT_FOREVER) wakes up for the close. */
        if (!new_chan(b, 4096, key))
            continue;
        if (open_end(key, SHMLIB_CHAN_CONSUMER, &cons) &&
            peer_start(&p, (const char *[]){"--peer", key, "open:producer", "ready", "go",
                                            "sleep:100", "close", NULL}) &&
            peer_await(&p)) {
            peer_go(&p);
            int64_t t0 = now_ns();
            CHECK_FAILS(shmlib_chan_recv(cons, buf, sizeof buf, &len, SHMLIB_WAIT_FOREVER),
                        SHMLIB_EEOS, "chan_recv", key);
            int64_t dt = now_ns() - t0;
            CHECKF(dt >= 80 * MS && dt < 1000 * MS, "EEOS after %.1f ms for a close 100 ms on",
                   (double)dt / 1e6);
        }
        peer_finish(&p, "closing producer");
        close_end(cons);
        CHECK_RC(shmlib_destroy(key), 0);
    }
}

/* A thread blocked in a call on a handle, so that another can try it. */
struct blocked {
    shmlib_chan_t chan;
    int producer; /* reserve if set, otherwise recv */
    int started;
    int rc;
    size_t len;
    void *ptr;
    unsigned char buf[64];
};

static void *blocked_run(void *arg)
{
    struct blocked *bl = arg;
    __atomic_store_n(&bl->started, 1, __ATOMIC_SEQ_CST);
    if (bl->producer)
        bl->rc = shmlib_chan_reserve(bl->chan, 10, PATIENCE, &bl->ptr);
    else
        bl->rc = shmlib_chan_recv(bl->chan, bl->buf, sizeof bl->buf, &bl->len, PATIENCE);
    return NULL;
}

/* Starts the thread and gives it time to fall asleep in its call. */
static int blocked_start(pthread_t *t, struct blocked *bl)
{
    if (!CHECK(pthread_create(t, NULL, blocked_run, bl) == 0))
        return 0;
    while (!__atomic_load_n(&bl->started, __ATOMIC_SEQ_CST))
        sleep_ms(1);
    sleep_ms(100);
    return 1;
}

/* Each end is held by one process, and each handle used by one thread at a
 * time. */
static void test_busy(void)
{
    char key[SHMLIB_KEY_MAX], want[64];
    shmlib_chan_t prod, cons, other;
    const void *cptr;
    void *ptr;
    size_t len;
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
        /* The producer end is held by this process: refused here, with our
         * pid, and in another process, with our pid. */
        other = 0;
        CHECK_FAILS(shmlib_chan_open(key, SHMLIB_CHAN_PRODUCER, &other), SHMLIB_EBUSY, "chan_open",
                    key);
        snprintf(want, sizeof want, "pid %d", (int)getpid());
        CHECK_MESSAGE_HAS(want);
        CHECK_INT(other, 0);
        if (peer_start(&p, (const char *[]){"--peer", key, "busy:producer", NULL}))
            peer_finish(&p, "second producer");

        /* The consumer end held by another process. */
        if (peer_start(&p, (const char *[]){"--peer", key, "open:consumer", "ready", "go", "close",
                                            "ready", "go", NULL}) &&
            peer_await(&p)) {
            CHECK_FAILS(shmlib_chan_open(key, SHMLIB_CHAN_CONSUMER, &other), SHMLIB_EBUSY,
                        "chan_open", key);
            snprintf(want, sizeof want, "pid %d", (int)p.pid);
            CHECK_MESSAGE_HAS(want);
            peer_go(&p); /* it closes: the end is free again */
            if (peer_await(&p) && open_end(key, SHMLIB_CHAN_CONSUMER, &other))
                close_end(other);
        }
        peer_finish(&p, "consumer holding its end");

        /* A thread asleep in reserve on a full ring: every call on that
         * handle from another thread is refused; other handles work, and
         * wake it. Nothing was sent yet, so two largest messages fill it. */
        if (!open_end(key, SHMLIB_CHAN_CONSUMER, &cons))
            continue;
        CHECK_RC(shmlib_chan_max_message(prod, &max), 0);
        CHECK_INT(fill_ring(prod, max, 10), 2);
        struct blocked bp = {.chan = prod, .producer = 1};
        pthread_t t;
        if (blocked_start(&t, &bp)) {
            CHECK_FAILS(send_pattern(prod, 2, 1, 0), SHMLIB_EBUSY, "chan_send", key);
            CHECK_FAILS(shmlib_chan_reserve(prod, 1, 0, &ptr), SHMLIB_EBUSY, "chan_reserve", key);
            CHECK_FAILS(shmlib_chan_commit(prod, 0), SHMLIB_EBUSY, "chan_commit", key);
            /* (close from another thread is not refused: test_wake.c) */
            RECV_PATTERN(cons, 10, max);
            pthread_join(t, NULL);
            /* The handle is free again, and any thread may go on. */
            if (prod != 0 && CHECK_RC(bp.rc, 0)) {
                harness_fill(bp.ptr, 10, 12);
                CHECK_RC(shmlib_chan_commit(prod, 10), 0);
            }
            RECV_PATTERN(cons, 11, max);
            RECV_PATTERN(cons, 12, 10);
        }

        /* A thread asleep in recv, the same. */
        struct blocked bl = {.chan = cons};
        if (prod != 0 && blocked_start(&t, &bl)) {
            unsigned char buf[64];
            CHECK_FAILS(shmlib_chan_recv(cons, buf, sizeof buf, &len, 0), SHMLIB_EBUSY,
                        "chan_recv", key);
            CHECK_FAILS(shmlib_chan_peek(cons, 0, &cptr, &len), SHMLIB_EBUSY, "chan_peek", key);
            CHECK_FAILS(shmlib_chan_release(cons), SHMLIB_EBUSY, "chan_release", key);
            CHECK_RC(send_pattern(prod, 1, 20, 0), 0);
            pthread_join(t, NULL);
            CHECK_RC(bl.rc, 0);
            CHECK_INT(bl.len, 20);
            CHECK_INT(harness_verify(bl.buf, 20, 1), 20);
        }
        close_end(cons);
        close_end(prod);
        CHECK_RC(shmlib_destroy(key), 0);
    }
}

static const struct harness_test tests[] = {
    HARNESS_TEST(test_timeouts),
    HARNESS_TEST(test_end_of_stream),
    HARNESS_TEST(test_busy),
};

int main(int argc, char **argv)
{
    return chan_main(tests, sizeof tests / sizeof tests[0], argc, argv);
}
