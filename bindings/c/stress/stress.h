/*
 * stress.h - what the stress programs of libshm share, on top of the C
 * tests' harness (checks, "N passed, N failed", exit status).
 *
 *   - clocks, a seeded PRNG (splitmix64), waiting for a child with a timeout;
 *   - isolation: run as root, each program re-executes itself in a private
 *     IPC namespace with a private tmpfs on /dev/shm, so that it sees only
 *     its own segments (its random keys can never reach another program's)
 *     and nothing it makes can outlive it; --no-isolate runs on the real
 *     /dev/shm and System V table instead;
 *   - the leak check: the segments of this run that still exist at the end
 *     (in isolation: every segment there is), and the mappings and file
 *     descriptors this process still holds.
 */
#ifndef LIBSHM_STRESS_H
#define LIBSHM_STRESS_H

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <sys/ipc.h>
#include <sys/mount.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <time.h>

#include "../tests/harness.h"

/* ----------------------------------------------------------------- clocks */

static inline int64_t stress_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline void stress_sleep_ns(int64_t ns)
{
    struct timespec ts = {(time_t)(ns / 1000000000), (long)(ns % 1000000000)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* ------------------------------------------------------------------- PRNG */

/* splitmix64 (harness_mix): tiny, fast, and every seed gives a good stream. */
static inline uint64_t stress_rand(uint64_t *state) { return harness_mix(state); }

/* Uniform in [0, n); n > 0. */
static inline uint64_t stress_below(uint64_t *state, uint64_t n)
{
    return stress_rand(state) % n;
}

/* A seed from the clock and the pid, for runs that were given none. */
static inline uint64_t stress_fresh_seed(void)
{
    uint64_t s = (uint64_t)stress_now_ns() ^ ((uint64_t)getpid() << 32);
    return stress_rand(&s);
}

/* The byte patterns (harness_pattern, harness_fill, harness_verify) are
 * the tests' own, in ../tests/harness.h. */

/* FNV-1a, 64 bits: the checksum of messages and regions. */
static inline uint64_t stress_fnv(const void *p, size_t len)
{
    const unsigned char *b = p;
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < len; i++)
        h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

/* ------------------------------------------------------------ processes */

/*
 * Waits up to timeout_ns for pid to end. Returns 0 with *status set, or 1 if
 * it did not end in time: it is then killed with SIGKILL and reaped (its
 * status is in *status too), and the caller counts a hang.
 */
static inline int stress_wait_timeout(pid_t pid, int64_t timeout_ns, int *status)
{
    int64_t deadline = stress_now_ns() + timeout_ns;
    int64_t nap = 20000; /* 20 us, doubling up to 5 ms */
    for (;;) {
        pid_t r = waitpid(pid, status, WNOHANG);
        if (r == pid)
            return 0;
        if (r < 0 && errno != EINTR) {
            *status = -1;
            return 0;
        }
        if (stress_now_ns() >= deadline)
            break;
        stress_sleep_ns(nap);
        if (nap < 5000000)
            nap *= 2;
    }
    kill(pid, SIGKILL);
    while (waitpid(pid, status, 0) < 0 && errno == EINTR) {
    }
    return 1;
}

/* ------------------------------------------------------------- isolation */

#define STRESS_ISOLATED_ENV "LIBSHM_STRESS_ISOLATED"

/* Is this process running in the private namespaces stress_isolate made? */
static inline int stress_isolated(void)
{
    const char *v = getenv(STRESS_ISOLATED_ENV);
    return v != NULL && strcmp(v, "1") == 0;
}

static inline void stress_write_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd >= 0) {
        ssize_t n = write(fd, text, strlen(text));
        (void)n;
        close(fd);
    }
}

/*
 * Runs the program in private namespaces, if it can: a forked child (single
 * threaded, so unshare works; it makes no libshm call) enters a new IPC and
 * mount namespace, mounts a tmpfs of tmpfs_size on /dev/shm, caps System V
 * segments at shmmax bytes, and execs /proc/self/exe with the same
 * arguments. This process then only waits and exits with its status.
 *
 * Returns (in the process that should run the test) when already isolated,
 * when argv holds "--no-isolate" (which is then removed from argv), when
 * not root, or when the namespaces cannot be made (said on stdout).
 */
static inline void stress_isolate(int *argc, char **argv, const char *tmpfs_size,
                                  unsigned long long shmmax)
{
    int no = 0;
    for (int i = 1; i < *argc; i++) {
        if (strcmp(argv[i], "--no-isolate") == 0) {
            no = 1;
            for (int j = i; j < *argc; j++)
                argv[j] = argv[j + 1];
            (*argc)--;
            i--;
        }
    }
    if (stress_isolated())
        return;
    if (no || geteuid() != 0) {
        printf("isolation: off (%s): running on the real /dev/shm and System V table\n",
               no ? "--no-isolate" : "not root");
        return;
    }
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        printf("isolation: fork failed (%s); running unisolated\n", strerror(errno));
        return;
    }
    if (pid == 0) {
        if (unshare(CLONE_NEWIPC | CLONE_NEWNS) != 0)
            _exit(99);
        if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
            _exit(99);
        char opts[64];
        snprintf(opts, sizeof opts, "size=%s,mode=1777", tmpfs_size);
        if (mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, opts) != 0)
            _exit(99);
        char num[32];
        snprintf(num, sizeof num, "%llu", shmmax);
        stress_write_file("/proc/sys/kernel/shmmax", num);
        snprintf(num, sizeof num, "%llu", 4 * shmmax / 4096); /* shmall, in pages */
        stress_write_file("/proc/sys/kernel/shmall", num);
        setenv(STRESS_ISOLATED_ENV, "1", 1);
        execv("/proc/self/exe", argv);
        _exit(98);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            printf("isolation: waitpid: %s\n", strerror(errno));
            exit(1);
        }
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 99) {
        printf("isolation: cannot make private namespaces here; running on the real /dev/shm\n");
        fflush(stdout);
        return;
    }
    if (WIFEXITED(status))
        exit(WEXITSTATUS(status));
    printf("FAIL %s: the isolated run was killed by signal %d%s\n", argv[0],
           WIFSIGNALED(status) ? WTERMSIG(status) : 0,
           WIFSIGNALED(status) && WCOREDUMP(status) ? " (core dumped)" : "");
    printf("0 passed, 1 failed\n");
    exit(1);
}

/* A line saying where the run happens, for the top of the output. */
static inline void stress_say_where(void)
{
    if (stress_isolated())
        printf("isolation: private IPC and mount namespaces, private tmpfs on /dev/shm\n");
}

/* ------------------------------------------------------------ leak check */

/*
 * Whose segments count as this run's: in isolation, every one there is;
 * otherwise POSIX names that start with `prefix` and System V segments
 * whose creator pid is this process or one of `pids`.
 */
struct stress_owner {
    const char *prefix;
    const pid_t *pids;
    size_t npids;
};

static inline int stress_owner_pid(const struct stress_owner *o, int cpid)
{
    if (cpid == getpid())
        return 1;
    for (size_t i = 0; i < o->npids; i++)
        if (o->pids[i] == cpid)
            return 1;
    return 0;
}

/*
 * Fails for each segment of this run that still exists and removes it (with
 * the raw system calls, not libshm). Returns how many there were.
 */
static inline int stress_check_no_segments(const struct stress_owner *o, const char *when)
{
    int all = stress_isolated();
    int found = 0;
    DIR *d = opendir("/dev/shm");
    if (d != NULL) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            if (!all && (o->prefix == NULL || strncmp(e->d_name, o->prefix, strlen(o->prefix)) != 0))
                continue;
            found++;
            char path[PATH_MAX];
            snprintf(path, sizeof path, "/dev/shm/%s", e->d_name);
            unlink(path);
            harness_fail(__FILE__, __LINE__, "%s: leaked posix:/%s (removed)", when, e->d_name);
        }
        closedir(d);
    }
    FILE *f = fopen("/proc/sysvipc/shm", "r");
    if (f != NULL) {
        char line[512];
        int key, id, cpid, lpid;
        unsigned perms;
        unsigned long long size, nattch;
        /* Columns: key shmid perms size cpid lpid nattch ...; the heading does not scan. */
        while (fgets(line, sizeof line, f) != NULL) {
            if (sscanf(line, "%d %d %o %llu %d %d %llu", &key, &id, &perms, &size, &cpid, &lpid,
                       &nattch) != 7)
                continue;
            if (!all && !stress_owner_pid(o, cpid))
                continue;
            found++;
            shmctl(id, IPC_RMID, NULL);
            harness_fail(__FILE__, __LINE__,
                         "%s: leaked sysv:id=%d (key 0x%08x, %llu bytes, creator pid %d, %llu attached%s) (removed)",
                         when, id, (unsigned)key, size, cpid, nattch,
                         (perms & 01000) ? ", destroyed but still attached" : "");
        }
        fclose(f);
    }
    if (found == 0)
        harness_pass();
    return found;
}

/* How many shared memory mappings this process has: /dev/shm files and
 * System V segments in /proc/self/maps. */
static inline int stress_count_shm_mappings(void)
{
    FILE *f = fopen("/proc/self/maps", "r");
    if (f == NULL)
        return -1;
    char line[1024];
    int n = 0;
    while (fgets(line, sizeof line, f) != NULL)
        if (strstr(line, " /dev/shm/") != NULL || strstr(line, " /SYSV") != NULL)
            n++;
    fclose(f);
    return n;
}

/* Prints what each open descriptor is, for a failed descriptor count. */
static inline void stress_show_fds(const char *when)
{
    DIR *d = opendir("/proc/self/fd");
    if (d == NULL)
        return;
    printf("%s: open descriptors:", when);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char path[PATH_MAX], target[PATH_MAX];
        snprintf(path, sizeof path, "/proc/self/fd/%s", e->d_name);
        ssize_t n = readlink(path, target, sizeof target - 1);
        target[n < 0 ? 0 : n] = '\0';
        printf(" %s->%s", e->d_name, target);
    }
    printf("\n");
    closedir(d);
}

/* Parses a count argument ("1000", "10k", "1M"). */
static inline long stress_parse_count(const char *s)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*end == 'k' || *end == 'K')
        v *= 1000;
    else if (*end == 'M' || *end == 'm')
        v *= 1000000;
    return v;
}

#endif /* LIBSHM_STRESS_H */
