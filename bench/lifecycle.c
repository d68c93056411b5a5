/*
 * bench/lifecycle.c - libshm against the same system calls made directly.
 *
 *     lifecycle [RUNS [RUN_MS]]
 *
 * Four benchmarks, each comparing one libshm operation sequence with the raw
 * system calls that give the same guarantees libshm promises in shmlib.h:
 *
 *   lifecycle.posix  one create+attach+detach+destroy cycle of a 4 KiB POSIX
 *                    object, writing one byte into the mapping.
 *     libshm: shmlib_create("posix:/NAME", 4096, 0600) + shmlib_attach +
 *             write a byte + shmlib_detach + shmlib_destroy
 *     raw-c:  create: open("/dev/shm/NAME", O_RDWR|O_CREAT|O_EXCL|O_NOFOLLOW|
 *             O_CLOEXEC, 0600) + fchmod(0600) (the mode exact despite the
 *             umask) + ftruncate + fallocate (memory reserved at create) +
 *             close; attach: open(O_RDWR|O_NOFOLLOW|O_CLOEXEC) + fstat (to
 *             learn the size) + mmap(MAP_SHARED) + close; write a byte;
 *             detach: munmap; destroy: unlink
 *
 *   lifecycle.sysv   the same cycle for a 4 KiB System V segment.
 *     libshm: shmlib_create("sysv:key=0x...", ...) + attach + write a byte +
 *             detach + destroy
 *     raw-c:  create: shmget(key, 4096, IPC_CREAT|IPC_EXCL|0600); attach:
 *             shmget(key, 0, 0) (attach is given the key, not the id) +
 *             shmctl(IPC_STAT) (attach returns the size) + shmat; write a
 *             byte; detach: shmdt; destroy: shmctl(IPC_RMID)
 *
 *   attach.posix     attach+detach of an existing 4 KiB POSIX object.
 *     libshm: shmlib_attach + shmlib_detach
 *     raw-c:  open + fstat + mmap + close, then munmap
 *
 *   attach.sysv      attach+detach of an existing 4 KiB System V segment.
 *     libshm: shmlib_attach + shmlib_detach
 *     raw-c:  shmget + shmctl(IPC_STAT) + shmat, then shmdt
 *
 * Method: a warmup of each side also calibrates the iteration count, so that
 * one libshm run lasts about RUN_MS milliseconds (default 120); both sides
 * then do that many iterations per run. RUNS rounds (default 7) alternate
 * the order (libshm first, then raw first) so that drift on a noisy machine
 * hits both sides alike. bench/run.py takes the medians.
 *
 * Output: one JSON object per benchmark and line, with the ns per iteration
 * of every run:
 *   {"name": "...", "unit": "ns", "iters": N, "value_runs": [...],
 *    "baseline": "raw-c", "baseline_runs": [...]}
 *
 * Segments are named after this process's pid and removed on every exit
 * path, including SIGINT and SIGTERM.
 */
#include <shmlib.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SEG_SIZE 4096
#define MAX_RUNS 64

/* Per side and benchmark: its own POSIX name and System V key, so that a
 * failed run of one side cannot make the other trip over a leftover. */
enum { LIB_CYCLE, RAW_CYCLE, LIB_ATTACH, RAW_ATTACH, NSLOTS };
static char posix_path[NSLOTS][64]; /* /dev/shm/shmlib-bench-PID-N */
static char posix_key[NSLOTS][80];  /* posix:/shmlib-bench-PID-N   */
static key_t sysv_ipc_key[NSLOTS];
static char sysv_key[NSLOTS][32];   /* sysv:key=0x%08x             */

/* Removes every segment this process may have made, with plain system calls
 * only, so that it also works from a signal handler and when libshm fails.
 * A System V key is removed only if this process created its segment: the
 * key was free when chosen, but another program might have taken it since. */
static void remove_all(void)
{
    for (int i = 0; i < NSLOTS; i++) {
        struct shmid_ds ds;

        unlink(posix_path[i]);
        int id = shmget(sysv_ipc_key[i], 0, 0);
        if (id >= 0 && shmctl(id, IPC_STAT, &ds) == 0 && ds.shm_cpid == getpid())
            shmctl(id, IPC_RMID, NULL);
    }
}

static void on_signal(int sig)
{
    remove_all();
    signal(sig, SIG_DFL);
    raise(sig);
}

static void die_shmlib(const char *what, int rc)
{
    char msg[512];

    shmlib_last_error(msg, sizeof msg);
    fprintf(stderr, "lifecycle: %s: %s (%s)\n", what, msg, shmlib_strerror(rc));
    exit(1); /* atexit runs remove_all */
}

static void die_errno(const char *what)
{
    fprintf(stderr, "lifecycle: %s: %s\n", what, strerror(errno));
    exit(1);
}

/* Picks names and keys nobody uses: POSIX names carry the pid; System V keys
 * are probed, 0x5b<pid bits><n>, until shmget says ENOENT. */
static void choose_names(void)
{
    int pid = (int)getpid();
    key_t k = (key_t)(0x5b000000u | ((unsigned)pid & 0xffffu) << 8);

    for (int i = 0; i < NSLOTS; i++) {
        snprintf(posix_path[i], sizeof posix_path[i], "/dev/shm/shmlib-bench-%d-%d", pid, i);
        snprintf(posix_key[i], sizeof posix_key[i], "posix:/shmlib-bench-%d-%d", pid, i);
        while (shmget(k, 0, 0) >= 0 || errno != ENOENT)
            k++;
        sysv_ipc_key[i] = k++;
        snprintf(sysv_key[i], sizeof sysv_key[i], "sysv:key=0x%08x", (unsigned)sysv_ipc_key[i]);
    }
}

/* ---------------------------------------------------------------- libshm */

static void lib_cycle(const char *key)
{
    void *addr;
    uint64_t size;
    int rc;

    if ((rc = shmlib_create(key, SEG_SIZE, 0600, 0, NULL, 0)) < 0)
        die_shmlib("create", rc);
    if ((rc = shmlib_attach(key, NULL, 0, &addr, &size)) < 0)
        die_shmlib("attach", rc);
    *(volatile char *)addr = 1;
    if ((rc = shmlib_detach(addr)) < 0)
        die_shmlib("detach", rc);
    if ((rc = shmlib_destroy(key)) < 0)
        die_shmlib("destroy", rc);
}

static void lib_posix_cycle(void) { lib_cycle(posix_key[LIB_CYCLE]); }
static void lib_sysv_cycle(void) { lib_cycle(sysv_key[LIB_CYCLE]); }

static void lib_attach(const char *key)
{
    void *addr;
    uint64_t size;
    int rc;

    if ((rc = shmlib_attach(key, NULL, 0, &addr, &size)) < 0)
        die_shmlib("attach", rc);
    if ((rc = shmlib_detach(addr)) < 0)
        die_shmlib("detach", rc);
}

static void lib_posix_attach(void) { lib_attach(posix_key[LIB_ATTACH]); }
static void lib_sysv_attach(void) { lib_attach(sysv_key[LIB_ATTACH]); }

/* ------------------------------------------------------------- raw POSIX */

static void raw_posix_create(const char *path)
{
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        die_errno("open O_CREAT");
    if (fchmod(fd, 0600) < 0 || ftruncate(fd, SEG_SIZE) < 0 || fallocate(fd, 0, 0, SEG_SIZE) < 0)
        die_errno("fchmod/ftruncate/fallocate");
    close(fd);
}

/* Maps the object at path; returns the address and its size. */
static void *raw_posix_map(const char *path, size_t *size)
{
    struct stat st;
    int fd = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) < 0)
        die_errno("open/fstat");
    void *addr = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (addr == MAP_FAILED)
        die_errno("mmap");
    close(fd);
    *size = (size_t)st.st_size;
    return addr;
}

static void raw_posix_cycle(void)
{
    const char *path = posix_path[RAW_CYCLE];
    size_t size;

    raw_posix_create(path);
    void *addr = raw_posix_map(path, &size);
    *(volatile char *)addr = 1;
    if (munmap(addr, size) < 0 || unlink(path) < 0)
        die_errno("munmap/unlink");
}

static void raw_posix_attach(void)
{
    size_t size;
    void *addr = raw_posix_map(posix_path[RAW_ATTACH], &size);
    if (munmap(addr, size) < 0)
        die_errno("munmap");
}

/* -------------------------------------------------------------- raw SysV */

/* Attaches by key as shmlib_attach does: look the key up, learn the size. */
static void *raw_sysv_map(key_t key, int *id, size_t *size)
{
    struct shmid_ds ds;

    *id = shmget(key, 0, 0);
    if (*id < 0 || shmctl(*id, IPC_STAT, &ds) < 0)
        die_errno("shmget/IPC_STAT");
    void *addr = shmat(*id, NULL, 0);
    if (addr == (void *)-1)
        die_errno("shmat");
    *size = ds.shm_segsz;
    return addr;
}

static void raw_sysv_cycle(void)
{
    key_t key = sysv_ipc_key[RAW_CYCLE];
    size_t size;
    int id;

    if (shmget(key, SEG_SIZE, IPC_CREAT | IPC_EXCL | 0600) < 0)
        die_errno("shmget IPC_CREAT");
    void *addr = raw_sysv_map(key, &id, &size);
    *(volatile char *)addr = 1;
    if (shmdt(addr) < 0 || shmctl(id, IPC_RMID, NULL) < 0)
        die_errno("shmdt/IPC_RMID");
}

static void raw_sysv_attach(void)
{
    size_t size;
    int id;
    void *addr = raw_sysv_map(sysv_ipc_key[RAW_ATTACH], &id, &size);
    if (shmdt(addr) < 0)
        die_errno("shmdt");
}

/* ----------------------------------------------------------------- timing */

static double now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* ns per iteration of fn over iters iterations. */
static double time_run(void (*fn)(void), long iters)
{
    double t0 = now_ns();
    for (long i = 0; i < iters; i++)
        fn();
    return (now_ns() - t0) / (double)iters;
}

/* Runs fn for about ms milliseconds; returns how many iterations that was.
 * Doubles as the warmup: page tables, caches, the Go runtime's threads. */
static long calibrate(void (*fn)(void), double ms)
{
    long n = 0;
    double t0 = now_ns();
    do {
        fn();
        n++;
    } while (now_ns() - t0 < ms * 1e6);
    return n;
}

static void print_runs(const char *key, const double *v, int n)
{
    printf("\"%s\": [", key);
    for (int i = 0; i < n; i++)
        printf("%s%.1f", i ? ", " : "", v[i]);
    printf("]");
}

static void bench(const char *name, void (*lib)(void), void (*raw)(void), int runs, double run_ms)
{
    double lib_ns[MAX_RUNS], raw_ns[MAX_RUNS];

    calibrate(raw, run_ms / 2);
    long iters = calibrate(lib, run_ms / 2) * 2;
    for (int r = 0; r < runs; r++) {
        if (r % 2 == 0) {
            lib_ns[r] = time_run(lib, iters);
            raw_ns[r] = time_run(raw, iters);
        } else {
            raw_ns[r] = time_run(raw, iters);
            lib_ns[r] = time_run(lib, iters);
        }
    }
    printf("{\"name\": \"%s\", \"unit\": \"ns\", \"iters\": %ld, ", name, iters);
    print_runs("value_runs", lib_ns, runs);
    printf(", \"baseline\": \"raw-c\", ");
    print_runs("baseline_runs", raw_ns, runs);
    printf("}\n");
    fflush(stdout);
}

int main(int argc, char **argv)
{
    int runs = argc > 1 ? atoi(argv[1]) : 7;
    double run_ms = argc > 2 ? atof(argv[2]) : 120;
    int rc;

    if (runs < 1 || runs > MAX_RUNS || run_ms <= 0) {
        fprintf(stderr, "usage: lifecycle [RUNS [RUN_MS]]\n");
        return 2;
    }
    choose_names();
    atexit(remove_all);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);

    bench("lifecycle.posix", lib_posix_cycle, raw_posix_cycle, runs, run_ms);
    bench("lifecycle.sysv", lib_sysv_cycle, raw_sysv_cycle, runs, run_ms);

    /* The attach benchmarks need one existing segment per side. */
    if ((rc = shmlib_create(posix_key[LIB_ATTACH], SEG_SIZE, 0600, 0, NULL, 0)) < 0)
        die_shmlib("create", rc);
    if ((rc = shmlib_create(sysv_key[LIB_ATTACH], SEG_SIZE, 0600, 0, NULL, 0)) < 0)
        die_shmlib("create", rc);
    raw_posix_create(posix_path[RAW_ATTACH]);
    if (shmget(sysv_ipc_key[RAW_ATTACH], SEG_SIZE, IPC_CREAT | IPC_EXCL | 0600) < 0)
        die_errno("shmget IPC_CREAT");

    bench("attach.posix", lib_posix_attach, raw_posix_attach, runs, run_ms);
    bench("attach.sysv", lib_sysv_attach, raw_sysv_attach, runs, run_ms);

    if ((rc = shmlib_destroy(posix_key[LIB_ATTACH])) < 0)
        die_shmlib("destroy", rc);
    if ((rc = shmlib_destroy(sysv_key[LIB_ATTACH])) < 0)
        die_shmlib("destroy", rc);
    return 0; /* atexit removes the raw side's two segments */
}
