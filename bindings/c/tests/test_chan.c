/*
 * test_chan.c - the channels of include/shmlib.h (shmlib_chan_*) against the
 * real kernel, on both backends: create and open, every message in order
 * between two processes, reserve/commit and peek/release in place,
 * handover, and bad arguments. Waits, dead peers and a scribbled ring have
 * files of their own (test_chan_waits.c, test_chan_peers.c,
 * test_chan_corrupt.c); chantest.h holds what they share, and their peer
 * roles.
 *
 *   test_chan [TEST_NAME...]   all tests, or only those named
 */
#include "harness.h"
#include "chantest.h"

/* Creation: capacity rounding, the segment's size and flag, the errors of
 * shmlib_create, and the header that chan_create lays out. */
static void test_create(void)
{
    char key[SHMLIB_KEY_MAX], plain[SHMLIB_KEY_MAX], out[SHMLIB_KEY_MAX], want[SHMLIB_KEY_MAX];
    shmlib_stat_t st;
    shmlib_chan_t chan;
    uint64_t max;

    for (int b = POSIX; b <= SYSV; b++) {
        printf("   %s\n", backend_names[b]);
        /* Requested capacity -> rounded data area. */
        static const uint64_t caps[][2] = {{1, 4096}, {4096, 4096}, {4097, 8192}, {5000, 8192}};
        for (size_t i = 0; i < sizeof caps / sizeof caps[0]; i++) {
            if (!new_chan(b, caps[i][0], key))
                continue;
            if (CHECK_RC(shmlib_stat(key, &st), 0)) {
                CHECKF(st.size == caps[i][1] + 4096, "capacity %" PRIu64 ": segment of %" PRIu64
                       " bytes, want %" PRIu64, caps[i][0], st.size, caps[i][1] + 4096);
                CHECK(st.flags & SHMLIB_STAT_CHANNEL);
                CHECK_INT(st.mode, 0600); /* mode 0 means 0600, as for create */
                CHECK_INT(st.backend, b == POSIX ? SHMLIB_BACKEND_POSIX : SHMLIB_BACKEND_SYSV);
            }
            if (open_end(key, SHMLIB_CHAN_PRODUCER, &chan)) {
                CHECK(chan != 0);
                max = 0;
                CHECK_RC(shmlib_chan_max_message(chan, &max), 0);
                CHECK_INT(max, caps[i][1] / 2 - 16);
                close_end(chan);
            }
            CHECK_RC(shmlib_destroy(key), 0);
        }

        /* The flag, in list as in stat, and only on channels. */
        if (!new_chan(b, 4096, key))
            continue;
        const char *plain_key = b == POSIX ? "posix:" : "sysv:";
        CHECK_RC(shmlib_create(plain_key, 8192, 0, 0, plain, sizeof plain), 0);
        CHECK_RC(shmlib_stat(plain, &st), 0);
        CHECK(!(st.flags & SHMLIB_STAT_CHANNEL));
        size_t count = 0, found = 0;
        CHECK_RC(shmlib_list(NULL, 0, &count), 0);
        shmlib_stat_t *items = calloc(count + 16, sizeof *items);
        if (CHECK_RC(shmlib_list(items, count + 16, &count), 0)) {
            for (size_t i = 0; i < count; i++) {
                if (strcmp(items[i].key, key) == 0)
                    found += CHECK(items[i].flags & SHMLIB_STAT_CHANNEL);
                if (strcmp(items[i].key, plain) == 0)
                    found += CHECK(!(items[i].flags & SHMLIB_STAT_CHANNEL));
            }
        }
        CHECK_INT(found, 2);
        free(items);

        /* A plain segment, even of a channel's size, is not a channel. */
        chan = 12345;
        CHECK_FAILS(shmlib_chan_open(plain, SHMLIB_CHAN_CONSUMER, &chan), SHMLIB_EINVAL,
                    "chan_open", plain);
        CHECK_MESSAGE_HAS("not a channel");
        CHECK_INT(chan, 12345); /* untouched on failure */
        CHECK_RC(shmlib_destroy(plain), 0);
        CHECK_RC(shmlib_create(plain_key, 100, 0, 0, plain, sizeof plain), 0);
        CHECK_FAILS(shmlib_chan_open(plain, SHMLIB_CHAN_PRODUCER, &chan), SHMLIB_EINVAL,
                    "chan_open", plain);
        CHECK_MESSAGE_HAS("not a channel");
        CHECK_RC(shmlib_destroy(plain), 0);

        /* The header chan_create laid out, as layout.go documents it. */
        unsigned char *base = plain_attach(key);
        if (base != NULL) {
            CHECK(memcmp(base + OFF_MAGIC, "LSHMCHAN", 8) == 0);
            CHECK_INT(get32(base, OFF_VERSION), 2);
            CHECK_INT(get32(base, OFF_DATA_OFFSET), DATA);
            CHECK_INT(get64(base, OFF_CAPACITY), 4096);
            CHECK_INT(get64(base, OFF_MAX_MESSAGE), 4096 / 2 - 16);
            CHECK_INT(get64(base, OFF_TAIL), 0);
            CHECK_INT(get64(base, OFF_HEAD), 0);
            CHECK_RC(shmlib_detach(base), 0);
        }

        /* Exclusive, and OPEN_EXISTING refused (even for a new key). */
        memset(out, '#', sizeof out);
        CHECK_FAILS(shmlib_chan_create(key, 4096, 0, 0, out, sizeof out), SHMLIB_EEXIST,
                    "chan_create", key);
        CHECK_FAILS(shmlib_chan_create(key, 4096, 0, SHMLIB_OPEN_EXISTING, out, sizeof out),
                    SHMLIB_EINVAL, "chan_create", key);
        CHECK_RC(shmlib_destroy(key), 0);
        CHECK_FAILS(shmlib_chan_create(key, 4096, 0, SHMLIB_OPEN_EXISTING, out, sizeof out),
                    SHMLIB_EINVAL, "chan_create", key);
        CHECK_FAILS(shmlib_chan_open(key, SHMLIB_CHAN_CONSUMER, &chan), SHMLIB_ENOENT,
                    "chan_open", key);

        /* Capacity out of range, unknown and backend-specific flags, no room
         * for the key: refused, nothing made, out_key untouched. POSIX by a
         * name of this run, so that a leftover would be seen. */
        char any[SHMLIB_KEY_MAX];
        if (b == POSIX)
            snprintf(any, sizeof any, "posix:/%s-refused", prefix);
        else
            snprintf(any, sizeof any, "sysv:");
        const char *named = b == POSIX ? any : NULL; /* the key the message names */
        CHECK_FAILS(shmlib_chan_create(any, 0, 0, 0, out, sizeof out), SHMLIB_EINVAL,
                    "chan_create", named);
        CHECK_FAILS(shmlib_chan_create(any, 8 * GIB + 1, 0, 0, out, sizeof out), SHMLIB_EINVAL,
                    "chan_create", named);
        CHECK_FAILS(shmlib_chan_create(any, UINT64_MAX, 0, 0, out, sizeof out), SHMLIB_EINVAL,
                    "chan_create", named);
        CHECK_FAILS(shmlib_chan_create(any, 4096, 0, 0x8000, out, sizeof out), SHMLIB_EINVAL,
                    "chan_create", named);
        CHECK_FAILS(shmlib_chan_create(any, 4096, 01000, 0, out, sizeof out), SHMLIB_EINVAL,
                    "chan_create", named);
        CHECK_FAILS(shmlib_chan_create(any, 4096, 0, b == POSIX ? SHMLIB_HUGETLB : SHMLIB_SPARSE,
                                       out, sizeof out),
                    SHMLIB_ENOTSUP, "chan_create", named);
        if (b == SYSV) /* a key the library chooses needs out_key */
            CHECK_FAILS(shmlib_chan_create(any, 4096, 0, 0, NULL, 0), SHMLIB_EINVAL,
                        "chan_create", NULL);
        CHECK_FAILS(shmlib_chan_create(any, 4096, 0, 0, out, 8), SHMLIB_ERANGE, "chan_create",
                    named);
        size_t untouched = 0;
        while (untouched < sizeof out && out[untouched] == '#')
            untouched++;
        CHECKF(untouched == sizeof out, "a failed chan_create wrote out_key");
        check_nothing_left("the failed chan_create calls");
    }

    /* Keys of every form, and the mode applied exactly. */
    snprintf(want, sizeof want, "posix:/%s-named", prefix);
    if (CHECK_RC(shmlib_chan_create(want, 4096, 0640, 0, out, sizeof out), 0)) {
        CHECK_STR(out, want);
        CHECK_RC(shmlib_stat(out, &st), 0);
        CHECK_INT(st.mode, 0640);
        CHECK_RC(shmlib_destroy(out), 0);
    }
    static const char *const chosen[] = {NULL, "", "posix:", "sysv:private"};
    for (size_t i = 0; i < sizeof chosen / sizeof chosen[0]; i++) {
        if (!CHECK_RC(shmlib_chan_create(chosen[i], 4096, 0, 0, out, sizeof out), 0))
            continue;
        CHECKF(strncmp(out, i < 3 ? "posix:/" : "sysv:id=", i < 3 ? 7 : 8) == 0,
               "chan_create(\"%s\") gave key %s", chosen[i] ? chosen[i] : "NULL", out);
        if (open_end(out, SHMLIB_CHAN_CONSUMER, &chan))
            close_end(chan);
        CHECK_RC(shmlib_destroy(out), 0);
        CHECK_RC(shmlib_stat(out, &st), SHMLIB_ENOENT);
    }

    /* The largest capacity, 8 GiB: sparse, so nothing is reserved. */
    if (CHECK_RC(shmlib_chan_create("posix:", 8 * GIB, 0, SHMLIB_SPARSE, out, sizeof out), 0)) {
        CHECK_RC(shmlib_stat(out, &st), 0);
        CHECK_INT(st.size, 8 * GIB + 4096);
        if (open_end(out, SHMLIB_CHAN_PRODUCER, &chan)) {
            CHECK_RC(shmlib_chan_max_message(chan, &max), 0);
            CHECK_INT(max, 4 * GIB - 16);
            close_end(chan);
        }
        CHECK_RC(shmlib_destroy(out), 0);
    }
}

/* Many messages of every length through a 4 KiB ring, so it wraps around
 * thousands of times, from a producer process to a consumer process. */
static void test_fifo(void)
{
    const uint32_t count = 20000;
    char key[SHMLIB_KEY_MAX], n[16];
    snprintf(n, sizeof n, "%u", count);

    for (int b = POSIX; b <= SYSV; b++) {
        printf("   %s\n", backend_names[b]);
        if (!new_chan(b, 4096, key))
            continue;
        struct peer prod = {.pid = -1}, cons = {.pid = -1};
        int64_t t0 = now_ns();
        if (peer_start(&cons, (const char *[]){"--fifo-consumer", key, n, NULL}) &&
            peer_start(&prod, (const char *[]){"--fifo-producer", key, n, NULL})) {
            peer_finish(&prod, "fifo producer");
        }
        peer_finish(&cons, "fifo consumer");
        printf("   %u messages in %.0f ms\n", count, (double)(now_ns() - t0) / 1e6);

        /* Everything was consumed: head caught up with tail. */
        unsigned char *base = plain_attach(key);
        if (base != NULL) {
            CHECK_INT(get64(base, OFF_HEAD), get64(base, OFF_TAIL));
            CHECKF(get64(base, OFF_TAIL) > 1000 * 4096, "tail %" PRIu64 ": the ring wrapped "
                   "fewer than 1000 times", get64(base, OFF_TAIL));
            CHECK_RC(shmlib_detach(base), 0);
        }
        CHECK_RC(shmlib_destroy(key), 0);
    }
}

/* Writing in place: reserve, fill, commit. */
static void test_reserve_commit(void)
{
    char key[SHMLIB_KEY_MAX];
    shmlib_chan_t prod, cons;
    void *ptr, *ptr2;
    const void *cptr;
    size_t len;
    uint64_t max;

    for (int b = POSIX; b <= SYSV; b++) {
        printf("   %s\n", backend_names[b]);
        if (!new_chan(b, 4096, key))
            continue;
        if (!open_end(key, SHMLIB_CHAN_PRODUCER, &prod) ||
            !open_end(key, SHMLIB_CHAN_CONSUMER, &cons)) {
            CHECK_RC(shmlib_destroy(key), 0);
            continue;
        }
        unsigned char *base = plain_attach(key);
        CHECK_RC(shmlib_chan_max_message(prod, &max), 0);

        /* Commit with nothing reserved. */
        CHECK_FAILS(shmlib_chan_commit(prod, 0), SHMLIB_EINVAL, "chan_commit", key);

        /* The reservation lies in the segment, 16-byte aligned, where the
         * first record's payload goes, and is invisible until committed. */
        ptr = NULL;
        if (CHECK_RC(shmlib_chan_reserve(prod, 100, 0, &ptr), 0)) {
            CHECK(aligned16(ptr));
            harness_fill(ptr, 100, 1);
            if (base != NULL)
                CHECK_INT(harness_verify(base + DATA + RECORD_HEADER, 100, 1), 100);
        }
        cptr = &len;
        len = 77;
        CHECK_FAILS(shmlib_chan_peek(cons, 0, &cptr, &len), SHMLIB_ETIMEDOUT, "chan_peek", key);
        CHECK(cptr == (const void *)&len && len == 77); /* untouched on failure */

        /* One reservation at a time; no send meanwhile. */
        ptr2 = &len;
        CHECK_FAILS(shmlib_chan_reserve(prod, 10, 0, &ptr2), SHMLIB_EINVAL, "chan_reserve", key);
        CHECK(ptr2 == (void *)&len);
        CHECK_FAILS(shmlib_chan_send(prod, "x", 1, 0), SHMLIB_EINVAL, "chan_send", key);
        /* Commit more than reserved: refused, the reservation stays. */
        CHECK_FAILS(shmlib_chan_commit(prod, 101), SHMLIB_EINVAL, "chan_commit", key);
        /* Commit less: the message is that long. */
        CHECK_RC(shmlib_chan_commit(prod, 40), 0);
        CHECK_FAILS(shmlib_chan_commit(prod, 40), SHMLIB_EINVAL, "chan_commit", key);
        RECV_PATTERN(cons, 1, 40);

        /* Zero bytes reserved and committed: an empty message. */
        CHECK_RC(shmlib_chan_reserve(prod, 0, 0, &ptr), 0);
        CHECK_RC(shmlib_chan_commit(prod, 0), 0);
        len = 99;
        CHECK_RC(shmlib_chan_recv(cons, NULL, 0, &len, 0), 0);
        CHECK_INT(len, 0);
        /* send of 0 bytes from NULL is fine too. */
        CHECK_RC(shmlib_chan_send(prod, NULL, 0, 0), 0);
        len = 99;
        CHECK_RC(shmlib_chan_recv(cons, NULL, 0, &len, 0), 0);
        CHECK_INT(len, 0);

        /* The largest message fits, one byte more does not. */
        CHECK_FAILS(shmlib_chan_reserve(prod, max + 1, 0, &ptr), SHMLIB_EMSGSIZE, "chan_reserve",
                    key);
        CHECK_FAILS(send_pattern(prod, 2, max + 1, 0), SHMLIB_EMSGSIZE, "chan_send", key);
        if (CHECK_RC(shmlib_chan_reserve(prod, max, 0, &ptr), 0)) {
            CHECK(aligned16(ptr));
            harness_fill(ptr, max, 3);
            CHECK_RC(shmlib_chan_commit(prod, max), 0);
        }
        RECV_PATTERN(cons, 3, max);

        /* Each end does only its own part. */
        CHECK_FAILS(shmlib_chan_reserve(cons, 1, 0, &ptr), SHMLIB_EINVAL, "chan_reserve", key);
        CHECK_FAILS(shmlib_chan_commit(cons, 0), SHMLIB_EINVAL, "chan_commit", key);
        CHECK_FAILS(shmlib_chan_send(cons, "x", 1, 0), SHMLIB_EINVAL, "chan_send", key);
        CHECK_FAILS(shmlib_chan_recv(prod, &len, sizeof len, &len, 0), SHMLIB_EINVAL, "chan_recv",
                    key);
        CHECK_FAILS(shmlib_chan_peek(prod, 0, &cptr, &len), SHMLIB_EINVAL, "chan_peek", key);
        CHECK_FAILS(shmlib_chan_release(prod), SHMLIB_EINVAL, "chan_release", key);

        if (base != NULL)
            CHECK_RC(shmlib_detach(base), 0);
        close_end(prod);
        close_end(cons);
        CHECK_RC(shmlib_destroy(key), 0);
    }
}

/* Reading in place: peek, use, release; and recv into a small buffer. */
static void test_peek_release(void)
{
    char key[SHMLIB_KEY_MAX];
    shmlib_chan_t prod, cons;
    const void *ptr, *ptr2;
    size_t len, len2;
    uint64_t max;
    unsigned char buf[256];

    for (int b = POSIX; b <= SYSV; b++) {
        printf("   %s\n", backend_names[b]);
        if (!new_chan(b, 4096, key))
            continue;
        if (!open_end(key, SHMLIB_CHAN_PRODUCER, &prod) ||
            !open_end(key, SHMLIB_CHAN_CONSUMER, &cons)) {
            CHECK_RC(shmlib_destroy(key), 0);
            continue;
        }
        unsigned char *base = plain_attach(key);
        CHECK_RC(shmlib_chan_max_message(prod, &max), 0);

        CHECK_FAILS(shmlib_chan_release(cons), SHMLIB_EINVAL, "chan_release", key);

        /* The first message, in place: in the segment's pages (a write
         * through another mapping shows through the pointer) and aligned. */
        CHECK_RC(send_pattern(prod, 1, max, 0), 0);
        CHECK_RC(send_pattern(prod, 2, max, 0), 0); /* the ring is now full */
        ptr = NULL;
        len = 0;
        if (CHECK_RC(shmlib_chan_peek(cons, 0, &ptr, &len), 0)) {
            CHECK(aligned16(ptr));
            CHECK_INT(len, max);
            CHECK_INT(harness_verify(ptr, len, 1), max);
            if (base != NULL) {
                CHECK(ptr != base + DATA + RECORD_HEADER); /* the handle's own mapping */
                base[DATA + RECORD_HEADER] ^= 0xff;
                CHECK(((const unsigned char *)ptr)[0] == (unsigned char)(harness_pattern(1, 0) ^ 0xff));
                base[DATA + RECORD_HEADER] ^= 0xff;
            }
        }
        /* One message held at a time: no second peek, no recv. */
        ptr2 = &len2;
        len2 = 5;
        CHECK_FAILS(shmlib_chan_peek(cons, 0, &ptr2, &len2), SHMLIB_EINVAL, "chan_peek", key);
        CHECK(ptr2 == (const void *)&len2 && len2 == 5);
        CHECK_FAILS(shmlib_chan_recv(cons, buf, sizeof buf, &len2, 0), SHMLIB_EINVAL, "chan_recv",
                    key);
        /* While held, its memory is not the producer's: the ring stays full. */
        CHECK_FAILS(send_pattern(prod, 3, max, 0), SHMLIB_ETIMEDOUT, "chan_send", key);
        CHECK_INT(harness_verify(ptr, len, 1), max);
        CHECK_RC(shmlib_chan_release(cons), 0);
        CHECK_FAILS(shmlib_chan_release(cons), SHMLIB_EINVAL, "chan_release", key);
        CHECK_RC(send_pattern(prod, 3, max, 0), 0); /* room again */
        RECV_PATTERN(cons, 2, max);
        RECV_PATTERN(cons, 3, max);

        /* A message longer than the buffer stays: ERANGE with its length. */
        CHECK_RC(send_pattern(prod, 4, 200, 0), 0);
        len = 0;
        CHECK_FAILS(shmlib_chan_recv(cons, buf, 199, &len, 0), SHMLIB_ERANGE, "chan_recv", key);
        CHECK_INT(len, 200);
        len = 0;
        CHECK_FAILS(shmlib_chan_recv(cons, NULL, 0, &len, 0), SHMLIB_ERANGE, "chan_recv", key);
        CHECK_INT(len, 200);
        len = 0;
        if (CHECK_RC(shmlib_chan_peek(cons, 0, &ptr, &len), 0)) {
            CHECK_INT(len, 200);
            CHECK_INT(harness_verify(ptr, len, 4), 200);
            CHECK_RC(shmlib_chan_release(cons), 0);
        }

        /* Nothing there: ETIMEDOUT, and out_len is not written. */
        len = 1234;
        CHECK_FAILS(shmlib_chan_recv(cons, buf, sizeof buf, &len, 0), SHMLIB_ETIMEDOUT,
                    "chan_recv", key);
        CHECK_INT(len, 1234);

        /* Closing with a message held does not release it: the next
         * consumer, in another process, receives it again. */
        CHECK_RC(send_pattern(prod, 5, 33, 0), 0);
        CHECK_RC(shmlib_chan_peek(cons, 0, &ptr, &len), 0);
        close_end(cons);
        struct peer p = {.pid = -1};
        if (peer_start(&p, (const char *[]){"--peer", key, "open:consumer", "recv:5:33", "close",
                                            NULL}))
            peer_finish(&p, "the next consumer");

        if (base != NULL)
            CHECK_RC(shmlib_detach(base), 0);
        close_end(prod);
        CHECK_RC(shmlib_destroy(key), 0);
    }
}

/* Handles that are not open, and NULL output parameters. */
/* shmlib_chan_handover: the end is free for the next holder, the stream
 * goes on (no end of stream), and the old handle is gone. */
static void test_handover(void)
{
    char key[SHMLIB_KEY_MAX], buf[16];
    shmlib_chan_t tx, tx2, rx;
    size_t n;

    if (!new_chan(POSIX, 4096, key))
        return;
    if (open_end(key, SHMLIB_CHAN_CONSUMER, &rx) && open_end(key, SHMLIB_CHAN_PRODUCER, &tx)) {
        CHECK_RC(shmlib_chan_send(tx, "one", 3, 0), 0);
        CHECK_RC(shmlib_chan_handover(tx), 0);
        CHECK_RC(shmlib_chan_send(tx, "x", 1, 0), SHMLIB_EINVAL); /* the handle is gone */
        CHECK_RC(shmlib_chan_handover(tx), SHMLIB_EINVAL);
        if (open_end(key, SHMLIB_CHAN_PRODUCER, &tx2)) { /* free: not EBUSY */
            CHECK_RC(shmlib_chan_send(tx2, "two", 3, 0), 0);
            CHECK_RC(shmlib_chan_recv(rx, buf, sizeof buf, &n, 0), 0);
            CHECK(n == 3 && memcmp(buf, "one", 3) == 0);
            CHECK_RC(shmlib_chan_recv(rx, buf, sizeof buf, &n, 0), 0);
            CHECK(n == 3 && memcmp(buf, "two", 3) == 0);
            CHECK_RC(shmlib_chan_recv(rx, buf, sizeof buf, &n, 0), SHMLIB_ETIMEDOUT);
            close_end(tx2);
        }
        close_end(rx);
    }
    CHECK_RC(shmlib_destroy(key), 0);
}

static void test_bad_arguments(void)
{
    char key[SHMLIB_KEY_MAX], buf[16];
    shmlib_chan_t prod, cons, closed, h;
    const void *cptr;
    void *ptr;
    size_t len;
    uint64_t max;

    if (!new_chan(POSIX, 4096, key))
        return;
    /* A closed handle stays invalid, also once other ends are opened. */
    if (!open_end(key, SHMLIB_CHAN_CONSUMER, &closed) || (close_end(closed), 0) ||
        !open_end(key, SHMLIB_CHAN_PRODUCER, &prod) ||
        !open_end(key, SHMLIB_CHAN_CONSUMER, &cons)) {
        CHECK_RC(shmlib_destroy(key), 0);
        return;
    }

    const shmlib_chan_t bad[] = {0, UINT64_C(0xdeadbeef), UINT64_MAX, closed};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        h = bad[i];
        if (!CHECKF(h != prod && h != cons, "a bad handle %" PRIu64 " was given out again", h))
            continue;
        CHECK_FAILS(shmlib_chan_close(h), SHMLIB_EINVAL, "chan_close", NULL);
        max = 7;
        CHECK_FAILS(shmlib_chan_max_message(h, &max), SHMLIB_EINVAL, "chan_max_message", NULL);
        CHECK_INT(max, 7);
        CHECK_FAILS(shmlib_chan_send(h, "x", 1, 0), SHMLIB_EINVAL, "chan_send", NULL);
        CHECK_FAILS(shmlib_chan_reserve(h, 1, 0, &ptr), SHMLIB_EINVAL, "chan_reserve", NULL);
        CHECK_FAILS(shmlib_chan_commit(h, 0), SHMLIB_EINVAL, "chan_commit", NULL);
        CHECK_FAILS(shmlib_chan_recv(h, buf, sizeof buf, &len, 0), SHMLIB_EINVAL, "chan_recv",
                    NULL);
        CHECK_FAILS(shmlib_chan_peek(h, 0, &cptr, &len), SHMLIB_EINVAL, "chan_peek", NULL);
        CHECK_FAILS(shmlib_chan_release(h), SHMLIB_EINVAL, "chan_release", NULL);
    }

    /* NULL where something must be written or read. */
    CHECK_RC(shmlib_chan_send(prod, "abc", 3, 0), 0); /* so that receiving could succeed */
    CHECK_FAILS(shmlib_chan_open(key, SHMLIB_CHAN_CONSUMER, NULL), SHMLIB_EINVAL, "chan_open",
                key);
    CHECK_FAILS(shmlib_chan_max_message(prod, NULL), SHMLIB_EINVAL, "chan_max_message", key);
    CHECK_FAILS(shmlib_chan_send(prod, NULL, 1, 0), SHMLIB_EINVAL, "chan_send", key);
    CHECK_FAILS(shmlib_chan_reserve(prod, 1, 0, NULL), SHMLIB_EINVAL, "chan_reserve", key);
    CHECK_FAILS(shmlib_chan_recv(cons, buf, sizeof buf, NULL, 0), SHMLIB_EINVAL, "chan_recv", key);
    CHECK_FAILS(shmlib_chan_recv(cons, NULL, sizeof buf, &len, 0), SHMLIB_EINVAL, "chan_recv",
                key);
    CHECK_FAILS(shmlib_chan_peek(cons, 0, NULL, &len), SHMLIB_EINVAL, "chan_peek", key);
    CHECK_FAILS(shmlib_chan_peek(cons, 0, &cptr, NULL), SHMLIB_EINVAL, "chan_peek", key);
    /* None of them consumed or sent anything. */
    CHECK_RC(shmlib_chan_recv(cons, buf, sizeof buf, &len, 0), 0);
    CHECK(len == 3 && memcmp(buf, "abc", 3) == 0);
    CHECK_RC(shmlib_chan_recv(cons, buf, sizeof buf, &len, 0), SHMLIB_ETIMEDOUT);

    /* Bad keys and ends. */
    CHECK_FAILS(shmlib_chan_open(NULL, SHMLIB_CHAN_CONSUMER, &h), SHMLIB_EINVAL, "chan_open",
                NULL);
    CHECK_FAILS(shmlib_chan_open("nonsense:key", SHMLIB_CHAN_CONSUMER, &h), SHMLIB_EINVAL,
                "chan_open", "nonsense:key");
    CHECK_FAILS(shmlib_chan_open("sysv:", SHMLIB_CHAN_CONSUMER, &h), SHMLIB_EINVAL, "chan_open",
                NULL);
    static const int ends[] = {0, 3, -1, SHMLIB_CHAN_PRODUCER | SHMLIB_CHAN_CONSUMER};
    for (size_t i = 0; i < sizeof ends / sizeof ends[0]; i++)
        CHECK_FAILS(shmlib_chan_open(key, ends[i], &h), SHMLIB_EINVAL, "chan_open", key);

    close_end(prod);
    close_end(cons);
    /* Closed twice. */
    CHECK_FAILS(shmlib_chan_close(prod), SHMLIB_EINVAL, "chan_close", NULL);
    CHECK_RC(shmlib_destroy(key), 0);
}

static const struct harness_test tests[] = {
    HARNESS_TEST(test_create),
    HARNESS_TEST(test_fifo),
    HARNESS_TEST(test_reserve_commit),
    HARNESS_TEST(test_peek_release),
    HARNESS_TEST(test_handover),
    HARNESS_TEST(test_bad_arguments),
};

int main(int argc, char **argv)
{
    return chan_main(tests, sizeof tests / sizeof tests[0], argc, argv);
}
