/*
 * shm_read.c - attach a segment another process created, by its key.
 *
 *     shm_read [-r] KEY
 *
 * KEY  the key shm_create printed, e.g. posix:/shmlib-1a2b3c or
 *      sysv:key=0x5a01c0de.
 * -r   attach read-only and do not write the reply.
 *
 * Attaches the segment, prints what the kernel knows of it (shmlib_stat),
 * checks the greeting and the test pattern shm_create wrote, writes a reply
 * of its own that the creator can see, detaches, and shows that the segment
 * is still there: detaching never destroys.
 *
 * Exit status: 0 if the data checked out, 1 on any failure, 2 on bad usage.
 */
#include <shmlib.h>

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
    fprintf(stderr, "shm_read: %s (%s)\n", msg, shmlib_strerror(rc));
}

/* Prints the fields of shmlib_stat_t that mean something for this backend. */
static void print_stat(int pid, const shmlib_stat_t *st)
{
    printf("[shm_read %d] stat     %s: %s, %" PRIu64 " bytes, mode %04o, owner uid %u\n",
           pid, st->key, st->backend == SHMLIB_BACKEND_SYSV ? "System V" : "POSIX",
           st->size, (unsigned)st->mode, (unsigned)st->uid);
    if (st->backend == SHMLIB_BACKEND_SYSV)
        printf("[shm_read %d]          shmid %d, created by pid %d, last attach/detach by pid %d,"
               " attach count %" PRId64 "%s\n",
               pid, (int)st->shmid, (int)st->cpid, (int)st->lpid, st->nattach,
               st->flags & SHMLIB_STAT_DESTROYED ? " (destroyed, still attached)" : "");
    else
        printf("[shm_read %d]          attach count: not counted by the kernel for POSIX objects\n",
               pid);
}

static void usage(void)
{
    fprintf(stderr, "usage: shm_read [-r] KEY\n");
    exit(2);
}

int main(int argc, char **argv)
{
    uint32_t flags = 0;
    shmlib_stat_t st;
    uint64_t size;
    void *addr;
    int opt, rc;

    while ((opt = getopt(argc, argv, "r")) != -1) {
        if (opt != 'r')
            usage();
        flags |= SHMLIB_RDONLY;
    }
    if (argc - optind != 1)
        usage();
    const char *key = argv[optind];
    int pid = (int)getpid();

    /* Attach by the key alone: that string is all a process needs. */
    rc = shmlib_attach(key, NULL, flags, &addr, &size);
    if (rc < 0) {
        report(rc);
        return 1;
    }
    printf("[shm_read %d] attached %s at %p, %" PRIu64 " bytes%s\n",
           pid, key, addr, size, flags & SHMLIB_RDONLY ? ", read-only" : "");

    /* Stat needs no attach; done now, the attach count includes us. */
    rc = shmlib_stat(key, &st);
    if (rc < 0) {
        report(rc);
        shmlib_detach(addr);
        return 1;
    }
    print_stat(pid, &st);

    /* Check what shm_create wrote. */
    const unsigned char *mem = addr;
    int ok = size >= PATTERN_OFF && memchr(mem + GREETING_OFF, '\0', AREA_LEN) != NULL;
    if (!ok) {
        fprintf(stderr, "shm_read: %s does not hold shm_create's layout\n", key);
    } else {
        printf("[shm_read %d] read     \"%s\"\n", pid, (const char *)mem + GREETING_OFF);
        for (uint64_t i = PATTERN_OFF; i < size; i++) {
            if (mem[i] != (unsigned char)(i % 251)) {
                fflush(stdout);
                fprintf(stderr, "shm_read: byte %" PRIu64 " is %u, expected %u\n",
                        i, mem[i], (unsigned)(i % 251));
                ok = 0;
                break;
            }
        }
    }
    if (ok) {
        printf("[shm_read %d] verified the test pattern, bytes %d to %" PRIu64 "\n",
               pid, PATTERN_OFF, size);
        if (!(flags & SHMLIB_RDONLY)) {
            snprintf((char *)addr + REPLY_OFF, AREA_LEN, "verified by shm_read, pid %d", pid);
            printf("[shm_read %d] wrote    \"%s\" into the reply area\n",
                   pid, (char *)addr + REPLY_OFF);
        }
    }

    /* Detach: our mapping ends, the segment does not. */
    rc = shmlib_detach(addr);
    if (rc < 0) {
        report(rc);
        return 1;
    }
    printf("[shm_read %d] detached %s\n", pid, key);

    rc = shmlib_stat(key, &st);
    if (rc < 0) {
        report(rc);
        return 1;
    }
    if (st.backend == SHMLIB_BACKEND_SYSV)
        printf("[shm_read %d] after detach the segment still exists, attach count %" PRId64 "\n",
               pid, st.nattach);
    else
        printf("[shm_read %d] after detach the segment still exists\n", pid);
    return ok ? 0 : 1;
}
