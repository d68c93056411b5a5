/*
 * harness.h - the few checks the C tests of libshm share.
 *
 * A failed check prints "FAIL file:line: ..." and the test goes on, so one
 * run shows every failure. harness_finish() prints the closing line
 * "N passed, N failed" and gives the exit status.
 *
 * Checks may run on several threads at once (the counters are atomic and
 * each failure is printed with one stdio call), and in forked children,
 * which report through their exit status (harness_child_exit).
 */
#ifndef LIBSHM_TEST_HARNESS_H
#define LIBSHM_TEST_HARNESS_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "shmlib.h"
#include "abi.h"

static int harness_passed;
static int harness_failed;
/* Printed in front of failures of a child process, e.g. "[nobody] ". */
static const char *harness_role = "";

static inline void harness_pass(void)
{
    __atomic_fetch_add(&harness_passed, 1, __ATOMIC_RELAXED);
}

static inline void harness_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static inline void harness_fail(const char *file, int line, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    __atomic_fetch_add(&harness_failed, 1, __ATOMIC_RELAXED);
    printf("FAIL %s%s:%d: %s\n", harness_role, file, line, msg);
    fflush(stdout);
}

/* The SHMLIB_* name of a return code, for failure messages. */
static inline const char *harness_code_name(int rc)
{
    const char *name = abi_code_name(rc);
    return name != NULL ? name : "(not a libshm code)";
}

/* The calling thread's last libshm error message, in a per-thread buffer. */
static inline const char *harness_last_error(void)
{
    static __thread char buf[1024];
    if (shmlib_last_error(buf, sizeof buf) < 0 && buf[0] == '\0')
        snprintf(buf, sizeof buf, "(shmlib_last_error failed)");
    return buf;
}

static inline int harness_check(int ok, const char *file, int line, const char *expr)
{
    if (ok)
        harness_pass();
    else
        harness_fail(file, line, "%s", expr);
    return ok;
}

static inline int harness_check_rc(int rc, int want, const char *file, int line, const char *expr)
{
    if (rc == want) {
        harness_pass();
        return 1;
    }
    harness_fail(file, line, "%s returned %d %s, want %d %s; last error: \"%s\"", expr, rc,
                 harness_code_name(rc), want, harness_code_name(want), harness_last_error());
    return 0;
}

static inline int harness_check_int(long long got, long long want, const char *file, int line,
                                    const char *expr)
{
    if (got == want) {
        harness_pass();
        return 1;
    }
    harness_fail(file, line, "%s is %lld (0x%llx), want %lld (0x%llx)", expr, got,
                 (unsigned long long)got, want, (unsigned long long)want);
    return 0;
}

static inline int harness_check_str(const char *got, const char *want, const char *file, int line,
                                    const char *expr)
{
    if (got != NULL && want != NULL && strcmp(got, want) == 0) {
        harness_pass();
        return 1;
    }
    harness_fail(file, line, "%s is \"%s\", want \"%s\"", expr, got ? got : "(null)",
                 want ? want : "(null)");
    return 0;
}

/* Each evaluates its arguments once and gives 1 if the check passed. */
#define CHECK(cond) harness_check((cond) != 0, __FILE__, __LINE__, #cond)
/* CHECK with a message of its own, printed on failure. */
#define CHECKF(cond, ...) \
    ((cond) ? (harness_pass(), 1) : (harness_fail(__FILE__, __LINE__, __VA_ARGS__), 0))
/* A libshm call returned `want`; on failure shows both codes and the last error. */
#define CHECK_RC(call, want) harness_check_rc((call), (want), __FILE__, __LINE__, #call)
#define CHECK_INT(got, want) \
    harness_check_int((long long)(got), (long long)(want), __FILE__, __LINE__, #got)
#define CHECK_STR(got, want) harness_check_str((got), (want), __FILE__, __LINE__, #got)

/* Prints the closing line; the return value is main's exit status. */
static inline int harness_finish(void)
{
    printf("%d passed, %d failed\n", harness_passed, harness_failed);
    fflush(stdout);
    return harness_failed == 0 ? 0 : 1;
}

/* A test of a table that harness_run runs: HARNESS_TEST(test_attach). */
struct harness_test {
    const char *name;
    void (*run)(void);
};
#define HARNESS_TEST(fn) {#fn, fn}

/* Runs the tests named in argv[1..], or all when none is, each after a
 * "-- NAME" line and followed by after(NAME) unless it is NULL; returns
 * harness_finish(). */
static inline int harness_run_each(const struct harness_test *tests, size_t n, int argc, char **argv,
                                   void (*after)(const char *name))
{
    for (size_t i = 0; i < n; i++) {
        int wanted = argc < 2;
        for (int a = 1; a < argc && !wanted; a++)
            wanted = strcmp(argv[a], tests[i].name) == 0;
        if (!wanted)
            continue;
        printf("-- %s\n", tests[i].name);
        fflush(stdout);
        tests[i].run();
        if (after != NULL)
            after(tests[i].name);
    }
    return harness_finish();
}

static inline int harness_run(const struct harness_test *tests, size_t n, int argc, char **argv)
{
    return harness_run_each(tests, n, argc, argv, NULL);
}

/* Starts the checks of a forked child: it inherited the parent's counters,
 * but its exit status must tell only of its own failures. */
static inline void harness_child_begin(const char *role)
{
    harness_passed = 0;
    harness_failed = 0;
    harness_role = role;
}

/* Ends a forked or exec'd child: its failures were printed already, its exit
 * status tells the parent whether there were any. _exit, because a forked
 * child must not run the parent's atexit handlers or flush its stdio twice. */
static inline __attribute__((noreturn)) void harness_child_exit(void)
{
    fflush(stdout);
    _exit(harness_failed == 0 ? 0 : 1);
}

/* Waits for pid; returns its wait status, or -1. */
static inline int harness_wait(pid_t pid)
{
    int status;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR)
            return -1;
    }
    return status;
}

/*
 * Runs this same program again in a new process, as
 * "/proc/self/exe ROLE ARG...", and returns its wait status (-1 if it could
 * not be started). argv is NULL-terminated and starts with the role. This is
 * how the tests get a peer process that may use libshm: a child forked
 * without exec may not (SHMLIB_EFORKED).
 */
static inline int harness_run_self(char *const argv[])
{
    char *args[16];
    size_t n = 0;
    args[n++] = (char *)"/proc/self/exe";
    for (size_t i = 0; argv[i] != NULL && n < 15; i++)
        args[n++] = argv[i];
    args[n] = NULL;

    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        execv(args[0], args);
        _exit(127);
    }
    return harness_wait(pid);
}

/* Is this wait status (of harness_wait or harness_run_self) a clean exit 0? */
static inline int harness_check_exit_ok(int status, const char *what, const char *file, int line)
{
    if (status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        harness_pass();
        return 1;
    }
    harness_fail(file, line, "%s: wait status 0x%x (exit %d, signal %d)", what, (unsigned)status,
                 status != -1 && WIFEXITED(status) ? WEXITSTATUS(status) : -1,
                 status != -1 && WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    return 0;
}

#define CHECK_EXIT_OK(status, what) harness_check_exit_ok((status), (what), __FILE__, __LINE__)

/*
 * What exists in the kernel, for the leak checks: the names in /dev/shm, and
 * the System V segments a process created. The kernel records no creator of
 * a /dev/shm file, so names are told apart by their prefix; a System V
 * segment's creator is the cpid column of /proc/sysvipc/shm.
 *
 * Each lists at most `max` entries (SIZE_MAX: all) in a malloc'd array and
 * stores their number in *n; an empty list, or one that cannot be read, is
 * NULL with *n = 0. Free the names with harness_names_free, the ids with free.
 */

/* The names in /dev/shm that start with name_prefix ("" for all), without
 * "." and "..", in directory order. */
static inline char **harness_devshm_names(const char *name_prefix, size_t max, size_t *n)
{
    char **names = NULL;
    *n = 0;
    DIR *d = opendir("/dev/shm");
    if (d == NULL)
        return NULL;
    struct dirent *e;
    while (*n < max && (e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 ||
            strncmp(e->d_name, name_prefix, strlen(name_prefix)) != 0)
            continue;
        char *name = strdup(e->d_name);
        char **more = name != NULL ? realloc(names, (*n + 1) * sizeof *names) : NULL;
        if (more == NULL) {
            free(name);
            break;
        }
        names = more;
        names[(*n)++] = name;
    }
    closedir(d);
    return names;
}

static inline void harness_names_free(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

/* The shmids of the System V segments that process cpid created. */
static inline int *harness_sysv_ids_created_by(pid_t cpid, size_t max, size_t *n)
{
    int *ids = NULL;
    *n = 0;
    FILE *f = fopen("/proc/sysvipc/shm", "r");
    if (f == NULL)
        return NULL;
    char line[512];
    int key, id, creator;
    unsigned perms;
    unsigned long long size;
    /* Columns: key shmid perms size cpid ...; the heading does not scan. */
    while (*n < max && fgets(line, sizeof line, f) != NULL) {
        if (sscanf(line, "%d %d %o %llu %d", &key, &id, &perms, &size, &creator) != 5 ||
            creator != cpid)
            continue;
        int *more = realloc(ids, (*n + 1) * sizeof *ids);
        if (more == NULL)
            break;
        ids = more;
        ids[(*n)++] = id;
    }
    fclose(f);
    return ids;
}

/* splitmix64: the next value of a generator whose state is *state. The
 * stress programs draw their random numbers from it too (stress_rand). */
static inline uint64_t harness_mix(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/*
 * The byte patterns that the tests and the stress programs write into
 * segments and messages and check from other mappings and processes: the
 * bytes of pattern `tag` follow from the tag alone, and differ from every
 * other tag's, so data delivered twice, out of order, shifted or torn
 * shows. Made 8 bytes at a time.
 */
static inline uint64_t harness_pattern_word(uint64_t tag, size_t w)
{
    uint64_t s = tag * 0x100000001b3ull + (uint64_t)w;
    return harness_mix(&s);
}

/* Byte i of pattern `tag`. */
static inline unsigned char harness_pattern(uint64_t tag, size_t i)
{
    return (unsigned char)(harness_pattern_word(tag, i / 8) >> (8 * (i % 8)));
}

static inline void harness_fill(void *p, size_t len, uint64_t tag)
{
    unsigned char *b = p;
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t v = harness_pattern_word(tag, i / 8);
        for (int k = 0; k < 8; k++)
            b[i + (size_t)k] = (unsigned char)(v >> (8 * k));
    }
    for (; i < len; i++)
        b[i] = harness_pattern(tag, i);
}

/* The offset of the first byte that differs from pattern `tag`, or len. */
static inline size_t harness_verify(const void *p, size_t len, uint64_t tag)
{
    const unsigned char *b = p;
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t v = harness_pattern_word(tag, i / 8);
        for (int k = 0; k < 8; k++)
            if (b[i + (size_t)k] != (unsigned char)(v >> (8 * k)))
                return i + (size_t)k;
    }
    for (; i < len; i++)
        if (b[i] != harness_pattern(tag, i))
            return i;
    return len;
}

/* The number of descriptors this process has open, -1 if /proc cannot
 * tell: compared before and after, it shows a leaked descriptor. */
static inline int harness_count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (d == NULL)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n - 1; /* the directory's own descriptor */
}

/* Truncates the /dev/shm file behind a posix: key to 0, as a careless or
 * hostile peer can: the pages go, the mappings stay. 1 on success. */
static inline int harness_truncate_posix(const char *key)
{
    char path[SHMLIB_KEY_MAX + 16];
    snprintf(path, sizeof path, "/dev/shm/%s", key + strlen("posix:/"));
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return 0;
    int ok = ftruncate(fd, 0) == 0;
    close(fd);
    return ok;
}

#endif /* LIBSHM_TEST_HARNESS_H */
