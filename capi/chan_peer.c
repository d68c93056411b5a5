/*
 * Whether the other end's holder is gone (PROTOCOL.md, "Liveness"), judged
 * in C during a wait.
 *
 * POSIX and memfd channels: the holder of an end holds an OFD write lock on
 * one byte of the segment's file, at the offset of that end's owner word.
 * The kernel drops it when the holder's last descriptor of it closes (at
 * its death, whatever pid namespace it lives in), and F_OFD_GETLK tells
 * anyone whether it is held. System V segments have no file: there the
 * owner word's pid and start time are judged, and only when the holder
 * wrote the same pid namespace as ours next to it; otherwise the holder
 * counts as alive, since a pid from another namespace means nothing here.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chan.h"

/* Whether someone holds the lock of the end whose owner word is at off. */
int chan_lock_held(int fd, unsigned off)
{
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = off, .l_len = 1};
    if (fcntl(fd, F_OFD_GETLK, &fl) != 0)
        return 1; /* cannot tell: never call a live holder dead */
    return fl.l_type != F_UNLCK;
}

/* Field 3 (state) and 22 (start time) of /proc/PID/stat, counted after the
 * last ')' since the name may hold anything. */
static int proc_stat(int pid, char *state, unsigned long long *start)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    if (p == NULL || sscanf(p + 1, " %c", state) != 1)
        return -1;
    for (int field = 2; field < 22; field++) {
        p = strchr(p + 1, ' ');
        if (p == NULL)
            return -1;
    }
    *start = strtoull(p + 1, NULL, 10);
    return 0;
}

/* System V: whether the owner word o names a live process, as far as this
 * pid namespace can tell. */
static int pid_alive(const struct chan_end *e, uint64_t o, uint64_t ns)
{
    int pid = (int)(o >> 32);
    if (ns != e->pid_ns || pid <= 0)
        return 1; /* another namespace's pid, or none recorded: cannot judge */
    if (kill(pid, 0) != 0 && errno == ESRCH)
        return 0;
    char state;
    unsigned long long start;
    if (proc_stat(pid, &state, &start) != 0)
        return kill(pid, 0) == 0 || errno != ESRCH;
    return (uint32_t)start == (uint32_t)o && state != 'Z' && state != 'X';
}

/* Whether the peer of e is gone, from the shared state alone: 1 if so,
 * with the owner word judged in *o. */
int chan_peer_looks_gone(struct chan_end *e, uint64_t *o)
{
    *o = 0;
    if (e->bcast && e->end == SHMLIB_CHAN_PRODUCER)
        return bcast_dead_slot(e); /* then chan_peer_gone lets it go */
    int producer_peer = e->end == SHMLIB_CHAN_CONSUMER;
    unsigned off = producer_peer ? CH_OFF_PRODUCER : CH_OFF_CONSUMER;
    *o = atomic_load(ch_u64(e, off));
    if (*o == 0) /* nobody took it yet (a peer may still come), or the consumer closed */
        return !producer_peer && atomic_load(ch_u32(e, CH_OFF_CONS_LEFT)) != 0;
    if (e->lock_fd >= 0)
        return !chan_lock_held(e->lock_fd, off);
    return !pid_alive(e, *o, atomic_load(ch_u64(e, producer_peer ? CH_OFF_PRODUCER_NS : CH_OFF_CONSUMER_NS)));
}

int chan_peer_gone(struct chan_end *e, const char *op, chan_ready_fn ready, void *arg)
{
    if (e->bcast && e->end == SHMLIB_CHAN_PRODUCER)
        return bcast_reap(e, arg); /* subscribers are never "gone": dead ones are let go */
    uint64_t o;
    if (!chan_peer_looks_gone(e, &o))
        return 0;
    /* A peer that committed, or closed, and then died has done its part;
     * an owner word that changed names a new holder, not a dead one. */
    int r = ready(e, op, arg);
    if (r != 0)
        return r;
    int producer_peer = e->end == SHMLIB_CHAN_CONSUMER;
    if (atomic_load(ch_u64(e, producer_peer ? CH_OFF_PRODUCER : CH_OFF_CONSUMER)) != o)
        return 0;
    if (o == 0)
        return chan_fail(e, op, SHMLIB_EPEER, "the consumer closed its end; nobody is receiving");
    return chan_fail(e, op, SHMLIB_EPEER, "the %s (pid %d) died", producer_peer ? "producer" : "consumer", (int)(o >> 32));
}
