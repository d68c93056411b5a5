/*
 * frame_consumer.c - the last stage of `make demo`'s pipeline: receives the
 * equalised frames and checks that they are what they should be.
 *
 *     frame_consumer [-n FRAMES] [-s WIDTHxHEIGHT] [-v EVERY] KEY
 *     frame_consumer [-n FRAMES] [-s WIDTHxHEIGHT] [-v EVERY] --pipe
 *
 * KEY      a channel whose consumer end this process takes. Each frame is
 *          checked in place, in the shared memory the previous stage wrote
 *          it to (shmlib_chan_peek), then handed back (shmlib_chan_release).
 * --pipe   read the frames from standard input instead, for comparison:
 *          each is copied by read(2) into a buffer of this process first.
 * -n, -s   the frames to expect: as many, as large, as frame_producer made
 *          (defaults 256 and 1024x1024).
 * -v       recompute the expected picture of every EVERY-th frame, and of
 *          the last one (default 32).
 *
 * For every frame (see frame.h for the format) it checks the header: the
 * magic, that the stage marked it equalised, its number (0, 1, 2, ... with
 * none missing, repeated or out of order) and its size; then the payload's
 * CRC-32, and that exactly FRAMES frames came before the end of the stream.
 *
 * The checksums prove that nothing was damaged on the way, not that the
 * stage did its work right. So for frame 0, every EVERY-th and the last it
 * also renders the producer's picture again (frame_render), equalises it
 * itself (frame_equalise) and compares every pixel with what it received.
 *
 * Prints on stderr the summary line (frames, MiB, and the seconds, MiB/s and
 * CPU time from the first frame's arrival to the end) and what it verified.
 * Exit status: 0 if every check passed, 1 at the first one that failed, 2
 * on bad usage.
 */
#include "frame.h"

#include <getopt.h>

static const char *prog = "frame_consumer";

/* What to expect, and the scratch space to recompute a frame in. */
struct expect {
    uint64_t frames, every;
    uint32_t width, height;
    unsigned char *rendered, *equalised;
    uint64_t recomputed;    /* how many frames were compared pixel by pixel */
    double t0, cpu0;        /* the clocks, started when the first frame came */
};

static void usage(void)
{
    fprintf(stderr, "usage: frame_consumer [-n FRAMES] [-s WIDTHxHEIGHT] [-v EVERY]"
                    " (KEY | --pipe)\n");
    exit(2);
}

/* The throughput counts from the first frame's arrival: the time this
 * process waited for the previous stages to start up is not ours. */
static void start_clocks(struct expect *e)
{
    e->t0 = now_seconds();
    e->cpu0 = cpu_seconds();
}

/* Checks a frame's header against what frame number `seq` must carry;
 * msg_len is the length of the whole message when known, else 0. Prints
 * what is wrong and returns -1, or 0 if it is right. */
static int check_header(const struct frame_header *h, size_t msg_len, uint64_t seq,
                        const struct expect *e)
{
    uint64_t payload_len = (uint64_t)e->width * e->height;

    if (h->magic != FRAME_MAGIC)
        fprintf(stderr, "%s: FAILED: frame %llu: magic 0x%08x, not a frame\n",
                prog, (unsigned long long)seq, h->magic);
    else if (h->seq != seq)
        fprintf(stderr, "%s: FAILED: expected frame %llu, received frame %llu: "
                        "out of order, repeated or lost\n",
                prog, (unsigned long long)seq, (unsigned long long)h->seq);
    else if (h->kind != FRAME_EQUALISED)
        fprintf(stderr, "%s: FAILED: frame %llu: kind %u, not equalised by the stage\n",
                prog, (unsigned long long)seq, h->kind);
    else if (h->payload_len != payload_len || h->width != e->width ||
             (msg_len != 0 && msg_len != sizeof *h + payload_len))
        fprintf(stderr, "%s: FAILED: frame %llu: %llu bytes %u wide in a %zu-byte message,"
                        " expected %ux%u\n",
                prog, (unsigned long long)seq, (unsigned long long)h->payload_len, h->width,
                msg_len, e->width, e->height);
    else
        return 0;
    return -1;
}

/* Checks a frame's payload: its checksum always, and for the frames -v
 * picks, every pixel against our own equalisation of the producer's
 * picture. Prints what is wrong and returns -1, or 0. */
static int check_payload(const struct frame_header *h, const unsigned char *payload,
                         struct expect *e)
{
    size_t len = h->payload_len;
    uint32_t crc = crc32_of(payload, len);

    if (crc != h->crc32) {
        fprintf(stderr, "%s: FAILED: frame %llu: CRC-32 of the payload is 0x%08x,"
                        " the header says 0x%08x: damaged on the way\n",
                prog, (unsigned long long)h->seq, crc, h->crc32);
        return -1;
    }
    if (h->seq % e->every != 0 && h->seq != e->frames - 1)
        return 0;
    frame_render(h->seq, e->width, e->height, e->rendered);
    frame_equalise(e->rendered, e->equalised, len);
    if (memcmp(payload, e->equalised, len) != 0) {
        size_t i = 0;
        while (payload[i] == e->equalised[i])
            i++;
        fprintf(stderr, "%s: FAILED: frame %llu is not the equalised picture: pixel"
                        " (%zu, %zu) is %u, expected %u (source grey level %u)\n",
                prog, (unsigned long long)h->seq, i % e->width, i / e->width,
                payload[i], e->equalised[i], e->rendered[i]);
        return -1;
    }
    e->recomputed++;
    return 0;
}

/* --pipe: each frame is read into a buffer of ours, then checked. Returns
 * how many frames arrived before the end of the input, or -1. */
static int64_t consume_from_pipe(struct expect *e)
{
    size_t payload_len = (size_t)e->width * e->height;
    unsigned char *payload = malloc(payload_len);
    struct frame_header h;
    uint64_t seq = 0;
    int rc, ok = 1;

    if (payload == NULL) {
        fprintf(stderr, "%s: out of memory for a %zu-byte frame\n", prog, payload_len);
        return -1;
    }
    while (ok && (rc = read_full(STDIN_FILENO, &h, sizeof h)) == 1) {
        if (seq == 0)
            start_clocks(e);
        /* The header says how much follows: check it before reading on. */
        if (seq == e->frames) {
            fprintf(stderr, "%s: FAILED: more than the %llu frames expected\n",
                    prog, (unsigned long long)e->frames);
            ok = 0;
        } else if (check_header(&h, 0, seq, e) < 0) {
            ok = 0;
        } else if ((rc = read_full(STDIN_FILENO, payload, payload_len)) != 1) {
            if (rc == 0)        /* the input ended right after a header */
                errno = EPIPE;
            rc = -1;
            break;
        } else if (check_payload(&h, payload, e) < 0) {
            ok = 0;
        } else {
            seq++;
        }
    }
    free(payload);
    if (ok && rc < 0)
        fprintf(stderr, "%s: FAILED: reading frame %llu from stdin: %s\n",
                prog, (unsigned long long)seq,
                errno == EPIPE ? "the input ended in the middle of it" : strerror(errno));
    return ok && rc == 0 ? (int64_t)seq : -1;
}

/* Channel: each frame is checked where the stage wrote it. Returns how
 * many frames arrived before the end of the stream, or -1. */
static int64_t consume_from_channel(const char *key, struct expect *e)
{
    shmlib_chan_t rx;
    uint64_t seq = 0;
    const void *msg;
    size_t msg_len;
    int rc;

    rc = shmlib_chan_open(key, SHMLIB_CHAN_CONSUMER, &rx);
    if (rc < 0) {
        frame_shm_error(prog, "", rc);
        return -1;
    }
    while ((rc = shmlib_chan_peek(rx, FRAME_TIMEOUT_NS, &msg, &msg_len)) == 0) {
        const struct frame_header *h = msg;
        if (seq == 0)
            start_clocks(e);
        if (seq == e->frames) {
            fprintf(stderr, "%s: FAILED: more than the %llu frames expected\n",
                    prog, (unsigned long long)e->frames);
            break;
        }
        if (msg_len < sizeof *h || check_header(h, msg_len, seq, e) < 0 ||
            check_payload(h, (const unsigned char *)(h + 1), e) < 0) {
            if (msg_len < sizeof *h)
                fprintf(stderr, "%s: FAILED: frame %llu: a %zu-byte message has no header\n",
                        prog, (unsigned long long)seq, msg_len);
            break;
        }
        /* Done with it: the stage may write its next frame here. */
        rc = shmlib_chan_release(rx);
        if (rc < 0)
            break;
        seq++;
    }
    /* SHMLIB_EEOS: the stage closed its end and we have every frame it
     * sent. Anything else (a check that failed, a stage that died or went
     * silent for FRAME_TIMEOUT_NS) is a failure. */
    if (rc < 0 && rc != SHMLIB_EEOS) {
        char where[64];
        snprintf(where, sizeof where, "FAILED: at frame %llu", (unsigned long long)seq);
        frame_shm_error(prog, where, rc);
    }
    shmlib_chan_close(rx);
    return rc == SHMLIB_EEOS ? (int64_t)seq : -1;
}

int main(int argc, char **argv)
{
    static const struct option long_opts[] = {
        {"pipe", no_argument, NULL, 'p'},
        {NULL, 0, NULL, 0},
    };
    struct expect e = {.frames = 256, .every = 32, .width = 1024, .height = 1024};
    int pipe_mode = 0, opt;

    while ((opt = getopt_long(argc, argv, "n:s:v:", long_opts, NULL)) != -1) {
        switch (opt) {
        case 'n':
            if (parse_count(optarg, &e.frames) < 0) {
                fprintf(stderr, "%s: bad frame count '%s'\n", prog, optarg);
                return 2;
            }
            break;
        case 's':
            if (parse_geometry(optarg, &e.width, &e.height) < 0) {
                fprintf(stderr, "%s: bad size '%s': give WIDTHxHEIGHT, e.g. 1024x1024\n",
                        prog, optarg);
                return 2;
            }
            break;
        case 'v':
            if (parse_count(optarg, &e.every) < 0) {
                fprintf(stderr, "%s: bad -v '%s': give a number, at least 1\n", prog, optarg);
                return 2;
            }
            break;
        case 'p':
            pipe_mode = 1;
            break;
        default:
            usage();
        }
    }
    if (argc - optind != (pipe_mode ? 0 : 1))
        usage();

    size_t payload_len = (size_t)e.width * e.height;
    e.rendered = malloc(payload_len);
    e.equalised = malloc(payload_len);
    if (e.rendered == NULL || e.equalised == NULL) {
        fprintf(stderr, "%s: out of memory for two %zu-byte frames\n", prog, payload_len);
        return 1;
    }
    crc32_init();
    int64_t got = pipe_mode ? consume_from_pipe(&e) : consume_from_channel(argv[optind], &e);
    double seconds = now_seconds() - e.t0, cpu = cpu_seconds() - e.cpu0;
    free(e.rendered);
    free(e.equalised);
    if (got < 0)
        return 1;
    if ((uint64_t)got != e.frames) {
        fprintf(stderr, "%s: FAILED: the stream ended after %lld frames, expected %llu\n",
                prog, (long long)got, (unsigned long long)e.frames);
        return 1;
    }
    frame_summary(prog, e.frames, e.frames * payload_len, seconds, cpu);
    fprintf(stderr, "%s: verified %llu frames: in order, CRC-32s right, %llu equalised"
                    " exactly as recomputed here\n",
            prog, (unsigned long long)e.frames, (unsigned long long)e.recomputed);
    return 0;
}
