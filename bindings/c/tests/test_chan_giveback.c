/*
 * test_chan_giveback.c - shmlib_chan_unreserve and shmlib_chan_unpeek: a
 * loan given back publishes nothing and consumes nothing, also where the
 * ring wraps, and each is refused on the wrong end or without a loan.
 *
 *   test_chan_giveback [TEST_NAME...]   all tests, or only those named
 */
#include "harness.h"

/* A channel of 4096 bytes with both ends open; 0 if it could not be made. */
static int open_pair(char key[SHMLIB_KEY_MAX], shmlib_chan_t *prod, shmlib_chan_t *cons)
{
    if (!CHECK_RC(shmlib_chan_create("posix:", 4096, 0600, 0, key, SHMLIB_KEY_MAX), 0))
        return 0;
    if (CHECK_RC(shmlib_chan_open(key, SHMLIB_CHAN_PRODUCER, prod), 0)) {
        if (CHECK_RC(shmlib_chan_open(key, SHMLIB_CHAN_CONSUMER, cons), 0))
            return 1;
        shmlib_chan_close(*prod);
    }
    shmlib_destroy(key);
    return 0;
}

static void close_pair(const char *key, shmlib_chan_t prod, shmlib_chan_t cons)
{
    CHECK_RC(shmlib_chan_close(prod), 0);
    CHECK_RC(shmlib_chan_close(cons), 0);
    CHECK_RC(shmlib_destroy(key), 0);
}

/* The next message is `want`, received with recv. */
static void expect_next(shmlib_chan_t cons, const char *want)
{
    char buf[4096];
    size_t len = 0;
    if (CHECK_RC(shmlib_chan_recv(cons, buf, sizeof buf, &len, 0), 0)) {
        CHECK_INT(len, strlen(want));
        CHECK(memcmp(buf, want, strlen(want)) == 0);
    }
}

static void test_unreserve(void)
{
    char key[SHMLIB_KEY_MAX];
    shmlib_chan_t prod, cons;
    if (!open_pair(key, &prod, &cons))
        return;
    void *p;
    const void *m;
    size_t len;
    if (CHECK_RC(shmlib_chan_reserve(prod, 100, 0, &p), 0)) {
        memcpy(p, "dropped", 7);
        CHECK_RC(shmlib_chan_unreserve(prod), 0);
    }
    /* Nothing was published, and nothing is reserved any more. */
    CHECK_RC(shmlib_chan_peek(cons, 0, &m, &len), SHMLIB_ETIMEDOUT);
    CHECK_RC(shmlib_chan_commit(prod, 0), SHMLIB_EINVAL);
    CHECK_RC(shmlib_chan_unreserve(prod), SHMLIB_EINVAL);
    CHECK(strstr(harness_last_error(), "chan_unreserve") != NULL);
    /* The next reservation starts afresh, where the dropped one was. */
    void *q;
    if (CHECK_RC(shmlib_chan_reserve(prod, 5, 0, &q), 0)) {
        CHECK(q == p);
        memcpy(q, "kept!", 5);
        CHECK_RC(shmlib_chan_commit(prod, 5), 0);
    }
    expect_next(cons, "kept!");
    /* Only the producer reserves. */
    CHECK_RC(shmlib_chan_unreserve(cons), SHMLIB_EINVAL);
    close_pair(key, prod, cons);
}

static void test_unpeek(void)
{
    char key[SHMLIB_KEY_MAX];
    shmlib_chan_t prod, cons;
    if (!open_pair(key, &prod, &cons))
        return;
    CHECK_RC(shmlib_chan_send(prod, "first", 5, 0), 0);
    CHECK_RC(shmlib_chan_send(prod, "second", 6, 0), 0);
    const void *m1, *m2;
    size_t l1 = 0, l2 = 0;
    if (CHECK_RC(shmlib_chan_peek(cons, 0, &m1, &l1), 0)) {
        CHECK_RC(shmlib_chan_unpeek(cons), 0);
        /* Given back, not consumed: the same message, in the same place. */
        if (CHECK_RC(shmlib_chan_peek(cons, 0, &m2, &l2), 0)) {
            CHECK(m2 == m1);
            CHECK_INT(l2, 5);
            CHECK(memcmp(m2, "first", 5) == 0);
            CHECK_RC(shmlib_chan_unpeek(cons), 0);
        }
    }
    CHECK_RC(shmlib_chan_release(cons), SHMLIB_EINVAL); /* nothing held */
    CHECK_RC(shmlib_chan_unpeek(cons), SHMLIB_EINVAL);
    CHECK(strstr(harness_last_error(), "chan_unpeek") != NULL);
    expect_next(cons, "first");
    expect_next(cons, "second");
    /* Only the consumer peeks. */
    CHECK_RC(shmlib_chan_unpeek(prod), SHMLIB_EINVAL);
    close_pair(key, prod, cons);
}

/* Where the ring wraps: a reservation that needed padding is given back,
 * and a peek that skipped padding is given back; the stream stays whole. */
static void test_give_back_at_the_wrap(void)
{
    char key[SHMLIB_KEY_MAX];
    shmlib_chan_t prod, cons;
    if (!open_pair(key, &prod, &cons))
        return;
    char big[1500];
    memset(big, 'b', sizeof big);
    /* Two records of 1520 bytes put the tail at 3040 of 4096. */
    for (int i = 0; i < 2; i++) {
        CHECK_RC(shmlib_chan_send(prod, big, sizeof big, 0), 0);
        char buf[sizeof big];
        size_t len;
        CHECK_RC(shmlib_chan_recv(cons, buf, sizeof buf, &len, 0), 0);
    }
    void *p;
    /* 1500 bytes no longer fit before the end: padding, then the start. */
    if (CHECK_RC(shmlib_chan_reserve(prod, sizeof big, 0, &p), 0))
        CHECK_RC(shmlib_chan_unreserve(prod), 0);
    /* A small one fits before the end, where the padding was written. */
    CHECK_RC(shmlib_chan_send(prod, "tail", 4, 0), 0);
    CHECK_RC(shmlib_chan_send(prod, big, sizeof big, 0), 0); /* padded */
    expect_next(cons, "tail");
    const void *m;
    size_t len = 0;
    if (CHECK_RC(shmlib_chan_peek(cons, 0, &m, &len), 0)) {
        CHECK_INT(len, sizeof big);
        CHECK_RC(shmlib_chan_unpeek(cons), 0);
    }
    char buf[sizeof big];
    if (CHECK_RC(shmlib_chan_recv(cons, buf, sizeof buf, &len, 0), 0))
        CHECK(len == sizeof big && memcmp(buf, big, sizeof big) == 0);
    CHECK_RC(shmlib_chan_peek(cons, 0, &m, &len), SHMLIB_ETIMEDOUT);
    close_pair(key, prod, cons);
}

static const struct harness_test tests[] = {
    HARNESS_TEST(test_unreserve),
    HARNESS_TEST(test_unpeek),
    HARNESS_TEST(test_give_back_at_the_wrap),
};

int main(int argc, char **argv)
{
    return harness_run(tests, sizeof tests / sizeof tests[0], argc, argv);
}
