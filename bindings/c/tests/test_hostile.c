/*
 * test_hostile.c - what anyone on the machine, or an unlucky day, can do to
 * a process using libshm: plant a FIFO in the world-writable /dev/shm, pick
 * names with control bytes, ask for more memory than there is (in the
 * machine, or in a small memory cgroup), truncate a segment under a call.
 * Every one of them is an error code with a one-line message that says
 * what happened; nothing blocks, crashes or is left behind.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

#define MiB (1024ULL * 1024)

/* Is the message one line of printable text? */
static int one_line(const char *msg)
{
    for (const unsigned char *p = (const unsigned char *)msg; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return 0;
    return 1;
}

static void last_error_says(const char *what)
{
    const char *msg = harness_last_error();
    CHECKF(strstr(msg, what) != NULL, "last error \"%s\" does not say \"%s\"", msg, what);
    CHECKF(one_line(msg), "last error \"%s\" is not one line", msg);
}

/* A FIFO planted under a name: a read-only attach of it must not wait for
 * a writer, and destroy must leave it alone. alarm() turns a hang into a
 * failed run rather than a stuck one. */
static void test_planted_fifo(void)
{
    char key[64], path[96];
    snprintf(key, sizeof key, "posix:/libshm-hostile-%d-fifo", (int)getpid());
    snprintf(path, sizeof path, "/dev/shm/%s", key + strlen("posix:/"));
    if (!CHECK(mkfifo(path, 0666) == 0))
        return;
    void *addr = NULL;
    shmlib_stat_t st;
    alarm(20);
    CHECK_RC(shmlib_attach(key, NULL, SHMLIB_RDONLY, &addr, NULL), SHMLIB_EINVAL);
    last_error_says("FIFO");
    CHECK_RC(shmlib_chan_open(key, SHMLIB_CHAN_CONSUMER, &(shmlib_chan_t){0}), SHMLIB_EINVAL);
    last_error_says("FIFO");
    CHECK_RC(shmlib_stat(key, &st), SHMLIB_EINVAL);
    last_error_says("FIFO");
    CHECK_RC(shmlib_destroy(key), SHMLIB_EINVAL);
    last_error_says("FIFO");
    alarm(0);
    struct stat sb;
    CHECKF(lstat(path, &sb) == 0 && S_ISFIFO(sb.st_mode), "destroy removed the planted FIFO");
    unlink(path);
}

/* Names with control bytes work, and every message about them stays one
 * line, the name quoted. */
static void test_control_bytes(void)
{
    static const char *const bad[] = {"a\nb", "a\rb", "\x1b[2J", "\xff"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char key[96], got[SHMLIB_KEY_MAX];
        void *addr;
        snprintf(key, sizeof key, "posix:/libshm-hostile-%d-%s", (int)getpid(), bad[i]);
        CHECK_RC(shmlib_attach(key, NULL, 0, &addr, NULL), SHMLIB_ENOENT);
        last_error_says("\"posix:/libshm-hostile-");
        if (!CHECK_RC(shmlib_create(key, 4096, 0600, 0, got, sizeof got), 0))
            continue;
        CHECK_STR(got, key);
        CHECK_RC(shmlib_create(key, 4096, 0600, 0, NULL, 0), SHMLIB_EEXIST);
        last_error_says("\"posix:/libshm-hostile-");
        CHECK_RC(shmlib_destroy(key), 0);
        CHECK_RC(shmlib_destroy(key), SHMLIB_ENOENT);
        last_error_says("\"posix:/libshm-hostile-");
    }
}

/* MemAvailable from /proc/meminfo, in bytes; 0 if it cannot be read. */
static unsigned long long mem_available(void)
{
    FILE *f = fopen("/proc/meminfo", "re");
    char line[256];
    unsigned long long kb = 0;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1)
            break;
    if (f)
        fclose(f);
    return kb * 1024;
}

/* A memfd has no size limit of its own: the create must refuse what the
 * machine cannot back, before reserving anything (fallocate would set off
 * the machine's OOM killer). */
static void test_more_than_memory(void)
{
    char key[SHMLIB_KEY_MAX];
    unsigned long long avail = mem_available();
    if (avail == 0 || avail >= (1ULL << 50)) {
        printf("SKIP more than memory: MemAvailable is unknown, so a refusal cannot be told safely\n");
        return;
    }
    CHECK_RC(shmlib_create("memfd:", 1ULL << 50, 0600, 0, key, sizeof key), SHMLIB_ENOMEM);
    last_error_says("cannot be backed");
    last_error_says("MemAvailable");
    /* For a POSIX object, whichever is smaller of memory and the space of
     * /dev/shm is named. */
    CHECK_RC(shmlib_create("posix:", 1ULL << 50, 0600, 0, key, sizeof key), SHMLIB_ENOMEM);
    last_error_says("nothing was created");
}

/* Writes s to dir/name; 1 on success. */
static int write_file(const char *dir, const char *name, const char *s)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    int ok = write(fd, s, strlen(s)) == (ssize_t)strlen(s);
    return close(fd) == 0 && ok;
}

/* Makes a memory cgroup limited to `limit` bytes under this process's own
 * (v1, or v2 where its parent hands the memory controller down) in dir;
 * 0 and why if none can be made here. */
static int make_cgroup(char *dir, size_t n, unsigned long long limit, const char **why)
{
    FILE *f = fopen("/proc/self/cgroup", "re");
    char line[512], base[512] = "";
    const char *limit_file = NULL;
    *why = "no memory cgroup in /proc/self/cgroup";
    while (f && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        char *path = strchr(strchr(line, ':') + 1, ':') + 1;
        char control[600];
        if (strncmp(line, "0::", 3) == 0) {
            snprintf(base, sizeof base, "/sys/fs/cgroup%s", path);
            snprintf(control, sizeof control, "%s/cgroup.subtree_control", base);
            FILE *c = fopen(control, "re");
            char have[256] = "";
            if (c && fgets(have, sizeof have, c) && strstr(have, "memory")) {
                limit_file = "memory.max";
            } else if (write_file(base, "cgroup.subtree_control", "+memory")) {
                limit_file = "memory.max";
            } else {
                *why = "cgroup v2 without the memory controller for this process's children";
            }
            if (c)
                fclose(c);
        } else if (strstr(line, ":memory:") || strstr(line, ",memory:") || strstr(line, ":memory,")) {
            snprintf(base, sizeof base, "/sys/fs/cgroup/memory%s", path);
            limit_file = "memory.limit_in_bytes";
        }
        if (limit_file)
            break;
    }
    if (f)
        fclose(f);
    if (!limit_file)
        return 0;
    snprintf(dir, n, "%s/libshm-hostile-%d", base, (int)getpid());
    if (mkdir(dir, 0755) != 0) {
        *why = "mkdir of a child cgroup failed (needs root)";
        return 0;
    }
    char text[32];
    snprintf(text, sizeof text, "%llu", limit);
    if (!write_file(dir, limit_file, text)) {
        rmdir(dir);
        *why = "cannot set the child cgroup's memory limit";
        return 0;
    }
    return 1;
}

/* The child: joins the cgroup, then creates more than it allows. */
static int in_small_cgroup(const char *dir)
{
    harness_child_begin("[cgroup] ");
    char pid[16], key[SHMLIB_KEY_MAX];
    snprintf(pid, sizeof pid, "%d", (int)getpid());
    if (!CHECK(write_file(dir, "cgroup.procs", pid)))
        harness_child_exit();
    CHECK_RC(shmlib_create("memfd:", 128 * MiB, 0600, 0, key, sizeof key), SHMLIB_ENOMEM);
    last_error_says("memory cgroup");
    CHECK_RC(shmlib_chan_create("memfd:", 128 * MiB, 0600, 0, key, sizeof key), SHMLIB_ENOMEM);
    last_error_says("chan_create");
    last_error_says("memory cgroup");
    CHECK_RC(shmlib_chan_create("posix:", 128 * MiB, 0600, 0, key, sizeof key), SHMLIB_ENOMEM);
    last_error_says("memory cgroup");
    /* What fits is made. */
    if (CHECK_RC(shmlib_chan_create("memfd:", 16 * MiB, 0600, 0, key, sizeof key), 0))
        CHECK_RC(shmlib_destroy(key), 0);
    harness_child_exit();
}

static void test_small_cgroup(void)
{
    char dir[600];
    const char *why;
    if (geteuid() != 0) {
        printf("SKIP small cgroup: making a memory cgroup needs root\n");
        return;
    }
    if (!make_cgroup(dir, sizeof dir, 64 * MiB, &why)) {
        printf("SKIP small cgroup: %s\n", why);
        return;
    }
    int status = harness_run_self((char *[]){"cgroup", dir, NULL});
    CHECK_EXIT_OK(status, "creating past a 64 MiB memory cgroup");
    /* The cgroup goes once the kernel has seen its last process leave. */
    for (int i = 0; rmdir(dir) != 0 && i < 100; i++)
        usleep(10000);
    CHECKF(access(dir, F_OK) != 0, "the test cgroup %s could not be removed", dir);
}

/* A fault in memory of a segment that another process truncated is said
 * to be that, naming the segment; a bad pointer of the caller's is said to
 * be that. */
static void test_fault_blame(void)
{
    char key[SHMLIB_KEY_MAX], other[SHMLIB_KEY_MAX], chan[SHMLIB_KEY_MAX];
    void *addr;
    shmlib_chan_t tx;
    if (!CHECK_RC(shmlib_create("posix:", 8192, 0600, 0, key, sizeof key), 0))
        return;
    CHECK_RC(shmlib_create("posix:", 4096, 0600, 0, other, sizeof other), 0);
    CHECK_RC(shmlib_chan_create("posix:", 4096, 0600, 0, chan, sizeof chan), 0);
    if (CHECK_RC(shmlib_attach(key, NULL, 0, &addr, NULL), 0)) {
        CHECK(harness_truncate_posix(key));
        /* Out-parameters in the segment's memory, which is gone. */
        CHECK_RC(shmlib_stat(other, (shmlib_stat_t *)addr), SHMLIB_EFAULT);
        last_error_says(key);
        last_error_says("truncated");
        CHECK_RC(shmlib_attach(other, NULL, 0, (void **)addr, NULL), SHMLIB_EFAULT);
        last_error_says(key);
        CHECK_RC(shmlib_ftok("/", 1, (char *)addr + 100, 64), SHMLIB_EFAULT);
        last_error_says(key);
        if (CHECK_RC(shmlib_chan_open(chan, SHMLIB_CHAN_PRODUCER, &tx), 0)) {
            CHECK_RC(shmlib_chan_max_message(tx, (uint64_t *)addr), SHMLIB_EFAULT);
            last_error_says(key);
            CHECK_RC(shmlib_chan_close(tx), 0);
        }
        CHECK_RC(shmlib_detach(addr), 0);
    }
    /* A pointer of the caller's that cannot be accessed, high enough to
     * get past the C guards' check of the lowest page. */
    void *none = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (CHECK(none != MAP_FAILED)) {
        CHECK_RC(shmlib_stat(other, (shmlib_stat_t *)none), SHMLIB_EFAULT);
        last_error_says("a pointer argument");
        munmap(none, 4096);
    }
    /* A channel truncated under its ends: closing them still works. */
    if (CHECK_RC(shmlib_chan_open(chan, SHMLIB_CHAN_CONSUMER, &tx), 0)) {
        CHECK(harness_truncate_posix(chan));
        CHECK_RC(shmlib_chan_close(tx), 0);
    }
    CHECK_RC(shmlib_destroy(chan), 0);
    CHECK_RC(shmlib_destroy(other), 0);
    CHECK_RC(shmlib_destroy(key), 0);
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "cgroup") == 0)
        return in_small_cgroup(argv[2]);
    printf("-- a FIFO planted in /dev/shm\n");
    test_planted_fifo();
    printf("-- names with control bytes\n");
    test_control_bytes();
    printf("-- a fault in a truncated segment, and a bad pointer\n");
    test_fault_blame();
    printf("-- more than the machine's memory\n");
    test_more_than_memory();
    printf("-- more than a small memory cgroup allows\n");
    test_small_cgroup();
    return harness_finish();
}
