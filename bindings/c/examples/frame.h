/*
 * frame.h - what frame_producer.c and frame_consumer.c (the C ends of
 * `make demo`'s pipeline) share: the frame format, its checksum, the test
 * pattern and the histogram equalisation the Python stage
 * (bindings/python/examples/numpy_stage.py) applies.
 *
 * THE FRAME FORMAT. A frame is one channel message (or, in --pipe mode, the
 * same bytes back to back on a pipe): a 32-byte header, then the payload.
 * Fields are in the machine's own byte order: every stage runs on the same
 * machine.
 *
 *   offset  size  field
 *        0     4  magic        FRAME_MAGIC, the bytes "LSFR"
 *        4     4  kind         FRAME_RAW (1) from the producer,
 *                              FRAME_EQUALISED (2) from the Python stage
 *        8     8  seq          frame number: 0, 1, 2, ... with no gap
 *       16     8  payload_len  width * height
 *       24     4  width        pixels per row; height = payload_len / width
 *       28     4  crc32        CRC-32 of the payload (zlib's: polynomial
 *                              0xEDB88320, as Python's zlib.crc32 computes)
 *       32     -  payload      width * height grey levels, one byte per
 *                              pixel, row after row
 *
 * A channel's payloads are 16-byte aligned, so the payload after the
 * 32-byte header is too: numpy maps it as it is.
 *
 * Everything here is `static inline` so that a program that includes this
 * file and uses only part of it compiles without warnings.
 */
#ifndef FRAME_H
#define FRAME_H

#include <shmlib.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define FRAME_MAGIC     0x5246534cu /* "LSFR" read as a little-endian word */
#define FRAME_RAW       1u
#define FRAME_EQUALISED 2u

struct frame_header {
    uint32_t magic;
    uint32_t kind;
    uint64_t seq;
    uint64_t payload_len;
    uint32_t width;
    uint32_t crc32;
};
_Static_assert(sizeof(struct frame_header) == 32, "the frame header is 32 bytes");

/* How long any one wait for the next stage may last before a stage gives
 * up: a pipeline that stalls this long is broken, not slow. */
#define FRAME_TIMEOUT_NS (10 * (int64_t)1000000000)

/* ------------------------------------------------------------------ CRC-32 */

/* zlib's CRC-32, eight bytes per step ("slicing by 8"): table[0] is the
 * classic byte-at-a-time table, table[k] advances a byte k more positions.
 * About 2 GB/s; Python's zlib.crc32 gives the same values. */
static uint32_t crc_table[8][256];

static inline void crc32_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        crc_table[0][i] = c;
    }
    for (int t = 1; t < 8; t++)
        for (int i = 0; i < 256; i++)
            crc_table[t][i] = (crc_table[t - 1][i] >> 8) ^ crc_table[0][crc_table[t - 1][i] & 0xff];
}

/* The CRC-32 of len bytes at p (crc32_init() first). */
static inline uint32_t crc32_of(const void *p, size_t len)
{
    const unsigned char *b = p;
    uint32_t c = 0xFFFFFFFFu;

    for (; len >= 8; b += 8, len -= 8) {
        uint32_t lo, hi;
        memcpy(&lo, b, 4);      /* little-endian loads (x86, arm64) */
        memcpy(&hi, b + 4, 4);
        lo ^= c;
        c = crc_table[7][lo & 0xff] ^ crc_table[6][(lo >> 8) & 0xff] ^
            crc_table[5][(lo >> 16) & 0xff] ^ crc_table[4][lo >> 24] ^
            crc_table[3][hi & 0xff] ^ crc_table[2][(hi >> 8) & 0xff] ^
            crc_table[1][(hi >> 16) & 0xff] ^ crc_table[0][hi >> 24];
    }
    while (len--)
        c = crc_table[0][(c ^ *b++) & 0xff] ^ (c >> 8);
    return ~c;
}

/* ------------------------------------------------------------ the pattern */

/*
 * Frame seq's picture, which the producer renders and the consumer renders
 * again to check the stage's work: a low-contrast image (grey levels 64 to
 * 205 only) of two gradients that drift with the frame number, plus a fine
 * texture. Equalising it stretches it over 0..255, and since the histogram
 * is uneven the stretch is not a straight line.
 */
static inline void frame_render(uint64_t seq, uint32_t width, uint32_t height, unsigned char *out)
{
    for (uint32_t y = 0; y < height; y++) {
        unsigned char *row = out + (size_t)y * width;
        uint32_t fy = (uint32_t)((y + seq) & 63);
        for (uint32_t x = 0; x < width; x++)
            row[x] = (unsigned char)(64 + ((x + 2 * seq) & 63) + fy + ((x ^ y) & 15));
    }
}

/* -------------------------------------------------------- the stage's work */

/*
 * Histogram equalisation, exactly as numpy_stage.py computes it, all in
 * integers so that both give the same bytes:
 *
 *   hist[v]  = how many pixels have grey level v
 *   cdf[v]   = hist[0] + ... + hist[v]
 *   cmin     = cdf of the darkest level present
 *   lut[v]   = ((cdf[v] - cmin) * 255 + (n - cmin) / 2) / (n - cmin)
 *              (cdf[v] - cmin rounded to 0..255; 0 below the darkest level)
 *   out[i]   = lut[in[i]]
 *
 * An image of one grey level only (n == cmin) is left as it is.
 */
static inline void frame_equalise(const unsigned char *in, unsigned char *out, size_t n)
{
    uint64_t hist[256] = {0}, cdf = 0, cmin = 0;
    unsigned char lut[256];

    for (size_t i = 0; i < n; i++)
        hist[in[i]]++;
    for (int v = 0; v < 256; v++) {
        if (cdf == 0)
            cmin = hist[v];     /* stays the darkest present level's count */
        cdf += hist[v];
        uint64_t above = cdf > cmin ? cdf - cmin : 0;
        lut[v] = n == cmin ? (unsigned char)v
                           : (unsigned char)((above * 255 + (n - cmin) / 2) / (n - cmin));
    }
    for (size_t i = 0; i < n; i++)
        out[i] = lut[in[i]];
}

/* ----------------------------------------------------- command-line helpers */

/* Parses a frame count: a decimal number, at least 1. */
static inline int parse_count(const char *s, uint64_t *out)
{
    char *end;

    errno = 0;
    unsigned long long n = strtoull(s, &end, 10);
    if (errno || end == s || *end || *s == '-' || n == 0)
        return -1;
    *out = n;
    return 0;
}

/* Parses a frame geometry "WIDTHxHEIGHT", e.g. "1024x1024": both at least
 * 1, and at most 1 GiB of payload. */
static inline int parse_geometry(const char *s, uint32_t *width, uint32_t *height)
{
    unsigned long w, h;
    char *end;

    errno = 0;
    w = strtoul(s, &end, 10);
    if (errno || end == s || *s == '-' || *end != 'x')
        return -1;
    s = end + 1;
    h = strtoul(s, &end, 10);
    if (errno || end == s || *s == '-' || *end)
        return -1;
    if (w == 0 || h == 0 || w > (1ul << 30) || h > (1ul << 30) / w)
        return -1;
    *width = (uint32_t)w;
    *height = (uint32_t)h;
    return 0;
}

/* ---------------------------------------------------------------- reports */

/* Prints why a libshm call failed: where we were (e.g. "frame 12", or ""),
 * the library's message, which names the operation and the key, and the
 * code's description. */
static inline void frame_shm_error(const char *prog, const char *where, int rc)
{
    char msg[512];

    shmlib_last_error(msg, sizeof msg);
    fprintf(stderr, "%s: %s%s%s (%s)\n", prog, where, *where ? ": " : "", msg,
            shmlib_strerror(rc));
}

static inline double now_seconds(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* CPU time this process has used so far, user and system (the kernel's
 * share is where pipes spend their copies). */
static inline double cpu_seconds(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/*
 * The one-line summary every stage of the demo prints on stderr, in the
 * same shape in C and Python, e.g.
 *
 *   frame_producer: 256 frames, 256.0 MiB in 0.41 s = 624 MiB/s, cpu 0.39 s
 */
static inline void frame_summary(const char *prog, uint64_t frames, uint64_t bytes,
                                 double seconds, double cpu)
{
    double mib = bytes / 1048576.0;
    fprintf(stderr, "%s: %llu frames, %.1f MiB in %.2f s = %.0f MiB/s, cpu %.2f s\n",
            prog, (unsigned long long)frames, mib, seconds,
            seconds > 0 ? mib / seconds : 0.0, cpu);
}

/* ----------------------------------------------------------- --pipe mode */

/* Writes all len bytes to fd; 0, or -1 with errno set. */
static inline int write_full(int fd, const void *buf, size_t len)
{
    const char *p = buf;

    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Reads exactly len bytes from fd: 1 if it did, 0 at end of file before
 * the first byte, -1 on an error or an end of file partway (errno EPIPE). */
static inline int read_full(int fd, void *buf, size_t len)
{
    char *p = buf;
    size_t got = 0;

    while (got < len) {
        ssize_t n = read(fd, p + got, len - got);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (n == 0) {
            if (got == 0)
                return 0;
            errno = EPIPE;
            return -1;
        }
        got += (size_t)n;
    }
    return 1;
}

#endif /* FRAME_H */
