/*
 * test_chan_fuzz.c - the C consumer against hostile ring state, as
 * internal/channel's FuzzConsumer drives the Go one: the parts of the
 * header a peer changes while a channel is in use (bytes 64..4095), the
 * data area, and the consumer's starting head are filled with arbitrary
 * bytes, and the consumer must never crash, never hand out memory outside
 * the data area, and never a message over the limit. Every failure must be
 * a documented code.
 *
 *     test_chan_fuzz [ITERATIONS [SEED]]
 *
 * It replays FuzzConsumer's seed inputs first, then ITERATIONS (default
 * 3000) random ones: mutations of the seeds and of valid rings.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define CAP 4096
#define DATA 4096
#define MAXMSG (CAP / 2 - 16)

static uint64_t rng = 0x9e3779b97f4a7c15u;
static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static char key[SHMLIB_KEY_MAX];
static unsigned char *seg; /* our own plain attach of the channel */
static uintptr_t lo, hi;   /* where this open's mapping of the data area lies, once known */
static long opened, delivered, corrupt; /* what the inputs reached, to be sure they reach it */

/* The consumer's mapping of the segment: the /dev/shm mapping in
 * /proc/self/maps that holds p and is not ours. */
static int consumer_mapping(const void *p, uintptr_t *start, uintptr_t *end)
{
    FILE *f = fopen("/proc/self/maps", "r");
    char line[512];
    int found = 0;
    while (f && fgets(line, sizeof line, f)) {
        uintptr_t a, b;
        if (sscanf(line, "%" SCNxPTR "-%" SCNxPTR, &a, &b) == 2 && (uintptr_t)p >= a && (uintptr_t)p < b &&
            strstr(line, key + strlen("posix:")) != NULL && a != (uintptr_t)seg) {
            *start = a;
            *end = b;
            found = 1;
        }
    }
    if (f)
        fclose(f);
    return found;
}

static void run(const unsigned char *header, size_t hlen, const unsigned char *data, size_t dlen, uint64_t head)
{
    memset(seg + 64, 0, DATA - 64);
    memset(seg + DATA, 0, CAP);
    memcpy(seg + 64, header, hlen > DATA - 64 ? DATA - 64 : hlen);
    memcpy(seg + DATA, data, dlen > CAP ? CAP : dlen);
    head &= ~(uint64_t)15;
    memcpy(seg + 128, &head, 8); /* where the consumer starts */

    shmlib_chan_t c;
    int rc = shmlib_chan_open(key, SHMLIB_CHAN_CONSUMER, &c);
    if (rc != 0) {
        CHECKF(rc == SHMLIB_ECORRUPT || rc == SHMLIB_EBUSY || rc == SHMLIB_EEOS, "open gave %d %s (%s)", rc,
               harness_code_name(rc), harness_last_error());
        return;
    }
    opened++;
    lo = hi = 0; /* each open maps the segment anew */
    for (int i = 0; i < 8; i++) {
        const void *p;
        size_t len;
        rc = shmlib_chan_peek(c, 0, &p, &len);
        if (rc != 0) {
            CHECKF(rc == SHMLIB_ECORRUPT || rc == SHMLIB_ETIMEDOUT || rc == SHMLIB_EEOS || rc == SHMLIB_EPEER,
                   "peek gave %d %s (%s)", rc, harness_code_name(rc), harness_last_error());
            corrupt += rc == SHMLIB_ECORRUPT;
            break;
        }
        if (lo == 0) {
            uintptr_t a, b;
            /* By its record's header: an empty message at the very end
             * of the data area points just past the mapping. */
            if (!CHECKF(consumer_mapping((const char *)p - 16, &a, &b), "peek gave %p, in no mapping of the channel", p))
                break;
            lo = a + DATA;
            hi = a + DATA + CAP;
        }
        CHECKF((uintptr_t)p >= lo && (uintptr_t)p + len <= hi && len <= MAXMSG,
               "delivered %zu bytes at %p, outside the data area [%#" PRIxPTR ", %#" PRIxPTR ")", len, p, lo, hi);
        delivered++;
        if (shmlib_chan_release(c) != 0)
            break;
    }
    CHECK_RC(shmlib_chan_close(c), 0);
}

/* A record header in data at pos. */
static void record(unsigned char *data, size_t pos, uint32_t len, uint32_t kind)
{
    memcpy(data + pos, &len, 4);
    memcpy(data + pos + 4, &kind, 4);
}

int main(int argc, char **argv)
{
    long iterations = argc > 1 ? atol(argv[1]) : 3000;
    if (argc > 2)
        rng = strtoull(argv[2], NULL, 0) | 1;
    printf("-- seed %#" PRIx64 ", %ld iterations\n", rng, iterations);
    if (!CHECK_RC(shmlib_chan_create("posix:", CAP, 0600, 0, key, sizeof key), 0))
        return harness_finish();
    uint64_t size;
    if (!CHECK_RC(shmlib_attach(key, NULL, 0, (void **)&seg, &size), 0)) {
        shmlib_destroy(key);
        return harness_finish();
    }

    /* FuzzConsumer's seeds (internal/channel/fuzz_test.go). */
    unsigned char valid[256] = {0}, data[CAP];
    uint64_t tail = 48;
    memcpy(valid + 0, &tail, 8); /* the header bytes start at offset 64: tail */
    memset(data, 0, sizeof data);
    record(data, 0, 5, 1);
    run(valid, sizeof valid, data, 8, 0);
    memset(data, 0, sizeof data);
    record(data, 0, 0, 2);
    run(valid, sizeof valid, data, 8, 0);
    memset(data, 0, sizeof data);
    record(data, 0, 0x7fffffff, 1);
    run(valid, sizeof valid, data, 8, 16);

    /* Random rings: a valid ring of random messages (with the padding
     * record a wrap needs) from a random head, then, in most, a few
     * random bytes changed anywhere a peer may write. */
    static unsigned char header[DATA - 64];
    for (long it = 0; it < iterations; it++) {
        memset(header, 0, sizeof header);
        memset(data, 0, sizeof data);
        uint64_t head = (next() % (4 * CAP)) & ~(uint64_t)15, pos = head;
        for (;;) {
            uint32_t len = (uint32_t)(next() % 4 == 0 ? next() % (MAXMSG + 1) : next() % 200);
            uint64_t need = 16 + ((len + 15) & ~15u), at = pos % CAP;
            uint64_t pad = need > CAP - at ? CAP - at : 0;
            if (pos + pad + need - head > CAP || next() % 6 == 0)
                break;
            if (pad)
                record(data, at, 0, 2);
            record(data, (pos + pad) % CAP, len, 1);
            pos += pad + need;
        }
        memcpy(header, &pos, 8); /* tail */
        if (next() % 8 == 0)
            memcpy(header + 16, &(uint32_t){1}, 4); /* closed */
        if (next() % 4 != 0) {
            for (int k = 1 + (int)(next() % 4); k > 0; k--) {
                if (next() % 4 == 0)
                    header[next() % 8] = (unsigned char)next(); /* the tail */
                else
                    data[(head + next() % (pos - head + 16)) % CAP] = (unsigned char)next();
            }
        }
        run(header, sizeof header, data, sizeof data, head);
    }
    printf("   %ld opened, %ld messages delivered, %ld found corrupt\n", opened, delivered, corrupt);
    /* The inputs must reach both outcomes, or they test nothing. */
    CHECK(delivered > iterations && corrupt > iterations / 100);
    CHECK_RC(shmlib_detach(seg), 0);
    CHECK_RC(shmlib_destroy(key), 0);
    return harness_finish();
}
