/*
 * frame_producer.c - the first stage of `make demo`'s pipeline: renders a
 * stream of grey-level frames and hands them on.
 *
 *     frame_producer [-n FRAMES] [-s WIDTHxHEIGHT] KEY
 *     frame_producer [-n FRAMES] [-s WIDTHxHEIGHT] --pipe
 *
 * KEY      a channel (made by chan_create) whose producer end this process
 *          takes. Each frame is rendered straight into the channel's shared
 *          memory: shmlib_chan_reserve gives the room, the picture and its
 *          header are written there, shmlib_chan_commit publishes it. No
 *          byte is copied on the way to the next process.
 * --pipe   write the frames to standard output instead, for comparison:
 *          rendered into a buffer of this process, then copied into the
 *          pipe by write(2).
 * -n       how many frames (default 256).
 * -s       their size in pixels, one byte each (default 1024x1024, 1 MiB).
 *
 * Frame seq (0, 1, 2, ...) is frame_render()'s picture, with the header
 * and CRC-32 that frame.h describes. The same work is done in both modes;
 * only the way the bytes leave differs.
 *
 * Prints one summary line on stderr: frames, MiB, and the seconds, MiB/s and
 * CPU time from its start to the last frame handed on.
 * Exit status: 0 when every frame was handed on (and, for a channel, the
 * stream closed), 1 on any failure, 2 on bad usage.
 */
#include "frame.h"

#include <getopt.h>
#include <signal.h>

static const char *prog = "frame_producer";

static void usage(void)
{
    fprintf(stderr, "usage: frame_producer [-n FRAMES] [-s WIDTHxHEIGHT] (KEY | --pipe)\n");
    exit(2);
}

/* Fills the header and renders frame seq into the payload that follows it. */
static void make_frame(struct frame_header *h, uint64_t seq, uint32_t width, uint32_t height)
{
    unsigned char *payload = (unsigned char *)(h + 1);
    size_t len = (size_t)width * height;

    frame_render(seq, width, height, payload);
    h->magic = FRAME_MAGIC;
    h->kind = FRAME_RAW;
    h->seq = seq;
    h->payload_len = len;
    h->width = width;
    h->crc32 = crc32_of(payload, len);
}

/* --pipe: one buffer of our own, written to stdout frame after frame. */
static int produce_to_pipe(uint64_t frames, uint32_t width, uint32_t height)
{
    size_t msg_len = sizeof(struct frame_header) + (size_t)width * height;
    struct frame_header *buf = malloc(msg_len);

    if (buf == NULL) {
        fprintf(stderr, "%s: out of memory for a %zu-byte frame\n", prog, msg_len);
        return 1;
    }
    for (uint64_t seq = 0; seq < frames; seq++) {
        make_frame(buf, seq, width, height);
        if (write_full(STDOUT_FILENO, buf, msg_len) < 0) {
            fprintf(stderr, "%s: writing frame %llu to stdout: %s\n",
                    prog, (unsigned long long)seq, strerror(errno));
            free(buf);
            return 1;
        }
    }
    free(buf);
    return 0;
}

/* Channel: each frame is made where the next stage will read it. */
static int produce_to_channel(const char *key, uint64_t frames, uint32_t width, uint32_t height)
{
    size_t msg_len = sizeof(struct frame_header) + (size_t)width * height;
    shmlib_chan_t tx;
    uint64_t max_msg;
    char where[64] = "";
    int rc;

    rc = shmlib_chan_open(key, SHMLIB_CHAN_PRODUCER, &tx);
    if (rc < 0) {
        frame_shm_error(prog, "", rc);
        return 1;
    }
    rc = shmlib_chan_max_message(tx, &max_msg);
    if (rc == 0 && max_msg < msg_len) {
        fprintf(stderr, "%s: %s carries messages of at most %llu bytes; a frame takes %zu\n",
                prog, key, (unsigned long long)max_msg, msg_len);
        shmlib_chan_close(tx);
        return 1;
    }
    for (uint64_t seq = 0; rc == 0 && seq < frames; seq++) {
        void *room;
        /* Waits while the ring is full, that is while the next stage is
         * still busy with the frames before this one. */
        rc = shmlib_chan_reserve(tx, msg_len, FRAME_TIMEOUT_NS, &room);
        if (rc == 0) {
            make_frame(room, seq, width, height);
            rc = shmlib_chan_commit(tx, msg_len);
        }
        if (rc < 0)
            snprintf(where, sizeof where, "frame %llu", (unsigned long long)seq);
    }
    if (rc < 0)
        frame_shm_error(prog, where, rc);
    /* Closing the producer end is the end of the stream: the next stage
     * receives every committed frame, then SHMLIB_EEOS. */
    int close_rc = shmlib_chan_close(tx);
    if (rc == 0 && close_rc < 0) {
        frame_shm_error(prog, "", close_rc);
        rc = close_rc;
    }
    return rc < 0;
}

int main(int argc, char **argv)
{
    static const struct option long_opts[] = {
        {"pipe", no_argument, NULL, 'p'},
        {NULL, 0, NULL, 0},
    };
    uint64_t frames = 256;
    uint32_t width = 1024, height = 1024;
    int pipe_mode = 0, opt;

    while ((opt = getopt_long(argc, argv, "n:s:", long_opts, NULL)) != -1) {
        switch (opt) {
        case 'n':
            if (parse_count(optarg, &frames) < 0) {
                fprintf(stderr, "%s: bad frame count '%s'\n", prog, optarg);
                return 2;
            }
            break;
        case 's':
            if (parse_geometry(optarg, &width, &height) < 0) {
                fprintf(stderr, "%s: bad size '%s': give WIDTHxHEIGHT, e.g. 1024x1024\n",
                        prog, optarg);
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

    /* A next stage that dies makes write(2) fail with EPIPE, which we
     * report, rather than kill us silently with SIGPIPE. */
    signal(SIGPIPE, SIG_IGN);
    crc32_init();
    double t0 = now_seconds(), cpu0 = cpu_seconds();
    int status = pipe_mode ? produce_to_pipe(frames, width, height)
                           : produce_to_channel(argv[optind], frames, width, height);
    if (status == 0)
        frame_summary(prog, frames, frames * width * height, now_seconds() - t0,
                      cpu_seconds() - cpu0);
    return status;
}
