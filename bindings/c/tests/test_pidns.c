/*
 * test_pidns.c - peers in two pid namespaces over one /dev/shm, as
 * containers sharing it are: the peer runs under
 * `unshare -p -f --kill-child --mount-proc sh -c ...`, where it is pid 2
 * (the shell, pid 1, waits for it) and sees only its own /proc, while
 * sharing this test's /dev/shm and IPC.
 *
 * What the header promises there (POSIX channels, judged by OFD locks):
 * no takeover of a live end in either direction, no false SHMLIB_EPEER
 * while the peer lives, and its death seen. System V channels cannot be
 * judged across namespaces: a holder there is never taken over nor
 * reported dead. And shmlib_reap never offers a live creator's segment.
 *
 * Needs root (CLONE_NEWPID) and unshare(1) from util-linux.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define MS 1000000LL

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/* ------------------------------------------------------------- the peer */

static void say(const char *s)
{
    printf("%s\n", s);
    fflush(stdout);
}

/* Blocks until the test writes a line or closes the pipe; "die" kills
 * this process on the spot, as a crash would. */
static void await(void)
{
    char line[64];
    if (fgets(line, sizeof line, stdin) == NULL)
        exit(0);
    if (strcmp(line, "die\n") == 0)
        raise(SIGKILL);
}

static int peer(const char *role, const char *key)
{
    shmlib_chan_t c;
    char buf[64];
    if (strcmp(role, "open-producer") == 0) {
        snprintf(buf, sizeof buf, "%d", shmlib_chan_open(key, SHMLIB_CHAN_PRODUCER, &c));
        say(buf);
        return 0;
    }
    if (strcmp(role, "hold-consumer") == 0 || strcmp(role, "slow-consumer") == 0) {
        if (shmlib_chan_open(key, SHMLIB_CHAN_CONSUMER, &c) != 0)
            return 2;
        say("ready");
        if (strcmp(role, "slow-consumer") == 0) {
            await();
            /* Asleep long enough for the producer's waits to judge us
             * more than once, then drain. */
            struct timespec ts = {0, 350 * 1000000L};
            nanosleep(&ts, NULL);
            size_t len;
            unsigned char msg[4096];
            while (shmlib_chan_recv(c, msg, sizeof msg, &len, 0) == 0)
                ;
            say("drained");
        }
        await();
        return 0;
    }
    if (strcmp(role, "hold-producer") == 0) {
        if (shmlib_chan_open(key, SHMLIB_CHAN_PRODUCER, &c) != 0 || shmlib_chan_send(c, "one", 3, 0) != 0)
            return 2;
        say("ready");
        await();
        return 0;
    }
    if (strcmp(role, "create") == 0) {
        char made[SHMLIB_KEY_MAX];
        if (shmlib_create("posix:", 4096, 0600, 0, made, sizeof made) != 0)
            return 2;
        say(made);
        await();
        return 0;
    }
    return 3;
}

/* -------------------------------------------------------- the test side */

struct other {
    pid_t pid; /* the unshare process: it returns once the peer has died */
    FILE *in, *out;
};

/* Starts `unshare ... SELF --peer ROLE KEY` with pipes to its stdin and
 * stdout. */
static int start(struct other *o, const char *self, const char *role, const char *key)
{
    int to[2], from[2];
    if (pipe(to) != 0 || pipe(from) != 0)
        return 0;
    o->pid = fork();
    if (o->pid == 0) {
        dup2(to[0], 0);
        dup2(from[1], 1);
        close(to[1]);
        close(from[0]);
        /* The shell reports the peer's SIGKILL on stderr: not a failure. */
        int null = open("/dev/null", O_WRONLY);
        if (null >= 0)
            dup2(null, 2);
        /* "; :" keeps the shell from exec'ing the peer: the peer is not
         * the namespace's init, so it can die of its own SIGKILL. */
        execlp("unshare", "unshare", "-p", "-f", "--kill-child", "--mount-proc", "sh", "-c",
               "\"$0\" --peer \"$1\" \"$2\"; :", self, role, key, (char *)NULL);
        _exit(127);
    }
    close(to[0]);
    close(from[1]);
    o->in = fdopen(to[1], "w");
    o->out = fdopen(from[0], "r");
    return o->pid > 0;
}

/* The peer's next line, without its newline; "" if it ended first. */
static const char *line(struct other *o, char *buf, size_t len)
{
    struct pollfd p = {fileno(o->out), POLLIN, 0};
    if (poll(&p, 1, 10000) != 1 || fgets(buf, (int)len, o->out) == NULL)
        return "";
    buf[strcspn(buf, "\n")] = '\0';
    return buf;
}

static void go(struct other *o)
{
    fputs("go\n", o->in);
    fflush(o->in);
}

/* Ends the peer: by closing its stdin, or by its own SIGKILL, and waits
 * until it is gone. Returns the wait status of unshare. */
static int finish(struct other *o, int kill_it)
{
    int status = 0;
    if (kill_it) {
        fputs("die\n", o->in);
        fflush(o->in);
    }
    fclose(o->in);
    fclose(o->out);
    waitpid(o->pid, &status, 0);
    return status;
}

static int new_channel(const char *prefix, char key[SHMLIB_KEY_MAX])
{
    return CHECK_RC(shmlib_chan_create(prefix, 4096, 0600, 0, key, SHMLIB_KEY_MAX), 0);
}

/* Two messages of the largest size fill a 4096-byte ring. */
static void fill(shmlib_chan_t p)
{
    static unsigned char msg[4096 / 2 - 16];
    CHECK_RC(shmlib_chan_send(p, msg, sizeof msg, 0), 0);
    CHECK_RC(shmlib_chan_send(p, msg, sizeof msg, 0), 0);
}

static void test_no_takeover(const char *self)
{
    char key[SHMLIB_KEY_MAX], buf[SHMLIB_KEY_MAX + 16], want[16];
    shmlib_chan_t p, c;
    struct other o;
    if (!new_channel("posix:", key))
        return;
    /* Our producer, their attempt. */
    if (CHECK_RC(shmlib_chan_open(key, SHMLIB_CHAN_PRODUCER, &p), 0)) {
        if (CHECK(start(&o, self, "open-producer", key))) {
            snprintf(want, sizeof want, "%d", SHMLIB_EBUSY);
            CHECK_STR(line(&o, buf, sizeof buf), want);
            finish(&o, 0);
        }
        CHECK_RC(shmlib_chan_close(p), 0);
    }
    /* Their consumer (pid 1 where they are), our attempt. */
    if (CHECK(start(&o, self, "hold-consumer", key))) {
        if (CHECK_STR(line(&o, buf, sizeof buf), "ready")) {
            CHECK_RC(shmlib_chan_open(key, SHMLIB_CHAN_CONSUMER, &c), SHMLIB_EBUSY);
            /* Once they are dead, the end is free. */
            finish(&o, 1);
            if (CHECK_RC(shmlib_chan_open(key, SHMLIB_CHAN_CONSUMER, &c), 0))
                CHECK_RC(shmlib_chan_close(c), 0);
        } else {
            finish(&o, 1);
        }
    }
    CHECK_RC(shmlib_destroy(key), 0);
}

static void test_no_false_peer_gone(const char *self)
{
    char key[SHMLIB_KEY_MAX], buf[64];
    shmlib_chan_t p;
    struct other o;
    if (!new_channel("posix:", key))
        return;
    if (CHECK_RC(shmlib_chan_open(key, SHMLIB_CHAN_PRODUCER, &p), 0)) {
        if (CHECK(start(&o, self, "slow-consumer", key))) {
            if (CHECK_STR(line(&o, buf, sizeof buf), "ready")) {
                fill(p);
                go(&o);
                /* The ring stays full for ~350 ms: more than three of our
                 * liveness checks see their consumer, alive. */
                CHECK_RC(shmlib_chan_send(p, "more", 4, 5000 * MS), 0);
                CHECK_STR(line(&o, buf, sizeof buf), "drained");
            }
            finish(&o, 0);
        }
        CHECK_RC(shmlib_chan_close(p), 0);
    }
    CHECK_RC(shmlib_destroy(key), 0);
}

static void test_death_seen(const char *self)
{
    char key[SHMLIB_KEY_MAX], buf[64];
    shmlib_chan_t p, c;
    struct other o;
    if (!new_channel("posix:", key))
        return;
    /* Their consumer dies while our producer waits for room. */
    if (CHECK_RC(shmlib_chan_open(key, SHMLIB_CHAN_PRODUCER, &p), 0)) {
        if (CHECK(start(&o, self, "hold-consumer", key))) {
            if (CHECK_STR(line(&o, buf, sizeof buf), "ready")) {
                fill(p);
                finish(&o, 1);
                long long t0 = now_ms();
                CHECK_RC(shmlib_chan_send(p, "more", 4, 5000 * MS), SHMLIB_EPEER);
                CHECK(now_ms() - t0 < 1000);
            } else {
                finish(&o, 1);
            }
        }
        CHECK_RC(shmlib_chan_close(p), 0);
    }
    CHECK_RC(shmlib_destroy(key), 0);

    /* Their producer dies while our consumer waits for data. */
    if (!new_channel("posix:", key))
        return;
    if (CHECK_RC(shmlib_chan_open(key, SHMLIB_CHAN_CONSUMER, &c), 0)) {
        if (CHECK(start(&o, self, "hold-producer", key))) {
            if (CHECK_STR(line(&o, buf, sizeof buf), "ready")) {
                size_t len;
                CHECK_RC(shmlib_chan_recv(c, buf, sizeof buf, &len, 0), 0);
                finish(&o, 1);
                long long t0 = now_ms();
                CHECK_RC(shmlib_chan_recv(c, buf, sizeof buf, &len, 5000 * MS), SHMLIB_EPEER);
                CHECK(now_ms() - t0 < 1000);
            } else {
                finish(&o, 1);
            }
        }
        CHECK_RC(shmlib_chan_close(c), 0);
    }
    CHECK_RC(shmlib_destroy(key), 0);
}

/* System V: a holder in another namespace is never taken over, never
 * reported dead, alive or not (the header says to use POSIX or memfd). */
static void test_sysv_refuses(const char *self)
{
    char key[SHMLIB_KEY_MAX], buf[64];
    shmlib_chan_t p, c;
    struct other o;
    if (!new_channel("sysv:", key))
        return;
    if (CHECK_RC(shmlib_chan_open(key, SHMLIB_CHAN_PRODUCER, &p), 0)) {
        if (CHECK(start(&o, self, "hold-consumer", key))) {
            if (CHECK_STR(line(&o, buf, sizeof buf), "ready")) {
                CHECK_RC(shmlib_chan_open(key, SHMLIB_CHAN_CONSUMER, &c), SHMLIB_EBUSY);
                CHECK(strstr(harness_last_error(), "another pid namespace") != NULL);
                fill(p);
                finish(&o, 1);
                CHECK_RC(shmlib_chan_send(p, "more", 4, 300 * MS), SHMLIB_ETIMEDOUT);
                CHECK_RC(shmlib_chan_open(key, SHMLIB_CHAN_CONSUMER, &c), SHMLIB_EBUSY);
            } else {
                finish(&o, 1);
            }
        }
        CHECK_RC(shmlib_chan_close(p), 0);
    }
    CHECK_RC(shmlib_destroy(key), 0);
}

/* How many of the segments shmlib_reap finds (dry run) have this key. */
static int reap_offers(const char *key)
{
    shmlib_stat_t items[256];
    size_t n = 0;
    int found = 0;
    if (!CHECK_RC(shmlib_reap(0, items, 256, &n), 0))
        return -1;
    for (size_t i = 0; i < n && i < 256; i++)
        found += strcmp(items[i].key, key) == 0;
    return found;
}

static void test_reap(const char *self)
{
    char key[SHMLIB_KEY_MAX + 16];
    struct other o;
    if (!CHECK(start(&o, self, "create", "-")))
        return;
    line(&o, key, sizeof key);
    if (!CHECK(strncmp(key, "posix:/shmlib-2-", 16) == 0)) { /* pid 2 where it lives */
        finish(&o, 1);
        return;
    }
    CHECK_INT(reap_offers(key), 0); /* its creator lives, unseen by pid */
    finish(&o, 1);
    CHECK_INT(reap_offers(key), 1); /* now it is dead */
    CHECK_RC(shmlib_destroy(key), 0);
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "--peer") == 0)
        return peer(argv[2], argv[3]);
    if (geteuid() != 0 || system("unshare -p -f --kill-child --mount-proc true 2>/dev/null") != 0) {
        /* Not where CI runs (root, util-linux): say so and count it. */
        printf("SKIP test_pidns: needs root and unshare(1) able to make a pid namespace\n");
        return harness_finish();
    }
    signal(SIGPIPE, SIG_IGN);
    printf("-- no takeover of a live end across pid namespaces\n");
    test_no_takeover(argv[0]);
    printf("-- no false peer-gone\n");
    test_no_false_peer_gone(argv[0]);
    printf("-- death seen\n");
    test_death_seen(argv[0]);
    printf("-- System V refuses to judge\n");
    test_sysv_refuses(argv[0]);
    printf("-- reap spares a live creator in another namespace\n");
    test_reap(argv[0]);
    return harness_finish();
}
