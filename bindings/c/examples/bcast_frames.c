/*
 * bcast_frames - one producer, many subscribers: frames over a broadcast
 * channel (scripts/demo_broadcast.sh, `make demo-broadcast`).
 *
 *   bcast_frames create KEY SUBSCRIBERS      make the broadcast channel
 *   bcast_frames produce KEY FRAMES SIZE     render FRAMES frames of SIZE
 *                                            bytes in place, once each
 *   bcast_frames checksum KEY FRAMES         subscribe; check every frame's
 *                                            checksum and order
 *
 * A frame is a 16-byte header (its index, the FNV-1a hash of its pixels)
 * and SIZE - 16 bytes of pixels. Every subscriber reads the very bytes the
 * producer wrote, in the segment; none is copied. The checksummer says
 * "joined" once subscribed (the demo starts the producer after that), and
 * at the end how many frames it checked and at what rate.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <shmlib.h>

#define WAIT_NS 10000000000LL /* any one wait: 10 s, then the demo fails */

static int fail(const char *what, int rc)
{
    char msg[512];
    shmlib_last_error(msg, sizeof msg);
    fprintf(stderr, "bcast_frames: %s: %s (%s)\n", what, msg, shmlib_strerror(rc));
    return 1;
}

static uint64_t fnv1a(const unsigned char *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

static double seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int produce(const char *key, uint64_t frames, size_t size)
{
    shmlib_chan_t tx;
    int rc = shmlib_chan_open(key, SHMLIB_CHAN_PRODUCER, &tx);
    if (rc != SHMLIB_OK)
        return fail("open the producer end", rc);
    double t0 = seconds();
    for (uint64_t f = 0; f < frames; f++) {
        unsigned char *p;
        if ((rc = shmlib_chan_reserve(tx, size, WAIT_NS, (void **)&p)) != SHMLIB_OK)
            return fail("reserve a frame", rc);
        unsigned char *px = p + 16;
        for (size_t i = 0; i < size - 16; i++) /* a texture that brightens frame by frame */
            px[i] = (unsigned char)(f % 200 + (i & 15) * 3);
        uint64_t hdr[2] = {f, fnv1a(px, size - 16)};
        memcpy(p, hdr, sizeof hdr);
        if ((rc = shmlib_chan_commit(tx, size)) != SHMLIB_OK)
            return fail("commit a frame", rc);
    }
    double dt = seconds() - t0;
    printf("producer: %" PRIu64 " frames of %zu bytes written once each in %.2f s\n", frames, size, dt);
    shmlib_chan_close(tx);
    return 0;
}

static int checksum(const char *key, uint64_t frames)
{
    shmlib_chan_t rx;
    int rc = shmlib_chan_open(key, SHMLIB_CHAN_SUBSCRIBER, &rx);
    if (rc != SHMLIB_OK)
        return fail("subscribe", rc);
    printf("checksummer: joined\n");
    fflush(stdout);
    double t0 = 0;
    uint64_t bytes = 0, f = 0;
    for (;; f++) {
        const unsigned char *p;
        size_t len;
        if ((rc = shmlib_chan_peek(rx, WAIT_NS, (const void **)&p, &len)) == SHMLIB_EEOS)
            break;
        if (rc != SHMLIB_OK)
            return fail("receive a frame", rc);
        if (f == 0)
            t0 = seconds();
        uint64_t hdr[2];
        memcpy(hdr, p, sizeof hdr);
        if (len < 16 || hdr[0] != f || hdr[1] != fnv1a(p + 16, len - 16)) {
            fprintf(stderr, "checksummer: frame %" PRIu64 " is wrong (index %" PRIu64 ")\n", f, hdr[0]);
            return 1;
        }
        bytes += len;
        shmlib_chan_release(rx);
    }
    double dt = seconds() - t0;
    shmlib_chan_close(rx);
    if (f != frames) {
        fprintf(stderr, "checksummer: %" PRIu64 " frames, expected %" PRIu64 "\n", f, frames);
        return 1;
    }
    printf("checksummer: %" PRIu64 " frames checked, in order, %.0f MB/s read in place\n", f,
           dt > 0 ? (double)bytes / dt / 1e6 : 0.0);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "create") == 0) {
        int rc = shmlib_bcast_create(argv[2], 8 << 20, (uint32_t)atoi(argv[3]), 0600, 0, NULL, 0);
        return rc == SHMLIB_OK ? 0 : fail("create the broadcast channel", rc);
    }
    if (argc == 5 && strcmp(argv[1], "produce") == 0)
        return produce(argv[2], strtoull(argv[3], NULL, 10), strtoull(argv[4], NULL, 10));
    if (argc == 4 && strcmp(argv[1], "checksum") == 0)
        return checksum(argv[2], strtoull(argv[3], NULL, 10));
    fprintf(stderr, "usage: bcast_frames create KEY SUBSCRIBERS | produce KEY FRAMES SIZE | checksum KEY FRAMES\n");
    return 2;
}
