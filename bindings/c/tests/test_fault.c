/*
 * test_fault.c - a peer truncates a POSIX segment under our mappings (the
 * SIGBUS trap of shared memory): every libshm call that touches the memory
 * returns SHMLIB_EFAULT, and the process lives on.
 *
 * A channel is the part of libshm that reads and writes the shared memory
 * itself, so a channel's segment is what gets truncated here. (memfd
 * segments are sealed against exactly this; POSIX objects cannot be.)
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

static void test_truncated_channel(void)
{
    char key[SHMLIB_KEY_MAX], buf[64];
    shmlib_chan_t tx, rx;
    size_t n;
    void *w;
    const void *r;

    if (!CHECK_RC(shmlib_chan_create("posix:", 4096, 0600, SHMLIB_SPARSE, key, sizeof key), 0))
        return;
    if (!CHECK_RC(shmlib_chan_open(key, SHMLIB_CHAN_PRODUCER, &tx), 0) ||
        !CHECK_RC(shmlib_chan_open(key, SHMLIB_CHAN_CONSUMER, &rx), 0)) {
        shmlib_destroy(key);
        return;
    }
    CHECK_RC(shmlib_chan_send(tx, "before", 6, 0), 0);
    CHECK(harness_truncate_posix(key));

    /* Each of these reads or writes the ring: a fault, reported. */
    CHECK_RC(shmlib_chan_send(tx, "after", 5, 0), SHMLIB_EFAULT);
    CHECK(strstr(harness_last_error(), "chan_send") != NULL);
    CHECK_RC(shmlib_chan_reserve(tx, 8, 0, &w), SHMLIB_EFAULT);
    CHECK_RC(shmlib_chan_recv(rx, buf, sizeof buf, &n, 0), SHMLIB_EFAULT);
    CHECK(strstr(harness_last_error(), "chan_recv") != NULL);
    CHECK_RC(shmlib_chan_peek(rx, 0, &r, &n), SHMLIB_EFAULT);

    /* What needs no shared memory still works, and the ends can be left. */
    uint64_t max = 0;
    CHECK_RC(shmlib_chan_max_message(tx, &max), 0);
    CHECK_INT(max, 4096 / 2 - 16);
    shmlib_stat_t st;
    if (CHECK_RC(shmlib_stat(key, &st), 0))
        CHECK_INT(st.size, 0);
    CHECK_RC(shmlib_chan_close(rx), SHMLIB_OK);
    CHECK_RC(shmlib_chan_close(tx), SHMLIB_OK);
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

int main(void)
{
    printf("-- a truncated channel\n");
    test_truncated_channel();
    printf("-- a truncated segment, listed\n");
    test_truncated_while_listed();
    return harness_finish();
}
