/*
 * test_loading.c - libshm loaded with dlopen() into a host, the way Python
 * and plugin hosts load it. This program is not linked with libshm: each
 * case runs in a child that dlopen()s build/libshm.so itself.
 *
 *   - Static TLS: glibc keeps a small surplus of static TLS for all the
 *     dlopen()ed libraries that need it (about 1.5 KB), and the Go runtime
 *     makes libshm one of them. With the surplus nearly used up by other
 *     libraries (copies of tls_filler.so), libshm must still load.
 *   - sigwait() hosts: SIGINT and SIGTERM blocked before or after the
 *     dlopen(), taken with sigwait(): all SIGWAIT_SIGNALS arrive.
 */
#include <dlfcn.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "sigwait.h"

/* build/c, where this program and tls_filler.so are; libshm.so is in its
 * parent. */
static char here[PATH_MAX];

static void *load_libshm(void)
{
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/../libshm.so", here);
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (h == NULL)
        printf("dlopen libshm: %s\n", dlerror());
    return h;
}

/* ----------------------------------------------------------- static TLS */

/* Copies tls_filler.so to dir/filler-N.so (a copy, not a link: glibc
 * loads a file it already has only once). */
static int copy_filler(const char *dir, int n, char *out, size_t len)
{
    char src[PATH_MAX + 32];
    snprintf(src, sizeof src, "%s/tls_filler.so", here);
    snprintf(out, len, "%s/filler-%d.so", dir, n);
    int in = open(src, O_RDONLY | O_CLOEXEC);
    int to = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0700);
    char buf[65536];
    ssize_t r;
    int ok = in >= 0 && to >= 0;
    while (ok && (r = read(in, buf, sizeof buf)) > 0)
        ok = write(to, buf, (size_t)r) == r;
    if (in >= 0)
        close(in);
    if (to >= 0)
        close(to);
    return ok ? 0 : -1;
}

/* The most copies that load: stops at the first that fails for want of
 * static TLS (or at cap). */
#define FILLER_CAP 400

static int load_fillers(const char *dir, int count, int report)
{
    for (int i = 0; i < count; i++) {
        char path[PATH_MAX];
        if (copy_filler(dir, i, path, sizeof path) != 0)
            return -1;
        if (dlopen(path, RTLD_NOW | RTLD_LOCAL) == NULL) {
            const char *why = dlerror();
            if (report && strstr(why, "static TLS") == NULL)
                printf("dlopen %s: %s (want a static TLS failure)\n", path, why);
            return i;
        }
    }
    return count;
}

/* In a child: how many fillers fit (its exit status). */
static int fillers_that_fit(const char *dir)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0)
        _exit(load_fillers(dir, FILLER_CAP, 1));
    int status = harness_wait(pid);
    return status != -1 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void test_static_tls(void)
{
    char dir[] = "/tmp/libshm-loading-XXXXXX";
    if (!CHECK(mkdtemp(dir) != NULL))
        return;
    int fit = fillers_that_fit(dir);
    /* Each copy takes 64 bytes: one copy fewer than fit leaves between 64
     * and 128 bytes (plus alignment) of the surplus: libshm's TLS must fit
     * in that; its old 520 bytes did not. */
    CHECKF(fit > 1 && fit < FILLER_CAP, "%d copies of tls_filler.so fit in static TLS", fit);
    if (fit > 1 && fit < FILLER_CAP) {
        fflush(stdout);
        pid_t pid = fork();
        if (pid == 0) {
            harness_child_begin("[after fillers] ");
            if (CHECK_INT(load_fillers(dir, fit - 1, 1), fit - 1)) {
                void *h = load_libshm();
                if (CHECK(h != NULL)) {
                    /* And it works: a failing call leaves its message. */
                    sigwait_stat_fn stat = (sigwait_stat_fn)dlsym(h, "shmlib_stat");
                    int (*last)(char *, size_t) = (int (*)(char *, size_t))dlsym(h, "shmlib_last_error");
                    shmlib_stat_t st;
                    char msg[512];
                    if (CHECK(stat != NULL && last != NULL)) {
                        CHECK_INT(stat("posix:/libshm-loading-no-such", &st), SHMLIB_ENOENT);
                        CHECK_INT(last(msg, sizeof msg), 0);
                        CHECKF(strstr(msg, "no such segment") != NULL, "last error \"%s\"", msg);
                    }
                }
            }
            harness_child_exit();
        }
        CHECK_EXIT_OK(harness_wait(pid), "libshm after fillers");
    }
    for (int i = 0; i <= FILLER_CAP; i++) {
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/filler-%d.so", dir, i);
        if (unlink(path) != 0)
            break;
    }
    CHECK(rmdir(dir) == 0);
}

/* ------------------------------------------------------- sigwait() hosts */

static void sigwait_case(int block_before)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        harness_child_begin(block_before ? "[blocked before dlopen] " : "[blocked after dlopen] ");
        if (block_before)
            sigwait_mask(SIG_BLOCK);
        void *h = load_libshm();
        if (!block_before)
            sigwait_mask(SIG_BLOCK);
        sigwait_stat_fn stat = h != NULL ? (sigwait_stat_fn)dlsym(h, "shmlib_stat") : NULL;
        if (CHECK(stat != NULL))
            CHECK_INT(sigwait_receive(stat), SIGWAIT_SIGNALS);
        harness_child_exit();
    }
    CHECK_EXIT_OK(harness_wait(pid), block_before ? "sigwait host, blocked before dlopen"
                                                  : "sigwait host, blocked after dlopen");
}

int main(void)
{
    ssize_t n = readlink("/proc/self/exe", here, sizeof here - 1);
    if (n <= 0)
        return 2;
    here[n] = '\0';
    *strrchr(here, '/') = '\0';

    test_static_tls();
    sigwait_case(1);
    sigwait_case(0);
    return harness_finish();
}
