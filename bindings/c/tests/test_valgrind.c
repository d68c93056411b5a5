/*
 * test_valgrind.c - a program that uses libshm runs clean under valgrind's
 * memcheck with the suppressions libshm ships (bindings/c/libshm.supp):
 * no error, no definite or possible leak. The program is this one again
 * (--use), making calls of every kind from two threads.
 */
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

static void *use(void *arg)
{
    const char *backend = arg;
    char key[SHMLIB_KEY_MAX], chan_key[SHMLIB_KEY_MAX], msg[512];
    void *addr;
    shmlib_stat_t st;
    if (shmlib_create(backend, 8192, 0, 0, key, sizeof key) != 0)
        return (void *)1;
    int bad = shmlib_attach(key, NULL, 0, &addr, NULL) != 0;
    if (!bad) {
        memset(addr, 7, 8192);
        bad |= shmlib_detach(addr) != 0;
    }
    bad |= shmlib_stat(key, &st) != 0;
    bad |= shmlib_destroy(key) != 0;
    bad |= shmlib_stat(key, &st) != SHMLIB_ENOENT;
    bad |= shmlib_last_error(msg, sizeof msg) != 0;

    shmlib_chan_t p, c;
    if (shmlib_chan_create(backend, 4096, 0, 0, chan_key, sizeof chan_key) != 0)
        return (void *)1;
    bad |= shmlib_chan_open(chan_key, SHMLIB_CHAN_PRODUCER, &p) != 0;
    bad |= shmlib_chan_open(chan_key, SHMLIB_CHAN_CONSUMER, &c) != 0;
    size_t n;
    bad |= shmlib_chan_send(p, "hello", 5, 0) != 0;
    bad |= shmlib_chan_recv(c, msg, sizeof msg, &n, 1000000000) != 0 || n != 5;
    bad |= shmlib_chan_close(p) != 0 || shmlib_chan_close(c) != 0;
    bad |= shmlib_destroy(chan_key) != 0;
    return (void *)(intptr_t)bad;
}

static int role_use(void)
{
    pthread_t t[2];
    void *bad[2];
    pthread_create(&t[0], NULL, use, (void *)"posix:");
    pthread_create(&t[1], NULL, use, (void *)"memfd:");
    pthread_join(t[0], &bad[0]);
    pthread_join(t[1], &bad[1]);
    return bad[0] != NULL || bad[1] != NULL ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--use") == 0)
        return role_use();

    if (system("valgrind --version >/dev/null 2>&1") != 0) {
        /* Not a skip: CI installs valgrind (.ci/run). */
        harness_fail(__FILE__, __LINE__, "valgrind is not installed (apt-get install valgrind)");
        return harness_finish();
    }
    char exe[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (!CHECK(len > 0))
        return harness_finish();
    exe[len] = '\0';
    char dir[PATH_MAX];
    memcpy(dir, exe, (size_t)len + 1);
    *strrchr(dir, '/') = '\0';
    char cmd[3 * PATH_MAX];
    /* build/c/test_valgrind -> bindings/c/libshm.supp */
    snprintf(cmd, sizeof cmd,
             "valgrind -q --leak-check=full --errors-for-leak-kinds=definite,possible "
             "--error-exitcode=9 --suppressions='%s/../../bindings/c/libshm.supp' '%s' --use",
             dir, exe);
    fflush(stdout);
    int status = system(cmd);
    CHECK_EXIT_OK(status, "valgrind --suppressions=libshm.supp test_valgrind --use");
    return harness_finish();
}
