/*
 * shm_create.c - create a segment, fill it, hand its key to other processes.
 *
 *     shm_create [-s SIZE] [-w] [KEY]
 *
 * KEY      where to create the segment (see KEYS in shmlib.h):
 *            posix:/NAME or /NAME   a POSIX object, /dev/shm/NAME
 *            sysv:key=K             a System V segment with IPC key K
 *            posix: or sysv:        let the library choose a unique name
 *            sysv:private           a System V segment with no key at all;
 *                                   it is known by its id, sysv:id=N
 *          Default: posix: (a POSIX object with a generated name).
 * -s SIZE  size in bytes, with an optional K, M or G suffix (KiB, MiB, GiB).
 *          Default 4096; at least 128, to hold the layout below.
 * -w       stay attached after writing: print "ready" on stdout, then wait
 *          for a line (or end of file) on standard input before detaching.
 *          Meanwhile other processes can attach; whatever they write into
 *          the reply area is printed before detaching.
 *
 * The canonical key is the first line on stdout, printed as soon as the
 * segment exists, so a script can capture it (and destroy the segment
 * whatever happens next):
 *
 *     key=$(shm_create -s 1M sysv:)
 *     shm_read "$key"
 *     shm_destroy "$key"
 *
 * Everything else goes to stderr, each line tagged with this process's pid.
 *
 * This program never destroys the segment it made once it is filled:
 * detaching, exiting or crashing leaves it in place for others. Run
 * shm_destroy KEY when everybody is done. If filling it fails, it destroys
 * it, since nobody could use it.
 */
#include <shmlib.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The layout shm_create writes and shm_read checks (keep both in step):
 *   [0, 64)      a NUL-terminated greeting from the creator
 *   [64, 128)    a reply area: zero until a reader writes its greeting there
 *   [128, size)  the byte at offset i is i % 251; the period is prime, so a
 *                page that turned up at the wrong offset would not match */
enum { GREETING_OFF = 0, REPLY_OFF = 64, PATTERN_OFF = 128, AREA_LEN = 64 };

static void report(int rc)
{
    char msg[SHMLIB_ERROR_MAX];

    shmlib_last_error(msg, sizeof msg);
    fflush(stdout);
    fprintf(stderr, "shm_create: %s (%s)\n", msg, shmlib_strerror(rc));
}

/* Parses "4096", "64K", "1M" or "2G" into a byte count. */
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

static void usage(void)
{
    fprintf(stderr, "usage: shm_create [-s SIZE] [-w] [KEY]\n"
                    "  KEY: posix:/NAME, /NAME, sysv:key=K, sysv:private,\n"
                    "       or posix: / sysv: to let libshm choose (default posix:)\n");
    exit(2);
}

int main(int argc, char **argv)
{
    uint64_t size = 4096, mapped_size;
    int wait_for_reader = 0, opt, rc;
    char key[SHMLIB_KEY_MAX];
    void *addr;

    while ((opt = getopt(argc, argv, "s:w")) != -1) {
        switch (opt) {
        case 's':
            if (parse_size(optarg, &size) < 0 || size < PATTERN_OFF) {
                fprintf(stderr, "shm_create: bad size '%s': give bytes, at least %d,"
                                " with an optional K, M or G suffix\n", optarg, PATTERN_OFF);
                return 2;
            }
            break;
        case 'w':
            wait_for_reader = 1;
            break;
        default:
            usage();
        }
    }
    if (argc - optind > 1)
        usage();
    const char *want = optind < argc ? argv[optind] : "posix:";
    int pid = (int)getpid();

    /* Create: mode 0600 (this user only), no flags. Creation is exclusive,
     * so an existing segment with this key gives SHMLIB_EEXIST. */
    rc = shmlib_create(want, size, 0600, 0, key, sizeof key);
    if (rc < 0) {
        report(rc);
        return 1;
    }
    printf("%s\n", key);
    fflush(stdout);
    fprintf(stderr, "[shm_create %d] created  %s, %" PRIu64 " bytes, mode 0600\n",
            pid, key, size);

    /* Attach: map it into this process, wherever the kernel likes. */
    rc = shmlib_attach(key, NULL, 0, &addr, &mapped_size);
    if (rc < 0) {
        report(rc);
        shmlib_destroy(key);
        return 1;
    }
    fprintf(stderr, "[shm_create %d] attached %s at %p, %" PRIu64 " bytes\n",
            pid, key, addr, mapped_size);

    /* Fill it. A new segment is all zeros, so the reply area starts empty. */
    unsigned char *mem = addr;
    snprintf((char *)mem + GREETING_OFF, AREA_LEN, "hello from shm_create, pid %d", pid);
    for (uint64_t i = PATTERN_OFF; i < mapped_size; i++)
        mem[i] = (unsigned char)(i % 251);
    fprintf(stderr, "[shm_create %d] wrote    \"%s\" and a test pattern up to byte %" PRIu64 "\n",
            pid, (char *)mem + GREETING_OFF, mapped_size);

    if (wait_for_reader) {
        fprintf(stderr, "[shm_create %d] staying attached; press Enter to detach\n", pid);
        printf("ready\n");
        fflush(stdout);
        int c;
        while ((c = getchar()) != EOF && c != '\n')
            ;
        /* Whatever another process wrote is already in our own mapping:
         * both mappings are the same pages. */
        const char *reply = (const char *)mem + REPLY_OFF;
        if (reply[0] != '\0')
            fprintf(stderr, "[shm_create %d] the reply area now reads \"%.*s\"\n",
                    pid, AREA_LEN, reply);
        else
            fprintf(stderr, "[shm_create %d] nobody wrote a reply\n", pid);
    }

    /* Detach: ends this process's mapping only. The segment stays. */
    rc = shmlib_detach(addr);
    if (rc < 0) {
        report(rc);
        return 1;
    }
    fprintf(stderr, "[shm_create %d] detached %s; it lives on until destroyed\n", pid, key);
    return 0;
}
