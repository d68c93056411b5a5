/*
 * test_environment.c - the host's Go settings are not the library's.
 *
 *   - GOGC=off (and a tiny GOMEMLIMIT), set for some other Go program: a
 *     process making many failing calls keeps a bounded heap.
 *   - GODEBUG=gctrace=1,inittrace=1: the runtime inside libshm writes
 *     nothing to the host's stderr, and the host still sees its GODEBUG.
 *
 * Each case runs this program again with the variables set, its stderr
 * going to a file this process reads afterwards.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

#define WARM_CALLS 20000
#define CALLS 300000

static long rss_kib(void)
{
    char line[256];
    long kib = -1;
    FILE *f = fopen("/proc/self/status", "r");
    while (f != NULL && fgets(line, sizeof line, f) != NULL)
        sscanf(line, "VmRSS: %ld kB", &kib);
    if (f != NULL)
        fclose(f);
    return kib;
}

static void failing_calls(int n)
{
    shmlib_stat_t st;
    for (int i = 0; i < n; i++)
        shmlib_stat("posix:/libshm-environment-no-such-segment", &st);
}

/* Role --calls: after a warm-up, CALLS failing calls may not grow RSS by
 * more than a few MiB (unbounded, they grew it by about 200 B each). */
static int role_calls(void)
{
    harness_child_begin("[calls] ");
    failing_calls(WARM_CALLS);
    long before = rss_kib();
    failing_calls(CALLS);
    long grown = rss_kib() - before;
    CHECKF(before > 0 && grown < 8 * 1024, "RSS grew by %ld KiB over %d failing calls (GOGC=%s)", grown,
           CALLS, getenv("GOGC"));
    harness_child_exit();
}

/* Role --godebug: calls that collect garbage; the host's GODEBUG intact. */
static int role_godebug(void)
{
    harness_child_begin("[godebug] ");
    failing_calls(WARM_CALLS);
    const char *v = getenv("GODEBUG");
    CHECK_STR(v != NULL ? v : "(unset)", "gctrace=1,inittrace=1");
    harness_child_exit();
}

/* Runs role with the variables of env ("NAME=VALUE" ..., NULL) set and its
 * stderr in a file; returns what it wrote there (malloc'ed), or NULL. */
static char *run_with_env(const char *role, const char *const env[], int *status)
{
    char path[] = "/tmp/libshm-environment-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0)
        return NULL;
    unlink(path);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        for (int i = 0; env[i] != NULL; i++)
            putenv((char *)env[i]);
        dup2(fd, 2);
        execl("/proc/self/exe", "test_environment", role, (char *)NULL);
        _exit(127);
    }
    *status = pid > 0 ? harness_wait(pid) : -1;
    struct stat st;
    char *text = NULL;
    if (fstat(fd, &st) == 0 && (text = calloc(1, (size_t)st.st_size + 1)) != NULL)
        if (pread(fd, text, (size_t)st.st_size, 0) != st.st_size)
            text[0] = '\0';
    close(fd);
    return text;
}

static void test_gogc_off(void)
{
    int status;
    const char *const env[] = {"GOGC=off", NULL};
    free(run_with_env("--calls", env, &status));
    CHECK_EXIT_OK(status, "failing calls with GOGC=off");
    const char *const limit[] = {"GOGC=off", "GOMEMLIMIT=1", NULL};
    free(run_with_env("--calls", limit, &status));
    CHECK_EXIT_OK(status, "failing calls with GOGC=off GOMEMLIMIT=1");
}

static void test_godebug_quiet(void)
{
    int status;
    const char *const env[] = {"GODEBUG=gctrace=1,inittrace=1", NULL};
    char *err = run_with_env("--godebug", env, &status);
    CHECK_EXIT_OK(status, "calls with GODEBUG=gctrace=1,inittrace=1");
    if (CHECK(err != NULL))
        CHECKF(err[0] == '\0', "the library wrote to stderr: \"%.300s\"", err);
    free(err);
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--calls") == 0)
        return role_calls();
    if (argc == 2 && strcmp(argv[1], "--godebug") == 0)
        return role_godebug();
    test_gogc_off();
    test_godebug_quiet();
    return harness_finish();
}
