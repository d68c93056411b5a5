/*
 * chan_create.c - create a channel and print its key.
 *
 *     chan_create CAPACITY [KEY]
 *
 * CAPACITY  the size of the channel's ring in bytes, with an optional K, M
 *           or G suffix (KiB, MiB, GiB). A message may take at most half of
 *           it, less 16 bytes; each costs its length plus 16 (see CHANNELS
 *           in shmlib.h).
 * KEY       where to create it, as for shm_create: posix:/NAME, sysv:key=K,
 *           or posix: / sysv: to let libshm choose (default posix:).
 *
 * The canonical key is printed on stdout, so a script can capture it, hand
 * it to the producer and the consumer, and destroy the channel at the end:
 *
 *     key=$(chan_create 8M)
 *     frame_consumer "$key" & frame_producer "$key"
 *     shm_destroy "$key"
 *
 * A channel is a segment: it lives until somebody destroys it.
 * Exit status: 0 if created, 1 on failure, 2 on bad usage.
 */
#include <shmlib.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

/* Parses "4096", "64K", "8M" or "1G" into a byte count. */
static int parse_size(const char *s, uint64_t *out)
{
    char *end;

    errno = 0;
    unsigned long long n = strtoull(s, &end, 10);
    if (errno || end == s || *s == '-')
        return -1;
    int shift = 0;
    switch (*end) {
    case '\0':           break;
    case 'K': case 'k':  shift = 10; end++; break;
    case 'M': case 'm':  shift = 20; end++; break;
    case 'G': case 'g':  shift = 30; end++; break;
    default:             return -1;
    }
    if (*end != '\0' || n > (UINT64_MAX >> shift))
        return -1;
    *out = (uint64_t)n << shift;
    return 0;
}

int main(int argc, char **argv)
{
    char key[SHMLIB_KEY_MAX], msg[SHMLIB_ERROR_MAX];
    uint64_t capacity;

    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: chan_create CAPACITY [KEY]\n");
        return 2;
    }
    if (parse_size(argv[1], &capacity) < 0) {
        fprintf(stderr, "chan_create: bad capacity '%s': give bytes with an optional"
                        " K, M or G suffix\n", argv[1]);
        return 2;
    }
    /* Mode 0600: only this user's processes may take an end. */
    int rc = shmlib_chan_create(argc > 2 ? argv[2] : "posix:", capacity, 0600, 0,
                                key, sizeof key);
    if (rc < 0) {
        shmlib_last_error(msg, sizeof msg);
        fprintf(stderr, "chan_create: %s (%s)\n", msg, shmlib_strerror(rc));
        return 1;
    }
    printf("%s\n", key);
    return 0;
}
