/*
 * test_wake.c - ending a channel wait from elsewhere, as the header's
 * "Ending a wait" promises: shmlib_chan_wake and close from another thread
 * (SHMLIB_EWOKEN), a signal on an end opened with SHMLIB_CHAN_EINTR
 * (SHMLIB_EINTR) and not on one opened without, a deferred pthread_cancel
 * (the end is given back), and a thread that dies inside a call does not
 * wedge its end for close. Every wait is real: a thread asleep on the
 * futex of a real segment.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define MS 1000000LL

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

struct waiter {
    shmlib_chan_t chan;
    int64_t timeout_ns;
    int warm; /* messages to receive (without waiting) before the wait */
    volatile int started;
    int rc;
    char err[512];
    long long took_ms;
};

static void *wait_recv(void *arg)
{
    struct waiter *w = arg;
    unsigned char buf[64];
    size_t len;
    for (int i = 0; i < w->warm; i++)
        CHECK_RC(shmlib_chan_recv(w->chan, buf, sizeof buf, &len, 0), 0);
    long long t0 = now_ms();
    __atomic_store_n(&w->started, 1, __ATOMIC_SEQ_CST);
    w->rc = shmlib_chan_recv(w->chan, buf, sizeof buf, &len, w->timeout_ns);
    w->took_ms = now_ms() - t0;
    shmlib_last_error(w->err, sizeof w->err);
    return NULL;
}

/* Starts a thread receiving on an empty channel and lets it fall asleep. */
static int start(pthread_t *t, struct waiter *w)
{
    if (!CHECK(pthread_create(t, NULL, wait_recv, w) == 0))
        return 0;
    while (!__atomic_load_n(&w->started, __ATOMIC_SEQ_CST))
        sleep_ms(1);
    sleep_ms(50); /* past the spin, into the futex sleep */
    return 1;
}

static int open_pair(char key[SHMLIB_KEY_MAX], int cons_flags, shmlib_chan_t *prod, shmlib_chan_t *cons)
{
    if (!CHECK_RC(shmlib_chan_create("posix:", 4096, 0600, 0, key, SHMLIB_KEY_MAX), 0))
        return 0;
    if (!CHECK_RC(shmlib_chan_open(key, SHMLIB_CHAN_PRODUCER, prod), 0) ||
        !CHECK_RC(shmlib_chan_open(key, SHMLIB_CHAN_CONSUMER | cons_flags, cons), 0)) {
        shmlib_destroy(key);
        return 0;
    }
    return 1;
}

static void test_wake(void)
{
    char key[SHMLIB_KEY_MAX];
    shmlib_chan_t prod, cons;
    pthread_t t;
    if (!open_pair(key, 0, &prod, &cons))
        return;
    struct waiter w = {.chan = cons, .timeout_ns = SHMLIB_WAIT_FOREVER};
    if (start(&t, &w)) {
        CHECK_RC(shmlib_chan_wake(cons), 0);
        pthread_join(t, NULL);
        CHECK_RC(w.rc, SHMLIB_EWOKEN);
        CHECK(strstr(w.err, "shmlib_chan_wake") != NULL);
        CHECK(w.took_ms < 1000);
    }
    /* A wake before the wait ends the next wait, once; a call that need not
     * wait leaves it. */
    unsigned char buf[8];
    size_t len;
    CHECK_RC(shmlib_chan_wake(cons), 0);
    CHECK_RC(shmlib_chan_send(prod, "x", 1, 0), 0);
    CHECK_RC(shmlib_chan_recv(cons, buf, sizeof buf, &len, SHMLIB_WAIT_FOREVER), 0);
    CHECK_RC(shmlib_chan_recv(cons, buf, sizeof buf, &len, SHMLIB_WAIT_FOREVER), SHMLIB_EWOKEN);
    CHECK_RC(shmlib_chan_recv(cons, buf, sizeof buf, &len, 20 * MS), SHMLIB_ETIMEDOUT);
    /* The channel works on after a wake. */
    CHECK_RC(shmlib_chan_send(prod, "y", 1, 0), 0);
    CHECK_RC(shmlib_chan_recv(cons, buf, sizeof buf, &len, 0), 0);
    CHECK_RC(shmlib_chan_wake(0), SHMLIB_EINVAL);
    CHECK_RC(shmlib_chan_close(cons), 0);
    CHECK_RC(shmlib_chan_wake(cons), SHMLIB_EINVAL);
    CHECK_RC(shmlib_chan_close(prod), 0);
    CHECK_RC(shmlib_destroy(key), 0);
}

static void test_close_from_another_thread(void)
{
    char key[SHMLIB_KEY_MAX];
    shmlib_chan_t prod, cons;
    pthread_t t;
    if (!open_pair(key, 0, &prod, &cons))
        return;
    struct waiter w = {.chan = cons, .timeout_ns = SHMLIB_WAIT_FOREVER};
    if (start(&t, &w)) {
        CHECK_RC(shmlib_chan_close(cons), 0);
        pthread_join(t, NULL);
        CHECK_RC(w.rc, SHMLIB_EWOKEN);
        CHECK(strstr(w.err, "closing") != NULL);
        unsigned char buf[8];
        size_t len;
        CHECK_RC(shmlib_chan_recv(cons, buf, sizeof buf, &len, 0), SHMLIB_EINVAL);
    }
    /* The consumer end is free for the next opener. */
    if (CHECK_RC(shmlib_chan_open(key, SHMLIB_CHAN_CONSUMER, &cons), 0))
        CHECK_RC(shmlib_chan_close(cons), 0);
    CHECK_RC(shmlib_chan_close(prod), 0);
    CHECK_RC(shmlib_destroy(key), 0);
}

static volatile sig_atomic_t handled;
static void on_usr1(int sig)
{
    (void)sig;
    handled++;
}

/* SIGUSR1 with a handler, SA_RESTART or not: it ends the wait of an
 * SHMLIB_CHAN_EINTR end, and not of another. */
static void test_eintr(int sa_flags)
{
    struct sigaction sa = {.sa_handler = on_usr1, .sa_flags = sa_flags};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR1, &sa, NULL);
    char key[SHMLIB_KEY_MAX];
    shmlib_chan_t prod, cons;
    pthread_t t;
    if (!open_pair(key, SHMLIB_CHAN_EINTR, &prod, &cons))
        return;
    struct waiter w = {.chan = cons, .timeout_ns = 5000 * MS};
    handled = 0;
    if (start(&t, &w)) {
        pthread_kill(t, SIGUSR1);
        pthread_join(t, NULL);
        CHECK_RC(w.rc, SHMLIB_EINTR);
        CHECK(handled == 1);
        CHECK(w.took_ms < 1000);
    }
    CHECK_RC(shmlib_chan_close(cons), 0);

    /* Without the flag the handler runs and the wait goes on. */
    if (CHECK_RC(shmlib_chan_open(key, SHMLIB_CHAN_CONSUMER, &cons), 0)) {
        struct waiter w2 = {.chan = cons, .timeout_ns = 5000 * MS};
        handled = 0;
        if (start(&t, &w2)) {
            pthread_kill(t, SIGUSR1);
            sleep_ms(100);
            CHECK_RC(shmlib_chan_send(prod, "z", 1, 0), 0);
            pthread_join(t, NULL);
            CHECK_RC(w2.rc, 0);
            CHECK(handled == 1);
        }
        CHECK_RC(shmlib_chan_close(cons), 0);
    }
    /* An unknown bit beside the end is refused. */
    CHECK_RC(shmlib_chan_open(key, SHMLIB_CHAN_CONSUMER | 0x200, &cons), SHMLIB_EINVAL);
    CHECK_RC(shmlib_chan_close(prod), 0);
    CHECK_RC(shmlib_destroy(key), 0);
    signal(SIGUSR1, SIG_DFL);
}

static void *cancel_recv(void *arg)
{
    struct waiter *w = arg;
    unsigned char buf[64];
    size_t len;
    __atomic_store_n(&w->started, 1, __ATOMIC_SEQ_CST);
    w->rc = shmlib_chan_recv(w->chan, buf, sizeof buf, &len, SHMLIB_WAIT_FOREVER);
    return NULL;
}

/* A deferred cancel ends a wait and gives the end back: another thread
 * uses the same handle afterwards. */
static void test_cancel(void)
{
    char key[SHMLIB_KEY_MAX];
    shmlib_chan_t prod, cons;
    pthread_t t;
    if (!open_pair(key, 0, &prod, &cons))
        return;
    struct waiter w = {.chan = cons, .rc = 12345};
    if (CHECK(pthread_create(&t, NULL, cancel_recv, &w) == 0)) {
        while (!__atomic_load_n(&w.started, __ATOMIC_SEQ_CST))
            sleep_ms(1);
        sleep_ms(50);
        long long t0 = now_ms();
        pthread_cancel(t);
        void *res;
        pthread_join(t, &res);
        CHECK(res == PTHREAD_CANCELED);
        CHECK(now_ms() - t0 < 3000); /* the header: within about 2 s */
        CHECK_INT(w.rc, 12345); /* never returned */
        unsigned char buf[8];
        size_t len;
        CHECK_RC(shmlib_chan_send(prod, "c", 1, 0), 0);
        CHECK_RC(shmlib_chan_recv(cons, buf, sizeof buf, &len, 0), 0);
    }
    CHECK_RC(shmlib_chan_close(cons), 0);
    CHECK_RC(shmlib_chan_close(prod), 0);
    CHECK_RC(shmlib_destroy(key), 0);
}

/* A thread that dies inside a call, here by asynchronous cancel while it
 * sleeps: the handle stays busy for other calls, but close still works and
 * the end is free for the next opener. */
static void *async_recv(void *arg)
{
    pthread_setcanceltype(PTHREAD_CANCEL_ASYNCHRONOUS, NULL);
    return cancel_recv(arg);
}

static void test_thread_dies_in_call(void)
{
    char key[SHMLIB_KEY_MAX];
    shmlib_chan_t prod, cons;
    pthread_t t;
    if (!open_pair(key, 0, &prod, &cons))
        return;
    struct waiter w = {.chan = cons};
    if (CHECK(pthread_create(&t, NULL, async_recv, &w) == 0)) {
        while (!__atomic_load_n(&w.started, __ATOMIC_SEQ_CST))
            sleep_ms(1);
        sleep_ms(150); /* asleep, past the cancellation check that gives the end back */
        pthread_cancel(t);
        pthread_join(t, NULL);
        long long t0 = now_ms();
        CHECK_RC(shmlib_chan_close(cons), 0);
        CHECK(now_ms() - t0 < 2000);
        if (CHECK_RC(shmlib_chan_open(key, SHMLIB_CHAN_CONSUMER, &cons), 0))
            CHECK_RC(shmlib_chan_close(cons), 0);
    }
    CHECK_RC(shmlib_chan_close(prod), 0);
    CHECK_RC(shmlib_destroy(key), 0);
}

/* A thread that has used the end (and so enters it without an atomic
 * read-modify-write, see chan_table.c) waits in it: every other thread is
 * refused with SHMLIB_EBUSY until it returns, then may go on. */
static void test_busy_while_biased_thread_waits(void)
{
    char key[SHMLIB_KEY_MAX];
    shmlib_chan_t prod, cons;
    pthread_t t;
    if (!open_pair(key, 0, &prod, &cons))
        return;
    struct waiter w = {.chan = cons, .timeout_ns = 2000 * MS, .warm = 1};
    /* The waiter's thread recvs once before (it has the end since). */
    CHECK_RC(shmlib_chan_send(prod, "a", 1, 0), 0);
    if (start(&t, &w)) {
        unsigned char buf[8];
        size_t len;
        CHECK_RC(shmlib_chan_recv(cons, buf, sizeof buf, &len, 0), SHMLIB_EBUSY);
        CHECK_RC(shmlib_chan_release(cons), SHMLIB_EBUSY);
        CHECK_RC(shmlib_chan_send(prod, "b", 1, 0), 0);
        pthread_join(t, NULL);
        CHECK_RC(w.rc, 0);
        CHECK_RC(shmlib_chan_send(prod, "c", 1, 0), 0);
        CHECK_RC(shmlib_chan_recv(cons, buf, sizeof buf, &len, 0), 0); /* the end is ours now */
        CHECK_INT(len, 1);
        CHECK(buf[0] == 'c');
    }
    CHECK_RC(shmlib_chan_close(cons), 0);
    CHECK_RC(shmlib_chan_close(prod), 0);
    CHECK_RC(shmlib_destroy(key), 0);
}

/* Four threads share one producer handle without any lock of their own:
 * each send either goes through alone or gets SHMLIB_EBUSY, so the
 * consumer receives every message sent exactly once, each thread's in
 * order, and nothing corrupt. */
#define RACERS 4
#define PER_RACER 20000
struct racer {
    shmlib_chan_t chan;
    int id, sent, busy;
};

static void *race(void *arg)
{
    struct racer *r = arg;
    while (r->sent < PER_RACER) {
        uint32_t msg[2] = {(uint32_t)r->id, (uint32_t)r->sent};
        int rc = shmlib_chan_send(r->chan, msg, sizeof msg, 0);
        if (rc == 0)
            r->sent++;
        else if (rc == SHMLIB_EBUSY || rc == SHMLIB_ETIMEDOUT)
            r->busy++;
        else {
            CHECK_RC(rc, 0);
            break;
        }
    }
    return NULL;
}

static void test_threads_race_for_an_end(void)
{
    char key[SHMLIB_KEY_MAX];
    shmlib_chan_t prod, cons;
    if (!open_pair(key, 0, &prod, &cons))
        return;
    pthread_t t[RACERS];
    struct racer r[RACERS];
    for (int i = 0; i < RACERS; i++) {
        r[i] = (struct racer){.chan = prod, .id = i};
        pthread_create(&t[i], NULL, race, &r[i]);
    }
    uint32_t next[RACERS] = {0};
    int got = 0, bad = 0;
    while (got < RACERS * PER_RACER && !bad) {
        uint32_t msg[2];
        size_t len;
        int rc = shmlib_chan_recv(cons, msg, sizeof msg, &len, 5000 * MS);
        if (!CHECK_RC(rc, 0))
            break;
        bad = len != sizeof msg || msg[0] >= RACERS || msg[1] != next[msg[0]];
        if (!bad)
            next[msg[0]]++;
        got++;
    }
    CHECK(!bad);
    CHECK_INT(got, RACERS * PER_RACER);
    long busy = 0;
    for (int i = 0; i < RACERS; i++) {
        pthread_join(t[i], NULL);
        CHECK_INT(r[i].sent, PER_RACER);
        busy += r[i].busy;
    }
    printf("   %d messages, %ld refused as busy or full\n", got, busy);
    CHECK_RC(shmlib_chan_close(cons), 0);
    CHECK_RC(shmlib_chan_close(prod), 0);
    CHECK_RC(shmlib_destroy(key), 0);
}

int main(void)
{
    printf("-- wake\n");
    test_wake();
    printf("-- close from another thread\n");
    test_close_from_another_thread();
    printf("-- EINTR, handler without SA_RESTART\n");
    test_eintr(0);
    printf("-- EINTR, handler with SA_RESTART\n");
    test_eintr(SA_RESTART);
    printf("-- deferred cancel\n");
    test_cancel();
    printf("-- a thread dies in a call\n");
    test_thread_dies_in_call();
    printf("-- busy while the thread the end is biased to waits\n");
    test_busy_while_biased_thread_waits();
    printf("-- threads race for one end\n");
    test_threads_race_for_an_end();
    return harness_finish();
}
