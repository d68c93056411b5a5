/*
 * api.h - what the API tests (test_api.c, test_create.c, test_attach.c,
 * test_inspect.c, test_processes.c) share: keys of this run, snapshots of
 * the kernel's segments to show what a call left behind, and checks of
 * failed calls and their messages.
 *
 * Every test destroys what it creates. Calls that must fail are checked for
 * leaving nothing behind by comparing /dev/shm and /proc/sysvipc/shm before
 * and after; whatever a failing call did leave is reported and removed.
 * api_main() sets `page` and `prefix`, then runs the tests named on the
 * command line, or all.
 */
#ifndef LIBSHM_TEST_API_H
#define LIBSHM_TEST_API_H

#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>

#include "harness.h"

/* The layout the header promises: 408 bytes, the same on every Linux ABI. */
_Static_assert(sizeof(shmlib_stat_t) == 408, "shmlib_stat_t must be 408 bytes");
_Static_assert(offsetof(shmlib_stat_t, size) == 272, "size offset");
_Static_assert(offsetof(shmlib_stat_t, nattach) == 280, "nattach offset");
_Static_assert(offsetof(shmlib_stat_t, ctime) == 304, "ctime offset");
_Static_assert(offsetof(shmlib_stat_t, backend) == 312, "backend offset");
_Static_assert(offsetof(shmlib_stat_t, cpid) == 336, "cpid offset");
_Static_assert(offsetof(shmlib_stat_t, flags) == 352, "flags offset");
_Static_assert(offsetof(shmlib_stat_t, reserved) == 360, "reserved offset");

#define NOBODY 65534

static size_t page;
/* "libshm-api-PID": POSIX names of this run start with it. */
static char prefix[64];

/* ------------------------------------------------------------ key helpers */

/* "posix:/libshm-api-PID-TAG" */
static inline void posix_key(char *buf, size_t len, const char *tag)
{
    snprintf(buf, len, "posix:/%s-%s", prefix, tag);
}

/* A System V key for tests that must choose one. Derived from the pid so
 * that two runs at once do not collide; n tells the tests of a run apart. */
static inline uint32_t sysv_key_num(unsigned n)
{
    return 0x5c000000u | ((uint32_t)(getpid() & 0xffff) << 8) | (n & 0xffu);
}

static inline void sysv_key(char *buf, size_t len, unsigned n)
{
    snprintf(buf, len, "sysv:key=0x%08x", sysv_key_num(n));
}

/* /dev/shm/NAME for "posix:/NAME". */
static inline const char *posix_path(const char *key, char *buf, size_t len)
{
    snprintf(buf, len, "/dev/shm/%s", key + strlen("posix:/"));
    return buf;
}

static inline int is_posix(const char *key)
{
    return strncmp(key, "posix:/", 7) == 0;
}

/* The shmid of a System V segment, through shmlib_stat; -1 if none. */
static inline int shmid_of(const char *key)
{
    shmlib_stat_t st;
    return shmlib_stat(key, &st) == 0 ? st.shmid : -1;
}

/* ------------------------------------------------------ kernel inspection */

/*
 * What exists in the kernel: the names in /dev/shm, and the System V
 * segments this process created (their cpid). Comparing two snapshots shows
 * what a call left behind.
 *
 * The kernel does not record who made a /dev/shm file, and other programs
 * may make some at the same moment: unless the run has a /dev/shm of its
 * own, a new name only counts if its name says it is ours (snapshot_ours).
 */
struct snapshot {
    char **names;
    size_t nnames;
    int *ids;
    size_t nids;
};

static inline void snapshot_take(struct snapshot *s)
{
    s->names = harness_devshm_names("", SIZE_MAX, &s->nnames);
    s->ids = harness_sysv_ids_created_by(getpid(), SIZE_MAX, &s->nids);
}

static inline void snapshot_free(struct snapshot *s)
{
    harness_names_free(s->names, s->nnames);
    free(s->ids);
}

static inline int snapshot_has_name(const struct snapshot *s, const char *name)
{
    for (size_t i = 0; i < s->nnames; i++)
        if (strcmp(s->names[i], name) == 0)
            return 1;
    return 0;
}

static inline int snapshot_has_id(const struct snapshot *s, int id)
{
    for (size_t i = 0; i < s->nids; i++)
        if (s->ids[i] == id)
            return 1;
    return 0;
}

/* Is /dev/shm/name this run's to judge and remove? Under scripts/isolate.sh
 * (SHMLIB_TEST_ISOLATED=1) every name is. On a /dev/shm shared with other
 * programs only ours are: those with this run's prefix, and those the
 * library chose for this process ("shmlib-PID-..."). */
static inline int snapshot_ours(const char *name)
{
    const char *isolated = getenv("SHMLIB_TEST_ISOLATED");
    char generated[32];
    snprintf(generated, sizeof generated, "shmlib-%d-", (int)getpid());
    return (isolated != NULL && strcmp(isolated, "1") == 0) ||
           strncmp(name, prefix, strlen(prefix)) == 0 || strncmp(name, generated, strlen(generated)) == 0;
}

/* Fails if a segment exists now that `before` did not have; POSIX names
 * only if posix_names. This process's leftovers are removed, so that one
 * failure does not leak into the machine. */
static inline void check_nothing_left(const struct snapshot *before, int posix_names, const char *what,
                               const char *file, int line)
{
    struct snapshot now;
    char report[1024] = "", path[PATH_MAX];
    size_t used = 0;
    int leaked = 0;

    snapshot_take(&now);
    for (size_t i = 0; i < now.nnames && posix_names; i++) {
        if (snapshot_has_name(before, now.names[i]) || !snapshot_ours(now.names[i]))
            continue;
        snprintf(path, sizeof path, "/dev/shm/%s", now.names[i]);
        unlink(path);
        leaked++;
        used += (size_t)snprintf(report + used, used < sizeof report ? sizeof report - used : 0,
                                 " posix:/%s (removed)", now.names[i]);
    }
    for (size_t i = 0; i < now.nids; i++) {
        if (snapshot_has_id(before, now.ids[i]))
            continue;
        shmctl(now.ids[i], IPC_RMID, NULL);
        leaked++;
        used += (size_t)snprintf(report + used, used < sizeof report ? sizeof report - used : 0,
                                 " sysv:id=%d (removed)", now.ids[i]);
    }
    snapshot_free(&now);
    if (leaked == 0)
        harness_pass();
    else
        harness_fail(file, line, "%s left %d segment(s) behind:%s", what, leaked, report);
}

#define CHECK_NOTHING_LEFT(before, what) \
    check_nothing_left((before), 1, (what), __FILE__, __LINE__)

/* Mappings of shared memory segments in this process: /dev/shm files and
 * System V segments ("/SYSV%08x (deleted)") in /proc/self/maps. */
static inline int count_shm_mappings(void)
{
    FILE *f = fopen("/proc/self/maps", "r");
    char line[1024];
    int n = 0;
    if (f == NULL)
        return -1;
    while (fgets(line, sizeof line, f) != NULL)
        n += strstr(line, " /dev/shm/") != NULL || strstr(line, " /SYSV") != NULL;
    fclose(f);
    return n;
}

/* Is the page at addr mapped? mincore() fails with ENOMEM where it is not. */
static inline int is_mapped(const void *addr)
{
    unsigned char v;
    void *p = (void *)((uintptr_t)addr & ~(uintptr_t)(page - 1));
    return mincore(p, page, &v) == 0;
}

/* How many pages of [addr, addr+len) are resident in memory. */
static inline size_t resident_pages(void *addr, size_t len)
{
    size_t n = (len + page - 1) / page, count = 0;
    unsigned char *v = calloc(n, 1);
    if (v == NULL || mincore(addr, len, v) != 0) {
        free(v);
        return (size_t)-1;
    }
    for (size_t i = 0; i < n; i++)
        count += v[i] & 1;
    free(v);
    return count;
}

/* Does the mapping that starts at addr carry the VmFlags flag (/proc/self/
 * smaps, e.g. "lo" for locked)? 1 yes, 0 no, -1 no mapping starts there. */
static inline int mapping_has_vmflag(const void *addr, const char *flag)
{
    FILE *f = fopen("/proc/self/smaps", "r");
    char line[1024];
    int found = -1, inside = 0;
    if (f == NULL)
        return -1;
    while (fgets(line, sizeof line, f) != NULL) {
        unsigned long start, end;
        if (sscanf(line, "%lx-%lx ", &start, &end) == 2) {
            inside = start == (unsigned long)(uintptr_t)addr;
            continue;
        }
        if (!inside || strncmp(line, "VmFlags:", 8) != 0)
            continue;
        found = 0;
        for (char *tok = strtok(line + 8, " \n"); tok != NULL; tok = strtok(NULL, " \n"))
            found |= strcmp(tok, flag) == 0;
        break;
    }
    fclose(f);
    return found;
}

/* The numeric value of a line "Name: N" in /proc/meminfo; -1 if absent. */
static inline long long meminfo(const char *name)
{
    FILE *f = fopen("/proc/meminfo", "r");
    char line[256];
    long long v = -1;
    size_t n = strlen(name);
    if (f == NULL)
        return -1;
    while (fgets(line, sizeof line, f) != NULL) {
        if (strncmp(line, name, n) == 0 && line[n] == ':') {
            v = strtoll(line + n + 1, NULL, 10);
            break;
        }
    }
    fclose(f);
    return v;
}

/* ---------------------------------------------------------- call helpers */

static inline int printable(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
            return 0;
    return 1;
}

/* The last error names the operation and the key. A key with raw bytes may
 * be escaped in the message, so only printable keys are looked for. */
static inline void check_message(const char *op, const char *key, const char *file, int line)
{
    const char *msg = harness_last_error();
    int ok = strstr(msg, op) != NULL;
    if (ok && key != NULL && key[0] != '\0' && printable(key))
        ok = strstr(msg, key) != NULL;
    if (ok)
        harness_pass();
    else
        harness_fail(file, line,
                     "last error \"%s\" should name the operation \"%s\" and key \"%s\"",
                     msg, op, key ? key : "(null)");
}

/* A call fails with `want`, and its message names the operation and key. */
#define CHECK_FAILS(call, want, op, key)                         \
    (harness_check_rc((call), (want), __FILE__, __LINE__, #call) && \
     (check_message((op), (key), __FILE__, __LINE__), 1))

/* Creates a segment that must be created; out receives its key. */
static inline int create_ok(const char *key, uint64_t size, uint32_t mode, char out[SHMLIB_KEY_MAX])
{
    return CHECK_RC(shmlib_create(key, size, mode, 0, out, SHMLIB_KEY_MAX), 0);
}

/*
 * A create that must fail with `want`: it leaves no segment behind, does not
 * touch out_key, and its message names the operation.
 */
static inline void check_create_fails(const char *key, uint64_t size, uint32_t mode, uint32_t flags,
                               size_t out_len, int want, const char *file, int line)
{
    struct snapshot before;
    char out[SHMLIB_KEY_MAX];
    char expr[512];

    snprintf(expr, sizeof expr, "shmlib_create(\"%s\", %" PRIu64 ", 0%o, 0x%x, out, %zu)",
             key ? key : "(null)", size, mode, flags, out_len);
    memset(out, '#', sizeof out);
    snapshot_take(&before);
    int rc = shmlib_create(key, size, mode, flags, out, out_len);
    if (harness_check_rc(rc, want, file, line, expr))
        check_message("create", key, file, line);
    size_t untouched = 0;
    while (untouched < sizeof out && out[untouched] == '#')
        untouched++;
    if (untouched == sizeof out)
        harness_pass();
    else
        harness_fail(file, line, "%s wrote out_key although it failed", expr);
    check_nothing_left(&before, 1, expr, file, line);
    snapshot_free(&before);
}

#define CHECK_CREATE_FAILS(key, size, mode, flags, want) \
    check_create_fails((key), (size), (mode), (flags), SHMLIB_KEY_MAX, (want), __FILE__, __LINE__)

/* Attaches read-write; NULL (reported) on failure. */
static inline unsigned char *attach_rw(const char *key, uint64_t *size)
{
    void *addr = NULL;
    if (!CHECK_RC(shmlib_attach(key, NULL, 0, &addr, size), 0))
        return NULL;
    return addr;
}

static inline int all_zero(const unsigned char *p, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (p[i] != 0)
            return 0;
    return 1;
}

/* The two backends, for tests that run on each. */
enum backend { POSIX, SYSV };
static const char *const backend_names[] = {"posix", "sysv"};

/* Creates a segment of the backend with a library-chosen key. */
static inline int create_any(enum backend b, uint64_t size, uint32_t mode, char out[SHMLIB_KEY_MAX])
{
    return create_ok(b == POSIX ? "posix:" : "sysv:", size, mode, out);
}

/* Sets up what the helpers need. */
static inline void api_setup(void)
{
    page = (size_t)sysconf(_SC_PAGESIZE);
    snprintf(prefix, sizeof prefix, "libshm-api-%d", (int)getpid());
}

/* api_setup, then the tests named on the command line, or all. */
static inline int api_main(const struct harness_test *tests, size_t n, int argc, char **argv)
{
    api_setup();
    return harness_run(tests, n, argc, argv);
}

#endif /* LIBSHM_TEST_API_H */
