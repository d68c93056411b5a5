/*
 * shm_destroy.c - destroy segments by key.
 *
 *     shm_destroy KEY...
 *
 * Destroying is "everybody is done with it": the key stops working at once
 * (new attaches fail with SHMLIB_ENOENT), while processes that still have
 * the segment attached keep using it until they detach; the kernel frees
 * the memory after the last one. Any process the segment's mode allows may
 * destroy it, not only its creator.
 *
 * Exit status: 0 if every segment was destroyed, 1 otherwise.
 */
#include <shmlib.h>

#include <inttypes.h>
#include <stdio.h>
#include <unistd.h>

static void report(int rc)
{
    char msg[SHMLIB_ERROR_MAX];

    shmlib_last_error(msg, sizeof msg);
    fflush(stdout);
    fprintf(stderr, "shm_destroy: %s (%s)\n", msg, shmlib_strerror(rc));
}

int main(int argc, char **argv)
{
    int pid = (int)getpid(), status = 0;

    if (argc < 2) {
        fprintf(stderr, "usage: shm_destroy KEY...\n");
        return 2;
    }
    for (int i = 1; i < argc; i++) {
        const char *key = argv[i];
        shmlib_stat_t st;

        /* A last look, only to show what is going away; if stat fails,
         * destroy still runs and gives the reason. */
        if (shmlib_stat(key, &st) == 0) {
            if (st.backend == SHMLIB_BACKEND_SYSV)
                printf("[shm_destroy %d] stat     %s: %" PRIu64 " bytes, attach count %" PRId64 "\n",
                       pid, st.key, st.size, st.nattach);
            else
                printf("[shm_destroy %d] stat     %s: %" PRIu64 " bytes\n", pid, st.key, st.size);
        }
        int rc = shmlib_destroy(key);
        if (rc < 0) {
            report(rc);
            status = 1;
            continue;
        }
        printf("[shm_destroy %d] destroyed %s\n", pid, key);
    }
    return status;
}
