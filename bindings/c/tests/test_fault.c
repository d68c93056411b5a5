/*
 * test_fault.c - a peer truncates a POSIX segment under our mappings (the
 * SIGBUS trap of shared memory): what the header promises for it. The
 * channel data plane, C without a signal handler of its own, raises SIGBUS
 * like any C code touching the mapping; the control plane and listing go
 * on; memfd channels cannot be truncated at all.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

/* Child role: opens the producer end of key, says "r", waits for a byte,
 * then sends. The ring's pages are gone by then: the send must die of
 * SIGBUS, as the header says, not return. */
static int truncated_sender(const char *key)
{
    shmlib_chan_t tx;
    char c;
    if (shmlib_chan_open(key, SHMLIB_CHAN_PRODUCER, &tx) != 0)
        return 2;
    if (write(1, "r", 1) != 1 || read(0, &c, 1) != 1)
        return 3;
    shmlib_chan_send(tx, "after", 5, 0);
    return 4; /* not reached when the promise holds */
}

/* A POSIX channel truncated by a peer: the data plane (C, which takes over
 * no signal handler) raises SIGBUS in the thread that touches the ring;
 * the control plane (Go, which catches the fault) still closes the ends. */
static void test_truncated_channel(const char *self)
{
    char key[SHMLIB_KEY_MAX];
    shmlib_chan_t tx, rx;
    int to[2], from[2];

    if (!CHECK_RC(shmlib_chan_create("posix:", 4096, 0600, SHMLIB_SPARSE, key, sizeof key), 0))
        return;
    if (!CHECK_RC(shmlib_chan_open(key, SHMLIB_CHAN_CONSUMER, &rx), 0)) {
        shmlib_destroy(key);
        return;
    }
    if (!CHECK(pipe(to) == 0 && pipe(from) == 0))
        return;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(to[0], 0);
        dup2(from[1], 1);
        execl(self, self, "--truncated-sender", key, (char *)NULL);
        _exit(127);
    }
    close(to[0]);
    close(from[1]);
    char c = 0;
    CHECK(read(from[0], &c, 1) == 1 && c == 'r');
    CHECK(harness_truncate_posix(key));
    CHECK(write(to[1], "g", 1) == 1);
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGBUS);
    close(to[1]);
    close(from[0]);

    /* What needs no shared memory still works, and the end can be left. */
    uint64_t max = 0;
    CHECK_RC(shmlib_chan_max_message(rx, &max), 0);
    CHECK_INT(max, 4096 / 2 - 16);
    shmlib_stat_t st;
    if (CHECK_RC(shmlib_stat(key, &st), 0))
        CHECK_INT(st.size, 0);
    CHECK_RC(shmlib_chan_close(rx), SHMLIB_OK);
    CHECK_RC(shmlib_destroy(key), 0);

    /* memfd channels, the header's choice against untrusted peers, cannot
     * be truncated at all: they are sealed against shrinking. */
    if (!CHECK_RC(shmlib_chan_create("memfd:", 4096, 0600, 0, key, sizeof key), 0))
        return;
    int fd = -1;
    CHECK(sscanf(key, "memfd:pid=%*d,fd=%d", &fd) == 1);
    if (CHECK_RC(shmlib_chan_open(key, SHMLIB_CHAN_PRODUCER, &tx), 0)) {
        CHECK(ftruncate(fd, 0) == -1 && errno == EPERM);
        CHECK_RC(shmlib_chan_send(tx, "after", 5, 0), 0);
        CHECK_RC(shmlib_chan_close(tx), 0);
    }
    CHECK_RC(shmlib_destroy(key), 0);
}

/* The stat probe for a channel reads the segment's first bytes: a
 * truncated one is simply not a channel any more, not a crash. */
static void test_truncated_while_listed(void)
{
    char key[SHMLIB_KEY_MAX];
    void *addr;
    if (!CHECK_RC(shmlib_create("posix:", 8192, 0600, 0, key, sizeof key), 0))
        return;
    CHECK_RC(shmlib_attach(key, NULL, 0, &addr, NULL), 0);
    CHECK(harness_truncate_posix(key));
    size_t count;
    CHECK_RC(shmlib_list(NULL, 0, &count), 0);
    CHECK_RC(shmlib_detach(addr), 0);
    CHECK_RC(shmlib_destroy(key), 0);
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--truncated-sender") == 0)
        return truncated_sender(argv[2]);
    printf("-- a truncated channel\n");
    test_truncated_channel(argv[0]);
    printf("-- a truncated segment, listed\n");
    test_truncated_while_listed();
    return harness_finish();
}
