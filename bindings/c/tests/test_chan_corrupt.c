/*
 * test_chan_corrupt.c - distrust: every word of a channel's shared state
 * scribbled on through a plain attach gives SHMLIB_ECORRUPT, never a read
 * or write out of bounds.
 *
 *   test_chan_corrupt [TEST_NAME...]   all tests, or only those named
 */
#include "harness.h"
#include "chantest.h"

/* One scribble on the shared state. */
struct scribble {
    const char *what;
    size_t off;
    int width; /* 4 or 8 bytes */
    uint64_t value;
    int producer; /* the producer's send notices it, else the consumer's recv */
    int want;     /* what chan_open gives, for scribbles on the header */
};

/* Writes s->value at its place and returns what was there. */
static uint64_t scribble(unsigned char *base, const struct scribble *s, uint64_t value)
{
    uint64_t old = s->width == 4 ? get32(base, s->off) : get64(base, s->off);
    if (s->width == 4)
        put32(base, s->off, (uint32_t)value);
    else
        put64(base, s->off, value);
    return old;
}

/* A channel whose shared state any attached process can overwrite: every
 * inconsistency gives ECORRUPT, never a crash or a wrong message, and
 * nothing is consumed on the way (putting the value back repairs it). */
static void test_corrupt(void)
{
    char key[SHMLIB_KEY_MAX];
    shmlib_chan_t prod, cons;
    const void *ptr;
    size_t len;
    unsigned char buf[4096];

    /* After "first message!!!" (32 bytes of record) was received and
     * "second" sent, head is 32 and tail 64; the second record is at 32. */
    const struct scribble cases[] = {
        {"tail far beyond head", OFF_TAIL, 8, UINT64_C(1) << 40, 0, 0},
        {"tail more than a capacity ahead", OFF_TAIL, 8, 32 + 4096 + 16, 0, 0},
        {"tail behind head", OFF_TAIL, 8, 16, 0, 0},
        {"tail not 16-byte aligned", OFF_TAIL, 8, 63, 0, 0},
        {"record length beyond the limit", DATA + 32, 4, 4096 / 2 - 16 + 1, 0, 0},
        {"record length of 2 GiB", DATA + 32, 4, UINT32_C(1) << 31, 0, 0},
        {"record length beyond what was committed", DATA + 32, 4, 100, 0, 0},
        {"unknown record kind", DATA + 32 + 4, 4, 7, 0, 0},
        {"record kind 0", DATA + 32 + 4, 4, 0, 0, 0},
        {"padding record short of the end", DATA + 32 + 4, 4, KIND_PADDING, 0, 0},
        {"head far beyond tail", OFF_HEAD, 8, UINT64_C(1) << 40, 1, 0},
        {"head beyond tail", OFF_HEAD, 8, 80, 1, 0},
    };

    for (int b = POSIX; b <= SYSV; b++) {
        printf("   %s\n", backend_names[b]);
        if (!new_chan(b, 4096, key))
            continue;
        unsigned char *base = plain_attach(key);
        if (base == NULL || !open_end(key, SHMLIB_CHAN_PRODUCER, &prod) ||
            !open_end(key, SHMLIB_CHAN_CONSUMER, &cons)) {
            CHECK_RC(shmlib_destroy(key), 0);
            continue;
        }
        CHECK_RC(shmlib_chan_send(prod, "first message!!!", 16, 0), 0);
        CHECK_RC(shmlib_chan_send(prod, "second", 6, 0), 0);
        CHECK_RC(shmlib_chan_recv(cons, buf, sizeof buf, &len, 0), 0);
        CHECK_INT(get64(base, OFF_HEAD), 32);
        CHECK_INT(get64(base, OFF_TAIL), 64);
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            const struct scribble *c = &cases[i];
            uint64_t saved = scribble(base, c, c->value);
            int rc = c->producer ? shmlib_chan_send(prod, "x", 1, 0)
                                 : shmlib_chan_recv(cons, buf, sizeof buf, &len, 0);
            CHECKF(rc == SHMLIB_ECORRUPT, "%s: %s returned %d %s, want SHMLIB_ECORRUPT; last "
                   "error \"%s\"", c->what, c->producer ? "send" : "recv", rc,
                   harness_code_name(rc), harness_last_error());
            check_message(c->producer ? "chan_send" : "chan_recv", key, __FILE__, __LINE__);
            if (!c->producer) /* peek reads the same way */
                CHECKF(shmlib_chan_peek(cons, 0, &ptr, &len) == SHMLIB_ECORRUPT,
                       "%s: peek did not give SHMLIB_ECORRUPT", c->what);
            scribble(base, c, saved);
        }
        /* Repaired: the second message is still there, and the ring works. */
        len = 0;
        CHECK_RC(shmlib_chan_recv(cons, buf, sizeof buf, &len, 0), 0);
        CHECK(len == 6 && memcmp(buf, "second", 6) == 0);
        CHECK_RC(send_pattern(prod, 1, 100, 0), 0);
        RECV_PATTERN(cons, 1, 100);
        close_end(cons);

        /* Opening checks the header, and head and tail. The consumer end is
         * opened: the producer's stays held, as closing it would end the
         * stream. */
        const uint64_t tail = get64(base, OFF_TAIL), head = get64(base, OFF_HEAD);
        const struct scribble at_open[] = {
            {"capacity unlike the segment size", OFF_CAPACITY, 8, 1 << 20, 0, SHMLIB_ECORRUPT},
            {"capacity not a multiple of 4096", OFF_CAPACITY, 8, 4095, 0, SHMLIB_ECORRUPT},
            {"data offset", OFF_DATA_OFFSET, 4, 8192, 0, SHMLIB_ECORRUPT},
            {"largest message", OFF_MAX_MESSAGE, 8, 4096, 0, SHMLIB_ECORRUPT},
            {"layout version 99", OFF_VERSION, 4, 99, 0, SHMLIB_ENOTSUP},
            {"magic", OFF_MAGIC, 8, 0, 0, SHMLIB_EINVAL},
            {"tail behind head", OFF_TAIL, 8, head - 16, 0, SHMLIB_ECORRUPT},
            {"tail a capacity ahead", OFF_TAIL, 8, head + 4096 + 16, 0, SHMLIB_ECORRUPT},
            {"tail not 16-byte aligned", OFF_TAIL, 8, tail + 1, 0, SHMLIB_ECORRUPT},
            {"head not 16-byte aligned", OFF_HEAD, 8, head - 1, 0, SHMLIB_ECORRUPT},
        };
        for (size_t i = 0; i < sizeof at_open / sizeof at_open[0]; i++) {
            const struct scribble *c = &at_open[i];
            int want = c->want;
            uint64_t saved = scribble(base, c, c->value);
            shmlib_chan_t chan = 0;
            int rc = shmlib_chan_open(key, SHMLIB_CHAN_CONSUMER, &chan);
            CHECKF(rc == want, "%s: open returned %d %s, want %d %s; last error \"%s\"", c->what,
                   rc, harness_code_name(rc), want, harness_code_name(want), harness_last_error());
            check_message("chan_open", key, __FILE__, __LINE__);
            if (rc == 0)
                close_end(chan);
            scribble(base, c, saved);
        }
        /* Repaired, it opens again: a refused open left the end free. */
        if (open_end(key, SHMLIB_CHAN_CONSUMER, &cons)) {
            CHECK_RC(send_pattern(prod, 2, 10, 0), 0);
            RECV_PATTERN(cons, 2, 10);
            close_end(cons);
        }
        close_end(prod);
        CHECK_RC(shmlib_detach(base), 0);
        CHECK_RC(shmlib_destroy(key), 0);
    }
}

static const struct harness_test tests[] = {
    HARNESS_TEST(test_corrupt),
};

int main(int argc, char **argv)
{
    return chan_main(tests, sizeof tests / sizeof tests[0], argc, argv);
}
