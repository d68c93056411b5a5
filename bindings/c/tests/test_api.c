/*
 * test_api.c - every function of include/shmlib.h against the real kernel:
 * POSIX objects in /dev/shm and System V segments, no mocks.
 *
 * Each test destroys what it creates. Calls that must fail are checked for
 * leaving nothing behind by comparing /dev/shm and /proc/sysvipc/shm before
 * and after; whatever a failing call did leave is reported and removed.
 *
 * Roles: run without arguments for the tests. "--as-nobody ..." is the peer
 * that test_permissions starts: it drops root before its first libshm call
 * (a process forked without exec may not call libshm, so it is exec'd).
 */
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
static void posix_key(char *buf, size_t len, const char *tag)
{
    snprintf(buf, len, "posix:/%s-%s", prefix, tag);
}

/* A System V key for tests that must choose one. Derived from the pid so
 * that two runs at once do not collide; n tells the tests of a run apart. */
static uint32_t sysv_key_num(unsigned n)
{
    return 0x5c000000u | ((uint32_t)(getpid() & 0xffff) << 8) | (n & 0xffu);
}

static void sysv_key(char *buf, size_t len, unsigned n)
{
    snprintf(buf, len, "sysv:key=0x%08x", sysv_key_num(n));
}

/* /dev/shm/NAME for "posix:/NAME". */
static const char *posix_path(const char *key, char *buf, size_t len)
{
    snprintf(buf, len, "/dev/shm/%s", key + strlen("posix:/"));
    return buf;
}

static int is_posix(const char *key)
{
    return strncmp(key, "posix:/", 7) == 0;
}

/* The shmid of a System V segment, through shmlib_stat; -1 if none. */
static int shmid_of(const char *key)
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

static void snapshot_take(struct snapshot *s)
{
    s->names = harness_devshm_names("", SIZE_MAX, &s->nnames);
    s->ids = harness_sysv_ids_created_by(getpid(), SIZE_MAX, &s->nids);
}

static void snapshot_free(struct snapshot *s)
{
    harness_names_free(s->names, s->nnames);
    free(s->ids);
}

static int snapshot_has_name(const struct snapshot *s, const char *name)
{
    for (size_t i = 0; i < s->nnames; i++)
        if (strcmp(s->names[i], name) == 0)
            return 1;
    return 0;
}

static int snapshot_has_id(const struct snapshot *s, int id)
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
static int snapshot_ours(const char *name)
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
static void check_nothing_left(const struct snapshot *before, int posix_names, const char *what,
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
static int count_shm_mappings(void)
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
static int is_mapped(const void *addr)
{
    unsigned char v;
    void *p = (void *)((uintptr_t)addr & ~(uintptr_t)(page - 1));
    return mincore(p, page, &v) == 0;
}

/* How many pages of [addr, addr+len) are resident in memory. */
static size_t resident_pages(void *addr, size_t len)
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
static int mapping_has_vmflag(const void *addr, const char *flag)
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
static long long meminfo(const char *name)
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

static int printable(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
            return 0;
    return 1;
}

/* The last error names the operation and the key. A key with raw bytes may
 * be escaped in the message, so only printable keys are looked for. */
static void check_message(const char *op, const char *key, const char *file, int line)
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
static int create_ok(const char *key, uint64_t size, uint32_t mode, char out[SHMLIB_KEY_MAX])
{
    return CHECK_RC(shmlib_create(key, size, mode, 0, out, SHMLIB_KEY_MAX), 0);
}

/*
 * A create that must fail with `want`: it leaves no segment behind, does not
 * touch out_key, and its message names the operation.
 */
static void check_create_fails(const char *key, uint64_t size, uint32_t mode, uint32_t flags,
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
static unsigned char *attach_rw(const char *key, uint64_t *size)
{
    void *addr = NULL;
    if (!CHECK_RC(shmlib_attach(key, NULL, 0, &addr, size), 0))
        return NULL;
    return addr;
}

static int all_zero(const unsigned char *p, size_t len)
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
static int create_any(enum backend b, uint64_t size, uint32_t mode, char out[SHMLIB_KEY_MAX])
{
    return create_ok(b == POSIX ? "posix:" : "sysv:", size, mode, out);
}

/* ================================================================ tests */

static void test_version(void)
{
    CHECK_INT(shmlib_version(), SHMLIB_VERSION_NUMBER);
    const char *v = shmlib_version_string();
    CHECK(v != NULL);
    CHECK_STR(v, SHMLIB_VERSION_STRING);

    /* The macros agree with each other. */
    char expect[32];
    snprintf(expect, sizeof expect, "%d.%d.%d", SHMLIB_VERSION_MAJOR, SHMLIB_VERSION_MINOR,
             SHMLIB_VERSION_PATCH);
    CHECK_STR(SHMLIB_VERSION_STRING, expect);
    CHECK_INT(shmlib_version() / 10000, SHMLIB_VERSION_MAJOR);
    CHECK_INT(shmlib_version() / 100 % 100, SHMLIB_VERSION_MINOR);
    CHECK_INT(shmlib_version() % 100, SHMLIB_VERSION_PATCH);
}

static void test_strerror(void)
{
    static const int codes[] = {
        SHMLIB_OK,     SHMLIB_EINVAL, SHMLIB_ENOENT,       SHMLIB_EEXIST,  SHMLIB_EACCES,
        SHMLIB_ENOMEM, SHMLIB_ERANGE, SHMLIB_ENOTATTACHED, SHMLIB_ENOTSUP, SHMLIB_EFAULT,
        SHMLIB_EFORKED, SHMLIB_EOS,   SHMLIB_EINTERNAL,   SHMLIB_ETIMEDOUT, SHMLIB_EEOS,
        SHMLIB_EPEER,  SHMLIB_ECORRUPT, SHMLIB_EBUSY,     SHMLIB_EMSGSIZE, SHMLIB_EINTR,
        SHMLIB_EWOKEN,
    };
    const size_t n = sizeof codes / sizeof codes[0];
    const char *texts[sizeof codes / sizeof codes[0]];

    for (size_t i = 0; i < n; i++) {
        texts[i] = shmlib_strerror(codes[i]);
        CHECKF(texts[i] != NULL && texts[i][0] != '\0', "strerror(%d) is empty or NULL", codes[i]);
        if (texts[i] == NULL)
            texts[i] = "";
        CHECKF(strcmp(texts[i], "unknown error code") != 0, "strerror(%d %s) says unknown",
               codes[i], harness_code_name(codes[i]));
        /* Static: the same text on every call. */
        CHECK_STR(shmlib_strerror(codes[i]), texts[i]);
    }
    /* Each code has a description of its own. */
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++)
            CHECKF(strcmp(texts[i], texts[j]) != 0, "strerror(%d) == strerror(%d) == \"%s\"",
                   codes[i], codes[j], texts[i]);
    /* The header's own example. */
    CHECK_STR(shmlib_strerror(SHMLIB_ENOENT), "no such segment");

    static const int unknown[] = {-21, -100, 2, 42, INT_MIN, INT_MAX};
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++)
        CHECKF(shmlib_strerror(unknown[i]) != NULL &&
                   strcmp(shmlib_strerror(unknown[i]), "unknown error code") == 0,
               "strerror(%d) is \"%s\", want \"unknown error code\"", unknown[i],
               shmlib_strerror(unknown[i]) ? shmlib_strerror(unknown[i]) : "(null)");
}

/* The first call of a new thread sees an empty last error. */
static void *fresh_thread_last_error(void *arg)
{
    char *buf = arg;
    memset(buf, 'x', 64);
    int rc = shmlib_last_error(buf, 64);
    return (void *)(intptr_t)rc;
}

static void test_last_error(void)
{
    char buf[512], key[SHMLIB_KEY_MAX], other[SHMLIB_KEY_MAX];
    void *addr = NULL;

    /* Before any failure: "" (main has failed before, so ask a new thread). */
    pthread_t t;
    void *ret;
    char fresh[64];
    CHECK(pthread_create(&t, NULL, fresh_thread_last_error, fresh) == 0);
    CHECK(pthread_join(t, &ret) == 0);
    CHECK_RC((int)(intptr_t)ret, 0);
    CHECK_STR(fresh, "");

    /* Bad buffers: EINVAL, and a zero-length buffer is not written. */
    CHECK_RC(shmlib_last_error(NULL, 0), SHMLIB_EINVAL);
    CHECK_RC(shmlib_last_error(NULL, 16), SHMLIB_EINVAL);
    memset(buf, 'x', sizeof buf);
    CHECK_RC(shmlib_last_error(buf, 0), SHMLIB_EINVAL);
    CHECK(buf[0] == 'x');

    /* A failure's message names the operation, the key, what went wrong. */
    posix_key(key, sizeof key, "never-made");
    CHECK_RC(shmlib_attach(key, NULL, 0, &addr, NULL), SHMLIB_ENOENT);
    char msg[512];
    CHECK_RC(shmlib_last_error(msg, sizeof msg), 0);
    CHECKF(strncmp(msg, "attach ", 7) == 0, "message \"%s\" should start with \"attach \"", msg);
    CHECKF(strstr(msg, key) != NULL, "message \"%s\" should name the key %s", msg, key);
    CHECKF(strstr(msg, shmlib_strerror(SHMLIB_ENOENT)) != NULL,
           "message \"%s\" should say \"%s\"", msg, shmlib_strerror(SHMLIB_ENOENT));
    CHECKF(strchr(msg, '\n') == NULL, "message \"%s\" should be one line", msg);
    size_t len = strlen(msg);
    CHECK(len > 0 && len < 512);

    /* Calls that succeed leave it unchanged. */
    CHECK_RC(shmlib_create("posix:", 100, 0, 0, other, sizeof other), 0);
    shmlib_stat_t st;
    CHECK_RC(shmlib_stat(other, &st), 0);
    CHECK_RC(shmlib_destroy(other), 0);
    shmlib_version();
    shmlib_strerror(SHMLIB_EOS);
    CHECK_RC(shmlib_last_error(buf, sizeof buf), 0);
    CHECK_STR(buf, msg);

    /* Too small a buffer: ERANGE, and the beginning of the message. */
    memset(buf, 'x', sizeof buf);
    CHECK_RC(shmlib_last_error(buf, 5), SHMLIB_ERANGE);
    CHECK(strncmp(buf, msg, 4) == 0 && buf[4] == '\0');
    memset(buf, 'x', sizeof buf);
    CHECK_RC(shmlib_last_error(buf, len), SHMLIB_ERANGE); /* one byte short for the NUL */
    CHECK(strncmp(buf, msg, len - 1) == 0 && buf[len - 1] == '\0');
    CHECK_RC(shmlib_last_error(buf, len + 1), 0); /* exactly enough */
    CHECK_STR(buf, msg);
    CHECK_RC(shmlib_last_error(buf, 1), SHMLIB_ERANGE);
    CHECK(buf[0] == '\0');

    /* Every operation names itself. */
    CHECK_FAILS(shmlib_destroy(key), SHMLIB_ENOENT, "destroy", key);
    CHECK_FAILS(shmlib_stat(key, &st), SHMLIB_ENOENT, "stat", key);
    CHECK_FAILS(shmlib_detach(&st), SHMLIB_ENOTATTACHED, "detach", NULL);
    CHECK_FAILS(shmlib_ftok("/nonexistent/libshm", 1, buf, sizeof buf), SHMLIB_ENOENT, "ftok",
                "/nonexistent/libshm");
    size_t count;
    CHECK_FAILS(shmlib_list(NULL, 1, &count), SHMLIB_EINVAL, "list", NULL);
}

/* Library-chosen keys come back canonical and name a real segment. */
static void test_create_chosen_keys(void)
{
    static const char *const posix_forms[] = {NULL, "", "posix:"};
    char out[SHMLIB_KEY_MAX], path[PATH_MAX];
    struct stat sb;
    shmlib_stat_t st;

    for (size_t i = 0; i < 3; i++) {
        const char *form = posix_forms[i];
        if (!create_ok(form, 1000, 0, out))
            continue;
        const char *name = out + 7;
        CHECKF(is_posix(out) && strlen(name) >= 1 && strlen(name) <= 255 &&
                   strchr(name, '/') == NULL,
               "create(\"%s\") gave key \"%s\", want posix:/NAME", form ? form : "NULL", out);
        CHECKF(stat(posix_path(out, path, sizeof path), &sb) == 0 && sb.st_size == 1000,
               "%s: no 1000-byte file %s", out, path);
        if (CHECK_RC(shmlib_stat(out, &st), 0)) {
            CHECK_INT(st.backend, SHMLIB_BACKEND_POSIX);
            CHECK_STR(st.key, out);
        }
        CHECK_RC(shmlib_destroy(out), 0);
        CHECKF(stat(path, &sb) != 0 && errno == ENOENT, "%s still exists after destroy", path);
    }

    /* "sysv:": a random nonzero key, written as sysv:key=0x%08x. */
    if (create_ok("sysv:", 1000, 0, out)) {
        unsigned k = 0;
        char canon[SHMLIB_KEY_MAX];
        int n = 0;
        CHECKF(sscanf(out, "sysv:key=0x%8x%n", &k, &n) == 1 && n == 19 && out[n] == '\0',
               "create(\"sysv:\") gave \"%s\", want sysv:key=0x%%08x", out);
        snprintf(canon, sizeof canon, "sysv:key=0x%08x", k);
        CHECK_STR(out, canon); /* lower-case, 8 digits */
        CHECK(k != 0);
        int id = shmget((key_t)k, 0, 0);
        CHECKF(id >= 0, "shmget(0x%08x) of %s: %s", k, out, strerror(errno));
        if (CHECK_RC(shmlib_stat(out, &st), 0)) {
            CHECK_INT(st.backend, SHMLIB_BACKEND_SYSV);
            CHECK_INT(st.ipc_key, k);
            CHECK_INT(st.shmid, id);
            CHECK_INT(st.size, 1000);
        }
        CHECK_RC(shmlib_destroy(out), 0);
        CHECK(shmget((key_t)k, 0, 0) < 0 && errno == ENOENT);
    }

    /* "sysv:private": IPC_PRIVATE, named by its id. */
    if (create_ok("sysv:private", 1000, 0, out)) {
        int id = -1, n = 0;
        char canon[SHMLIB_KEY_MAX];
        CHECKF(sscanf(out, "sysv:id=%d%n", &id, &n) == 1 && out[n] == '\0' && id >= 0,
               "create(\"sysv:private\") gave \"%s\", want sysv:id=N", out);
        snprintf(canon, sizeof canon, "sysv:id=%d", id);
        CHECK_STR(out, canon);
        struct shmid_ds ds;
        CHECKF(shmctl(id, IPC_STAT, &ds) == 0 && ds.shm_perm.__key == IPC_PRIVATE &&
                   ds.shm_segsz == 1000,
               "%s is not a 1000-byte IPC_PRIVATE segment", out);
        if (CHECK_RC(shmlib_stat(out, &st), 0)) {
            CHECK_STR(st.key, out);
            CHECK_INT(st.ipc_key, 0);
            CHECK_INT(st.shmid, id);
        }
        CHECK_RC(shmlib_destroy(out), 0);
        CHECK(shmctl(id, IPC_STAT, &ds) != 0);
    }

    /* The library chooses, so out_key is required. */
    static const char *const chosen[] = {NULL, "", "posix:", "sysv:", "sysv:private"};
    for (size_t i = 0; i < 5; i++) {
        struct snapshot before;
        snapshot_take(&before);
        CHECKF(shmlib_create(chosen[i], 100, 0, 0, NULL, 0) == SHMLIB_EINVAL,
               "create(\"%s\") with NULL out_key should be EINVAL",
               chosen[i] ? chosen[i] : "NULL");
        CHECK_NOTHING_LEFT(&before, "create with a chosen key and NULL out_key");
        snapshot_free(&before);
    }
}

/* Keys the caller names: canonical spelling returned, shorthand accepted. */
static void test_create_named_keys(void)
{
    char key[SHMLIB_KEY_MAX], out[SHMLIB_KEY_MAX], in[SHMLIB_KEY_MAX];

    posix_key(key, sizeof key, "named");
    if (create_ok(key, 10, 0, out)) {
        CHECK_STR(out, key);
        CHECK_RC(shmlib_destroy(key), 0);
    }

    /* "/NAME" is posix:/NAME, for create, stat and destroy alike. */
    snprintf(in, sizeof in, "/%s-short", prefix);
    if (create_ok(in, 10, 0, out)) {
        snprintf(key, sizeof key, "posix:%.200s", in);
        CHECK_STR(out, key);
        shmlib_stat_t st;
        if (CHECK_RC(shmlib_stat(in, &st), 0))
            CHECK_STR(st.key, key);
        CHECK_RC(shmlib_destroy(in), 0);
        CHECK_RC(shmlib_stat(key, &st), SHMLIB_ENOENT);
    }

    /* out_key may be NULL when the key names the segment fully. */
    posix_key(key, sizeof key, "no-out");
    if (CHECK_RC(shmlib_create(key, 10, 0, 0, NULL, 0), 0))
        CHECK_RC(shmlib_destroy(key), 0);
    sysv_key(key, sizeof key, 1);
    if (CHECK_RC(shmlib_create(key, 10, 0, 0, NULL, 0), 0))
        CHECK_RC(shmlib_destroy(key), 0);

    /* A System V key in decimal or short hex comes back as 0x%08x. */
    uint32_t k = sysv_key_num(2) & 0x00ffffffu; /* a leading zero digit */
    char canon[SHMLIB_KEY_MAX];
    snprintf(canon, sizeof canon, "sysv:key=0x%08x", k);
    snprintf(in, sizeof in, "sysv:key=%u", k);
    if (create_ok(in, 10, 0, out)) {
        CHECK_STR(out, canon);
        CHECK_RC(shmlib_destroy(in), 0);
    }
    snprintf(in, sizeof in, "sysv:key=0x%x", k);
    if (create_ok(in, 10, 0, out)) {
        CHECK_STR(out, canon);
        CHECK_RC(shmlib_destroy(canon), 0);
    }

    /* A segment is destroyed through any spelling of its id, too. */
    sysv_key(key, sizeof key, 3);
    if (create_ok(key, 10, 0, out)) {
        snprintf(in, sizeof in, "sysv:id=%d", shmid_of(key));
        CHECK_RC(shmlib_destroy(in), 0);
        CHECK_RC(shmlib_destroy(key), SHMLIB_ENOENT);
    }

    /* NAME may be 255 bytes long (NAME_MAX of /dev/shm). */
    size_t plen = strlen(prefix);
    snprintf(key, sizeof key, "posix:/%s", prefix);
    memset(key + 7 + plen, 'n', 255 - plen);
    key[7 + 255] = '\0';
    if (create_ok(key, 10, 0, out)) {
        CHECK_STR(out, key);
        CHECK_RC(shmlib_destroy(key), 0);
    }

    /* An id cannot be created: the kernel chooses ids. */
    CHECK_CREATE_FAILS("sysv:id=1", 10, 0, 0, SHMLIB_EINVAL);
}

static void test_create_arguments(void)
{
    char key[SHMLIB_KEY_MAX], skey[SHMLIB_KEY_MAX], out[SHMLIB_KEY_MAX], path[PATH_MAX];
    shmlib_stat_t st;
    struct stat sb;
    struct shmid_ds ds;

    posix_key(key, sizeof key, "args");
    sysv_key(skey, sizeof skey, 4);

    /* size 0, mode above 0777, unknown flags: EINVAL, for both backends. */
    const char *const keys[] = {key, skey, "posix:", "sysv:", "sysv:private"};
    for (size_t i = 0; i < 5; i++) {
        CHECK_CREATE_FAILS(keys[i], 0, 0, 0, SHMLIB_EINVAL);
        CHECK_CREATE_FAILS(keys[i], 10, 01000, 0, SHMLIB_EINVAL);
        CHECK_CREATE_FAILS(keys[i], 10, 04755, 0, SHMLIB_EINVAL);
        CHECK_CREATE_FAILS(keys[i], 10, 0x10000, 0, SHMLIB_EINVAL);
        CHECK_CREATE_FAILS(keys[i], 10, 0, 0x80000000u, SHMLIB_EINVAL);
        CHECK_CREATE_FAILS(keys[i], 10, 0, 0x1000u, SHMLIB_EINVAL);
        CHECK_CREATE_FAILS(keys[i], 10, 0, SHMLIB_RDONLY, SHMLIB_EINVAL); /* an attach flag */
    }
    /* Flags of the other backend. */
    CHECK_CREATE_FAILS(key, 10, 0, SHMLIB_HUGETLB, SHMLIB_ENOTSUP);
    CHECK_CREATE_FAILS("posix:", 10, 0, SHMLIB_HUGETLB, SHMLIB_ENOTSUP);
    CHECK_CREATE_FAILS(skey, 10, 0, SHMLIB_SPARSE, SHMLIB_ENOTSUP);
    CHECK_CREATE_FAILS("sysv:", 10, 0, SHMLIB_SPARSE, SHMLIB_ENOTSUP);

    /* The mode is applied exactly, whatever the umask. */
    mode_t old_umask = umask(077);
    if (create_ok(key, 10, 0666, out)) {
        CHECKF(stat(posix_path(key, path, sizeof path), &sb) == 0 && (sb.st_mode & 07777) == 0666,
               "%s has mode 0%o, want 0666 (umask 077 must not narrow it)", path,
               (unsigned)(sb.st_mode & 07777));
        if (CHECK_RC(shmlib_stat(key, &st), 0))
            CHECK_INT(st.mode, 0666);
        CHECK_RC(shmlib_destroy(key), 0);
    }
    if (create_ok(skey, 10, 0666, out)) {
        CHECK(shmctl(shmid_of(skey), IPC_STAT, &ds) == 0 && (ds.shm_perm.mode & 0777) == 0666);
        if (CHECK_RC(shmlib_stat(skey, &st), 0))
            CHECK_INT(st.mode, 0666);
        CHECK_RC(shmlib_destroy(skey), 0);
    }
    /* An odd mode, exactly too. */
    if (create_ok(key, 10, 0751, out)) {
        CHECK(stat(path, &sb) == 0 && (sb.st_mode & 07777) == 0751);
        CHECK_RC(shmlib_destroy(key), 0);
    }
    umask(old_umask);

    /* mode 0 is 0600. */
    if (create_ok(key, 10, 0, out)) {
        CHECK(stat(path, &sb) == 0 && (sb.st_mode & 07777) == 0600);
        if (CHECK_RC(shmlib_stat(key, &st), 0))
            CHECK_INT(st.mode, 0600);
        CHECK_RC(shmlib_destroy(key), 0);
    }
    if (create_ok(skey, 10, 0, out)) {
        if (CHECK_RC(shmlib_stat(skey, &st), 0))
            CHECK_INT(st.mode, 0600);
        CHECK_RC(shmlib_destroy(skey), 0);
    }
}

/* Exclusive create, and SHMLIB_OPEN_EXISTING. */
static void test_create_existing(void)
{
    char keys[2][SHMLIB_KEY_MAX], out[SHMLIB_KEY_MAX], shorthand[SHMLIB_KEY_MAX];
    shmlib_stat_t st;

    posix_key(keys[POSIX], sizeof keys[POSIX], "existing");
    sysv_key(keys[SYSV], sizeof keys[SYSV], 5);
    snprintf(shorthand, sizeof shorthand, "%.200s", keys[POSIX] + strlen("posix:"));

    for (int b = POSIX; b <= SYSV; b++) {
        const char *key = keys[b];
        if (!create_ok(key, 8192, 0640, out))
            continue;
        unsigned char *p = attach_rw(key, NULL);
        if (p != NULL) {
            harness_fill(p, 8192, 5);
            CHECK_RC(shmlib_detach(p), 0);
        }

        /* Never reused silently. */
        CHECK_FAILS(shmlib_create(key, 8192, 0640, 0, out, sizeof out), SHMLIB_EEXIST, "create",
                    key);
        CHECK_RC(shmlib_create(key, 100, 0600, 0, NULL, 0), SHMLIB_EEXIST);

        /* Opened, not created: SHMLIB_OPENED, canonical key, mode and
         * contents left alone; a smaller size is fine. */
        memset(out, 0, sizeof out);
        const char *spelling = b == POSIX ? shorthand : key;
        CHECK_RC(shmlib_create(spelling, 4096, 0666, SHMLIB_OPEN_EXISTING, out, sizeof out),
                 SHMLIB_OPENED);
        CHECK_STR(out, key);
        CHECK_RC(shmlib_create(key, 8192, 0, SHMLIB_OPEN_EXISTING, NULL, 0), SHMLIB_OPENED);
        if (CHECK_RC(shmlib_stat(key, &st), 0)) {
            CHECK_INT(st.mode, 0640);
            CHECK_INT(st.size, 8192);
        }
        uint64_t size = 0;
        p = attach_rw(key, &size);
        if (p != NULL) {
            CHECK_INT(size, 8192);
            CHECK_INT(harness_verify(p, 8192, 5), 8192);
            CHECK_RC(shmlib_detach(p), 0);
        }

        /* Smaller than asked for: EINVAL, and the segment stays as it was. */
        CHECK_FAILS(shmlib_create(key, 8193, 0, SHMLIB_OPEN_EXISTING, out, sizeof out),
                    SHMLIB_EINVAL, "create", key);
        CHECK_RC(shmlib_stat(key, &st), 0);
        CHECK_INT(st.size, 8192);

        CHECK_RC(shmlib_destroy(key), 0);

        /* Nothing there: OPEN_EXISTING creates, returning 0. */
        CHECK_RC(shmlib_create(key, 100, 0, SHMLIB_OPEN_EXISTING, out, sizeof out), 0);
        CHECK_STR(out, key);
        CHECK_RC(shmlib_destroy(key), 0);
    }
}

/* Over the limits: ENOMEM and nothing left behind. Too small out_key:
 * ERANGE and nothing left behind. Huge pages where there are none. */
static void test_create_limits(void)
{
    char key[SHMLIB_KEY_MAX], skey[SHMLIB_KEY_MAX], out[SHMLIB_KEY_MAX];
    shmlib_stat_t st;

    posix_key(key, sizeof key, "limits");
    sysv_key(skey, sizeof skey, 6);

    /* System V: above shmmax. */
    unsigned long long shmmax = 0;
    FILE *f = fopen("/proc/sys/kernel/shmmax", "r");
    CHECK(f != NULL && fscanf(f, "%llu", &shmmax) == 1);
    if (f != NULL)
        fclose(f);
    if (shmmax > 0 && shmmax < UINT64_MAX) {
        CHECK_CREATE_FAILS("sysv:", shmmax + 1, 0, 0, SHMLIB_ENOMEM);
        CHECK_CREATE_FAILS(skey, shmmax + 1, 0, 0, SHMLIB_ENOMEM);
        CHECK_CREATE_FAILS("sysv:private", shmmax + 1, 0, 0, SHMLIB_ENOMEM);
    }
    CHECK_CREATE_FAILS("sysv:", UINT64_MAX, 0, 0, SHMLIB_ENOMEM);
    CHECK_CREATE_FAILS(skey, (uint64_t)INT64_MAX + 1, 0, 0, SHMLIB_ENOMEM);
    CHECK_RC(shmlib_stat(skey, &st), SHMLIB_ENOENT);

    /* POSIX: more than /dev/shm holds. More than its whole size, not just
     * its free space, so that the kernel refuses the fallocate at once
     * instead of filling the memory of the machine first. */
    struct statvfs vfs;
    if (CHECK(statvfs("/dev/shm", &vfs) == 0) && vfs.f_blocks > 0) {
        uint64_t total = (uint64_t)vfs.f_blocks * vfs.f_frsize;
        uint64_t free_bytes = (uint64_t)vfs.f_bavail * vfs.f_frsize;
        uint64_t too_big = (total > free_bytes ? total : free_bytes) + (1ull << 30);
        CHECK_CREATE_FAILS("posix:", too_big, 0, 0, SHMLIB_ENOMEM);
        CHECK_CREATE_FAILS(key, too_big, 0, 0, SHMLIB_ENOMEM);
        CHECK_RC(shmlib_stat(key, &st), SHMLIB_ENOENT);

        /* SHMLIB_SPARSE skips the reservation: the same size works. */
        if (CHECK_RC(shmlib_create(key, too_big, 0, SHMLIB_SPARSE, out, sizeof out), 0)) {
            void *addr = NULL;
            uint64_t size = 0;
            if (CHECK_RC(shmlib_attach(key, NULL, 0, &addr, &size), 0)) {
                CHECK_INT(size, too_big);
                CHECK_RC(shmlib_detach(addr), 0);
            }
            CHECK_RC(shmlib_destroy(key), 0);
        }
    } else {
        printf("   skip: /dev/shm has no size limit, cannot exceed it\n");
    }
    CHECK_CREATE_FAILS("posix:", UINT64_MAX, 0, 0, SHMLIB_ENOMEM);
    CHECK_CREATE_FAILS(key, (uint64_t)INT64_MAX + 1, 0, 0, SHMLIB_ENOMEM);

    /* out_key too small: ERANGE, and the segment is not left behind. One
     * byte short of the key plus NUL is too small; the exact size is not. */
    const char *const chosen[] = {"posix:", "sysv:", "sysv:private"};
    for (size_t i = 0; i < 3; i++) {
        check_create_fails(chosen[i], 10, 0, 0, 8, SHMLIB_ERANGE, __FILE__, __LINE__);
        check_create_fails(chosen[i], 10, 0, 0, 1, SHMLIB_ERANGE, __FILE__, __LINE__);
        check_create_fails(chosen[i], 10, 0, 0, 0, SHMLIB_ERANGE, __FILE__, __LINE__);
    }
    /* "sysv:" keys are always 19 characters long. */
    check_create_fails("sysv:", 10, 0, 0, 19, SHMLIB_ERANGE, __FILE__, __LINE__);
    const char *const named[] = {key, skey};
    for (size_t i = 0; i < 2; i++) {
        size_t len = strlen(named[i]);
        check_create_fails(named[i], 10, 0, 0, len, SHMLIB_ERANGE, __FILE__, __LINE__);
        CHECK_RC(shmlib_stat(named[i], &st), SHMLIB_ENOENT);
        if (CHECK_RC(shmlib_create(named[i], 10, 0, 0, out, len + 1), 0)) {
            CHECK_STR(out, named[i]);
            CHECK_RC(shmlib_destroy(named[i]), 0);
        }
    }
    if (CHECK_RC(shmlib_create("sysv:", 10, 0, 0, out, 20), 0))
        CHECK_RC(shmlib_destroy(out), 0);

    /* Huge pages: System V only, and only where some are reserved. */
    long long huge = meminfo("HugePages_Total"); /* -1: no hugetlbfs at all */
    if (huge <= 0) {
        CHECK_CREATE_FAILS("sysv:", 2 << 20, 0, SHMLIB_HUGETLB, SHMLIB_ENOTSUP);
        CHECK_CREATE_FAILS(skey, 2 << 20, 0, SHMLIB_HUGETLB, SHMLIB_ENOTSUP);
        CHECK_RC(shmlib_stat(skey, &st), SHMLIB_ENOENT);
    } else if (meminfo("HugePages_Free") > 0) {
        long long hp = meminfo("Hugepagesize") * 1024;
        if (CHECK_RC(shmlib_create(skey, (uint64_t)hp, 0, SHMLIB_HUGETLB, out, sizeof out), 0))
            CHECK_RC(shmlib_destroy(skey), 0);
    } else {
        printf("   skip: huge pages reserved but none free\n");
    }
}

/* Malformed keys: EINVAL with a message, from every function taking a key. */
static void test_malformed_keys(void)
{
    char long_name[SHMLIB_KEY_MAX + 8];
    snprintf(long_name, sizeof long_name, "posix:/");
    memset(long_name + 7, 'n', 256); /* one byte over NAME_MAX */
    long_name[7 + 256] = '\0';
    char long_short[SHMLIB_KEY_MAX + 8];
    snprintf(long_short, sizeof long_short, "%s", long_name + 6); /* "/nnn...", 256 */

    const char *const bad[] = {
        "posix:/a/b", "posix:/", "posix:/.", "posix:/..", "/", "/..", "/a/b", "posix:a",
        long_name, long_short,
        "sysv:key=0", "sysv:key=0x0", "sysv:key=zz", "sysv:key=", "sysv:key=0x",
        "sysv:key=0x1g", "sysv:key=12ab", "sysv:key=-1", "sysv:key=4294967296",
        "sysv:key=0x100000000", "sysv:key= 1",
        "sysv:id=-1", "sysv:id=abc", "sysv:id=", "sysv:id=1x", "sysv:id=99999999999",
        "sysv:id=2147483648", "sysv", "sysv:private:1", "sysv:bogus", "bogus:x", "x",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *key = bad[i];
        void *addr = NULL;
        shmlib_stat_t st;
        CHECK_CREATE_FAILS(key, 10, 0, 0, SHMLIB_EINVAL);
        CHECK_FAILS(shmlib_attach(key, NULL, 0, &addr, NULL), SHMLIB_EINVAL, "attach", key);
        CHECK_FAILS(shmlib_destroy(key), SHMLIB_EINVAL, "destroy", key);
        CHECK_FAILS(shmlib_stat(key, &st), SHMLIB_EINVAL, "stat", key);
    }

    /* Keys only create understands, and NULL, elsewhere are EINVAL too. */
    const char *const creation_only[] = {NULL, "", "posix:", "sysv:", "sysv:private"};
    for (size_t i = 0; i < 5; i++) {
        const char *key = creation_only[i];
        void *addr = NULL;
        shmlib_stat_t st;
        CHECK_FAILS(shmlib_attach(key, NULL, 0, &addr, NULL), SHMLIB_EINVAL, "attach", NULL);
        CHECK_FAILS(shmlib_destroy(key), SHMLIB_EINVAL, "destroy", NULL);
        CHECK_FAILS(shmlib_stat(key, &st), SHMLIB_EINVAL, "stat", NULL);
    }
}

/* shmlib_key_normalize: every spelling of a key gives the one the library
 * returns; malformed keys and short buffers fail and leave out_key alone. */
static void test_key_normalize(void)
{
    static const char *const pairs[][2] = {
        {"/frames", "posix:/frames"},
        {"posix:/frames", "posix:/frames"},
        {"sysv:key=42", "sysv:key=0x0000002a"},
        {"sysv:key=0x2A", "sysv:key=0x0000002a"},
        {"sysv:key=00042", "sysv:key=0x0000002a"},
        {"sysv:id=007", "sysv:id=7"},
        {"memfd:pid=07,fd=3,ino=09", "memfd:pid=7,fd=3,ino=9"},
        {"", "posix:"},
        {"sysv:private", "sysv:private"},
        {"memfd:", "memfd:"},
    };
    char out[SHMLIB_KEY_MAX];
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        if (CHECK_RC(shmlib_key_normalize(pairs[i][0], out, sizeof out), 0))
            CHECK_STR(out, pairs[i][1]);
    }
    const char *const bad[] = {"posix:/a/b", "sysv:key=0", "sysv:id=-1", "x", "memfd:pid=1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(out, sizeof out, "untouched");
        CHECK_FAILS(shmlib_key_normalize(bad[i], out, sizeof out), SHMLIB_EINVAL, "key_normalize", bad[i]);
        CHECK_STR(out, "untouched");
    }
    CHECK_FAILS(shmlib_key_normalize(NULL, out, sizeof out), SHMLIB_EINVAL, "key_normalize", NULL);
    CHECK_FAILS(shmlib_key_normalize("/frames", NULL, 0), SHMLIB_EINVAL, "key_normalize", "/frames");
    snprintf(out, sizeof out, "untouched");
    CHECK_FAILS(shmlib_key_normalize("/frames", out, 13), SHMLIB_ERANGE, "key_normalize", "/frames");
    CHECK_STR(out, "untouched");
    CHECK_RC(shmlib_key_normalize("/frames", out, 14), 0); /* "posix:/frames" and its NUL */
}

/*
 * NAME follows the rules of glibc's shm_open(), which allow any byte but '/'
 * and NUL: a name that is not UTF-8 is a valid key, and comes back byte for
 * byte.
 */
static void test_raw_byte_names(void)
{
    char key[SHMLIB_KEY_MAX], out[SHMLIB_KEY_MAX], path[PATH_MAX];
    struct stat sb;
    shmlib_stat_t st;

    snprintf(key, sizeof key, "posix:/%s-\xff\xfe-caf\xc3", prefix);
    if (!create_ok(key, 100, 0, out))
        return;
    CHECK(strcmp(out, key) == 0);
    CHECK(stat(posix_path(key, path, sizeof path), &sb) == 0);
    if (CHECK_RC(shmlib_stat(key, &st), 0))
        CHECK(strcmp(st.key, key) == 0);
    unsigned char *p = attach_rw(key, NULL);
    if (p != NULL)
        CHECK_RC(shmlib_detach(p), 0);
    CHECK_RC(shmlib_destroy(key), 0);
    CHECK(stat(path, &sb) != 0);
}

/* Attach: address and size, independent mappings of the same pages. */
static void test_attach(void)
{
    for (int b = POSIX; b <= SYSV; b++) {
        char key[SHMLIB_KEY_MAX];
        const size_t size = 3 * page + 100; /* not a whole number of pages */
        printf("   %s\n", backend_names[b]);
        if (!create_any((enum backend)b, size, 0, key))
            continue;

        int mappings = count_shm_mappings();
        void *a = NULL, *c = NULL;
        uint64_t sa = 0, sc = 0;
        if (!CHECK_RC(shmlib_attach(key, NULL, 0, &a, &sa), 0)) {
            CHECK_RC(shmlib_destroy(key), 0);
            continue;
        }
        CHECK(a != NULL && ((uintptr_t)a & (page - 1)) == 0);
        CHECK_INT(sa, size);
        CHECK(all_zero(a, size)); /* created zero-filled */
        CHECK_INT(count_shm_mappings(), mappings + 1);

        /* A second attach in the same process is a mapping of its own. */
        if (CHECK_RC(shmlib_attach(key, NULL, 0, &c, &sc), 0)) {
            CHECK(c != a);
            CHECK_INT(sc, size);
            harness_fill(a, size, 1);
            CHECK_INT(harness_verify(c, size, 1), size);
            harness_fill(c, size, 2);
            CHECK_INT(harness_verify(a, size, 2), size);

            /* Detaching one leaves the other working. */
            CHECK_RC(shmlib_detach(c), 0);
            CHECK(!is_mapped(c));
            CHECK_INT(harness_verify(a, size, 2), size);
        }
        /* out_size may be NULL. */
        if (CHECK_RC(shmlib_attach(key, NULL, 0, &c, NULL), 0)) {
            CHECK_INT(harness_verify(c, size, 2), size);
            CHECK_RC(shmlib_detach(c), 0);
        }

        /* Bad arguments: EINVAL, nothing mapped, outputs untouched. */
        int before = count_shm_mappings();
        c = (void *)0x1;
        sc = 7;
        CHECK_FAILS(shmlib_attach(key, NULL, 0, NULL, &sc), SHMLIB_EINVAL, "attach", key);
        CHECK_RC(shmlib_attach(key, NULL, 0x80, &c, &sc), SHMLIB_EINVAL);
        CHECK_RC(shmlib_attach(key, NULL, 0x80000000u, &c, &sc), SHMLIB_EINVAL);
        CHECK_RC(shmlib_attach(key, NULL, SHMLIB_OPEN_EXISTING, &c, &sc), SHMLIB_EINVAL);
        CHECK(c == (void *)0x1 && sc == 7);
        CHECK_INT(count_shm_mappings(), before);

        /* Detach is not destroy: the contents survive with no one attached. */
        CHECK_RC(shmlib_detach(a), 0);
        CHECK(!is_mapped(a));
        CHECK_INT(count_shm_mappings(), mappings);
        if (CHECK_RC(shmlib_attach(key, NULL, 0, &a, NULL), 0)) {
            CHECK_INT(harness_verify(a, size, 2), size);
            CHECK_RC(shmlib_detach(a), 0);
        }
        CHECK_RC(shmlib_destroy(key), 0);
    }
}

/* In a forked child (which touches memory only, no libshm), writes one byte
 * at addr. With own_handler the child catches the SIGSEGV itself and exits
 * 42 if it is the expected one: at addr, a permission fault (SEGV_ACCERR). */
static volatile void *segv_expected_addr;

static void segv_handler(int sig, siginfo_t *si, void *ctx)
{
    (void)ctx;
    _exit(sig == SIGSEGV && si->si_addr == segv_expected_addr && si->si_code == SEGV_ACCERR ? 42
                                                                                            : 43);
}

static int write_in_child(volatile unsigned char *addr, int own_handler)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        if (own_handler) {
            struct sigaction sa;
            memset(&sa, 0, sizeof sa);
            sa.sa_sigaction = segv_handler;
            sa.sa_flags = SA_SIGINFO;
            segv_expected_addr = addr;
            sigaction(SIGSEGV, &sa, NULL);
        }
        *addr = 0xee;
        _exit(0); /* the write went through */
    }
    return pid < 0 ? -1 : harness_wait(pid);
}

static void test_attach_rdonly(void)
{
    for (int b = POSIX; b <= SYSV; b++) {
        char key[SHMLIB_KEY_MAX];
        printf("   %s\n", backend_names[b]);
        if (!create_any((enum backend)b, 2 * page, 0, key))
            continue;
        unsigned char *rw = attach_rw(key, NULL);
        void *ro = NULL;
        uint64_t size = 0;
        if (rw != NULL && CHECK_RC(shmlib_attach(key, NULL, SHMLIB_RDONLY, &ro, &size), 0)) {
            CHECK_INT(size, 2 * page);
            harness_fill(rw, 2 * page, 3);
            CHECK_INT(harness_verify(ro, 2 * page, 3), 2 * page); /* reads see the writes */

            unsigned char *target = (unsigned char *)ro + page + 5;
            int status = write_in_child(target, 1);
            CHECKF(WIFEXITED(status) && WEXITSTATUS(status) == 42,
                   "writing to a SHMLIB_RDONLY mapping: child status 0x%x, want a SIGSEGV "
                   "(SEGV_ACCERR) at the address written",
                   (unsigned)status);
            /* Without a handler of its own the program dies of SIGSEGV, as any
             * C program would. */
            status = write_in_child(target, 0);
            CHECKF(WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV,
                   "writing to a SHMLIB_RDONLY mapping with no SIGSEGV handler: child status "
                   "0x%x (exit %d, signal %d), want death by SIGSEGV",
                   (unsigned)status, WIFEXITED(status) ? WEXITSTATUS(status) : -1,
                   WIFSIGNALED(status) ? WTERMSIG(status) : 0);
            CHECK_INT(harness_verify(ro, 2 * page, 3), 2 * page); /* nothing was written */
            CHECK_RC(shmlib_detach(ro), 0);
        }
        if (rw != NULL)
            CHECK_RC(shmlib_detach(rw), 0);
        CHECK_RC(shmlib_destroy(key), 0);
    }
}

/*
 * SHMLIB_POPULATE faults every page in at attach. Shown with mincore() on
 * segments whose pages do not exist yet: System V ones, and SPARSE POSIX
 * ones (a reserved POSIX segment has its pages from the start).
 */
static void test_attach_populate(void)
{
    const size_t size = 64 * page;
    for (int b = POSIX; b <= SYSV; b++) {
        char plain[SHMLIB_KEY_MAX], populated[SHMLIB_KEY_MAX];
        uint32_t flags = b == POSIX ? SHMLIB_SPARSE : 0;
        const char *form = b == POSIX ? "posix:" : "sysv:";
        printf("   %s\n", backend_names[b]);
        if (!CHECK_RC(shmlib_create(form, size, 0, flags, plain, sizeof plain), 0))
            continue;
        if (!CHECK_RC(shmlib_create(form, size, 0, flags, populated, sizeof populated), 0)) {
            CHECK_RC(shmlib_destroy(plain), 0);
            continue;
        }
        void *a = NULL, *p = NULL;
        if (CHECK_RC(shmlib_attach(plain, NULL, 0, &a, NULL), 0)) {
            CHECKF(resident_pages(a, size) == 0,
                   "%zu of 64 pages resident without SHMLIB_POPULATE (the comparison below "
                   "shows nothing)",
                   resident_pages(a, size));
            CHECK_RC(shmlib_detach(a), 0);
        }
        if (CHECK_RC(shmlib_attach(populated, NULL, SHMLIB_POPULATE, &p, NULL), 0)) {
            CHECKF(resident_pages(p, size) == 64, "%zu of 64 pages resident with SHMLIB_POPULATE",
                   resident_pages(p, size));
            harness_fill(p, size, 4);
            CHECK_INT(harness_verify(p, size, 4), size);
            CHECK_RC(shmlib_detach(p), 0);
        }
        /* Read-only and populated works too, and sees the data. */
        uint32_t ro = SHMLIB_POPULATE | SHMLIB_RDONLY;
        if (CHECK_RC(shmlib_attach(populated, NULL, ro, &p, NULL), 0)) {
            CHECK_INT(harness_verify(p, size, 4), size);
            CHECK_RC(shmlib_detach(p), 0);
        }
        CHECK_RC(shmlib_destroy(plain), 0);
        CHECK_RC(shmlib_destroy(populated), 0);
    }
}

/* SHMLIB_LOCK: the mapping is mlock'ed ("lo" in smaps VmFlags) and resident.
 * (Over RLIMIT_MEMLOCK is tested as nobody: root has CAP_IPC_LOCK.) */
static void test_attach_lock(void)
{
    const size_t size = 16 * page;
    for (int b = POSIX; b <= SYSV; b++) {
        char key[SHMLIB_KEY_MAX];
        printf("   %s\n", backend_names[b]);
        if (!create_any((enum backend)b, size, 0, key))
            continue;
        void *a = NULL, *u = NULL;
        if (CHECK_RC(shmlib_attach(key, NULL, SHMLIB_LOCK, &a, NULL), 0)) {
            CHECKF(mapping_has_vmflag(a, "lo") == 1, "mapping at %p is not locked", a);
            CHECK_INT(resident_pages(a, size), 16);
            /* Another, unlocked, mapping of the same segment is not locked. */
            if (CHECK_RC(shmlib_attach(key, NULL, 0, &u, NULL), 0)) {
                CHECK_INT(mapping_has_vmflag(u, "lo"), 0);
                CHECK_RC(shmlib_detach(u), 0);
            }
            CHECK_RC(shmlib_detach(a), 0);
        }
        if (CHECK_RC(shmlib_attach(key, NULL, SHMLIB_LOCK | SHMLIB_RDONLY | SHMLIB_POPULATE, &a,
                                   NULL),
                     0)) {
            CHECK_INT(mapping_has_vmflag(a, "lo"), 1);
            CHECK_RC(shmlib_detach(a), 0);
        }
        CHECK_RC(shmlib_destroy(key), 0);
    }
}

/*
 * An address range of len bytes that nothing is mapped at: found by mapping
 * and unmapping a larger range and taking its middle. Other threads (the Go
 * runtime's) may map something meanwhile; the kernel puts new mappings at
 * the top of a free gap, so the margin below the top keeps the middle free.
 */
static unsigned char *free_range(size_t len)
{
    const size_t margin = 64 * page;
    unsigned char *base =
        mmap(NULL, len + 2 * margin, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED)
        return NULL;
    munmap(base, len + 2 * margin);
    return base + margin;
}

/* addr_hint and SHMLIB_FIXED, at a free range and at a taken one (a live
 * anonymous mapping). */
static void test_attach_fixed(void)
{
    const size_t size = 4 * page;
    for (int b = POSIX; b <= SYSV; b++) {
        char key[SHMLIB_KEY_MAX];
        void *addr = NULL;
        printf("   %s\n", backend_names[b]);
        if (!create_any((enum backend)b, size, 0, key))
            continue;

        /* FIXED at a free address: exactly there. */
        unsigned char *hole = free_range(size);
        if (!CHECK(hole != NULL)) {
            CHECK_RC(shmlib_destroy(key), 0);
            continue;
        }
        if (CHECK_RC(shmlib_attach(key, hole, SHMLIB_FIXED, &addr, NULL), 0)) {
            CHECK(addr == hole);
            memset(addr, 0x11, size);
            CHECK_RC(shmlib_detach(addr), 0);
        }
        /* A free hint without FIXED is used too. */
        if (CHECK_RC(shmlib_attach(key, hole, 0, &addr, NULL), 0)) {
            CHECKF(addr == hole, "hint %p was free but the segment went to %p", (void *)hole,
                   addr);
            CHECK_RC(shmlib_detach(addr), 0);
        }

        /* FIXED at a taken address: EINVAL, and the mapping there is left
         * alone (never replaced), nothing new mapped. */
        unsigned char *taken =
            mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        CHECK(taken != MAP_FAILED);
        memset(taken, 0x5a, size);
        int mappings = count_shm_mappings();
        addr = NULL;
        CHECK_FAILS(shmlib_attach(key, taken, SHMLIB_FIXED, &addr, NULL), SHMLIB_EINVAL, "attach",
                    key);
        CHECK(addr == NULL);
        CHECK_INT(count_shm_mappings(), mappings);
        /* Without FIXED the hint is only a wish: the segment goes elsewhere. */
        if (CHECK_RC(shmlib_attach(key, taken, 0, &addr, NULL), 0)) {
            CHECK(addr != taken);
            CHECK(((unsigned char *)addr)[0] == 0x11);
            CHECK_RC(shmlib_detach(addr), 0);
        }
        size_t i = 0;
        while (i < size && taken[i] == 0x5a)
            i++;
        CHECKF(i == size, "the mapping at the taken hint was changed at offset %zu", i);
        munmap(taken, size);

        /* Taken only in part: one page in the middle of a free range. */
        hole = free_range(size);
        unsigned char *one = mmap(hole + 2 * page, page, PROT_READ | PROT_WRITE,
                                  MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
        if (hole != NULL && CHECK(one == hole + 2 * page)) {
            one[0] = 0x77;
            CHECK_RC(shmlib_attach(key, hole, SHMLIB_FIXED, &addr, NULL), SHMLIB_EINVAL);
            CHECK(is_mapped(one) && one[0] == 0x77);
            CHECK(!is_mapped(hole));
            munmap(one, page);
        }

        /* FIXED needs a usable hint: not NULL, page-aligned. */
        CHECK_RC(shmlib_attach(key, NULL, SHMLIB_FIXED, &addr, NULL), SHMLIB_EINVAL);
        if (hole != NULL)
            CHECK_RC(shmlib_attach(key, hole + 1, SHMLIB_FIXED, &addr, NULL), SHMLIB_EINVAL);
        CHECK_INT(count_shm_mappings(), mappings);

        CHECK_RC(shmlib_destroy(key), 0);
    }
}

static void test_detach(void)
{
    int local = 0;
    CHECK_FAILS(shmlib_detach(NULL), SHMLIB_EINVAL, "detach", NULL);
    CHECK_FAILS(shmlib_detach(&local), SHMLIB_ENOTATTACHED, "detach", NULL);

    /* A mapping libshm did not make is not libshm's to end. */
    unsigned char *anon =
        mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK_RC(shmlib_detach(anon), SHMLIB_ENOTATTACHED);
    CHECK(is_mapped(anon));
    munmap(anon, page);

    for (int b = POSIX; b <= SYSV; b++) {
        char key[SHMLIB_KEY_MAX];
        printf("   %s\n", backend_names[b]);
        if (!create_any((enum backend)b, 3 * page, 0, key))
            continue;
        unsigned char *a = attach_rw(key, NULL);
        if (a != NULL) {
            a[0] = 1;
            /* Inside a mapping is not its start. */
            CHECK_RC(shmlib_detach(a + 1), SHMLIB_ENOTATTACHED);
            CHECK_RC(shmlib_detach(a + page), SHMLIB_ENOTATTACHED);
            CHECK(is_mapped(a) && is_mapped(a + page) && a[0] == 1);

            CHECK_RC(shmlib_detach(a), 0);
            CHECK(!is_mapped(a));
            CHECK_FAILS(shmlib_detach(a), SHMLIB_ENOTATTACHED, "detach", NULL); /* twice */
        }
        /* The same segment mapped by plain shmat() is not libshm's either. */
        if (b == SYSV) {
            void *raw = shmat(shmid_of(key), NULL, 0);
            if (CHECK(raw != (void *)-1)) {
                CHECK_RC(shmlib_detach(raw), SHMLIB_ENOTATTACHED);
                CHECK(is_mapped(raw));
                shmdt(raw);
            }
        }
        CHECK_RC(shmlib_destroy(key), 0);
    }
}

static void test_destroy(void)
{
    char key[SHMLIB_KEY_MAX], idkey[SHMLIB_KEY_MAX], out[SHMLIB_KEY_MAX], path[PATH_MAX];
    shmlib_stat_t st;
    void *addr = NULL;
    struct stat sb;

    /* Nothing to destroy. */
    posix_key(key, sizeof key, "never-made");
    CHECK_FAILS(shmlib_destroy(key), SHMLIB_ENOENT, "destroy", key);
    sysv_key(key, sizeof key, 7);
    CHECK_FAILS(shmlib_destroy(key), SHMLIB_ENOENT, "destroy", key);
    CHECK_RC(shmlib_destroy("sysv:id=2147483647"), SHMLIB_ENOENT);

    /* POSIX, destroyed while attached: gone from /dev/shm at once, the
     * mapping keeps working, new attaches fail. */
    posix_key(key, sizeof key, "destroy");
    if (create_ok(key, page, 0, out)) {
        unsigned char *p = attach_rw(key, NULL);
        if (p != NULL)
            harness_fill(p, page, 6);
        CHECK_RC(shmlib_destroy(key), 0);
        CHECK(stat(posix_path(key, path, sizeof path), &sb) != 0 && errno == ENOENT);
        CHECK_FAILS(shmlib_attach(key, NULL, 0, &addr, NULL), SHMLIB_ENOENT, "attach", key);
        CHECK_RC(shmlib_stat(key, &st), SHMLIB_ENOENT);
        CHECK_RC(shmlib_destroy(key), SHMLIB_ENOENT); /* already destroyed */
        if (p != NULL) {
            CHECK_INT(harness_verify(p, page, 6), page);
            harness_fill(p, page, 7); /* still writable */
            CHECK_INT(harness_verify(p, page, 7), page);
        }
        /* The name is free again: a new, separate segment. */
        unsigned char *q = NULL;
        if (create_ok(key, page, 0, out) && (q = attach_rw(key, NULL)) != NULL) {
            CHECK(all_zero(q, page));
            q[0] = 1;
            if (p != NULL)
                CHECK_INT(harness_verify(p, page, 7), page);
            CHECK_RC(shmlib_detach(q), 0);
        }
        CHECK_RC(shmlib_destroy(key), 0);
        if (p != NULL)
            CHECK_RC(shmlib_detach(p), 0);
    }

    /* System V, destroyed while attached: marked, still there by id until
     * the last detach, but no new attaches, not even by id. */
    sysv_key(key, sizeof key, 8);
    if (create_ok(key, page, 0, out)) {
        int id = shmid_of(key);
        snprintf(idkey, sizeof idkey, "sysv:id=%d", id);
        unsigned char *p = attach_rw(key, NULL);
        if (p != NULL)
            harness_fill(p, page, 8);
        CHECK_RC(shmlib_destroy(key), 0);
        CHECK_RC(shmlib_attach(key, NULL, 0, &addr, NULL), SHMLIB_ENOENT);
        CHECK_FAILS(shmlib_attach(idkey, NULL, 0, &addr, NULL), SHMLIB_ENOENT, "attach", idkey);
        CHECK_RC(shmlib_stat(key, &st), SHMLIB_ENOENT);
        CHECK_RC(shmlib_destroy(key), SHMLIB_ENOENT);
        if (CHECK_RC(shmlib_stat(idkey, &st), 0)) {
            CHECKF(st.flags & SHMLIB_STAT_DESTROYED, "stat flags 0x%x lack DESTROYED", st.flags);
            CHECK_INT(st.nattach, 1);
            CHECK_INT(st.shmid, id);
            CHECK_STR(st.key, idkey); /* no key any more: named by id */
        }
        CHECK_RC(shmlib_destroy(idkey), SHMLIB_ENOENT); /* already destroyed */
        if (p != NULL) {
            CHECK_INT(harness_verify(p, page, 8), page);
            harness_fill(p, page, 9);
            CHECK_INT(harness_verify(p, page, 9), page);
            /* The key is free again while the old segment lives on. */
            if (create_ok(key, page, 0, out)) {
                CHECK(shmid_of(key) != id);
                CHECK_RC(shmlib_destroy(key), 0);
            }
            CHECK_RC(shmlib_detach(p), 0);
        }
        /* Last detach: gone. */
        CHECK_RC(shmlib_stat(idkey, &st), SHMLIB_ENOENT);
        struct shmid_ds ds;
        CHECK(shmctl(id, IPC_STAT, &ds) != 0);
    }

    /* A System V segment with no one attached goes at once. */
    if (create_ok("sysv:private", page, 0, out)) {
        int id = shmid_of(out);
        CHECK_RC(shmlib_destroy(out), 0);
        CHECK_RC(shmlib_stat(out, &st), SHMLIB_ENOENT);
        struct shmid_ds ds;
        CHECK(shmctl(id, IPC_STAT, &ds) != 0);
    }
}

static void test_stat(void)
{
    char key[SHMLIB_KEY_MAX], out[SHMLIB_KEY_MAX], path[PATH_MAX];
    shmlib_stat_t st, untouched;
    struct stat sb;
    void *a = NULL, *c = NULL;

    /* Failure leaves *out_stat alone; NULL out_stat is EINVAL. */
    posix_key(key, sizeof key, "never-made");
    memset(&st, 0xab, sizeof st);
    memcpy(&untouched, &st, sizeof st);
    CHECK_RC(shmlib_stat(key, &st), SHMLIB_ENOENT);
    CHECK(memcmp(&st, &untouched, sizeof st) == 0);
    CHECK_RC(shmlib_stat(key, NULL), SHMLIB_EINVAL);

    /* POSIX. */
    time_t t0 = time(NULL);
    posix_key(key, sizeof key, "stat");
    if (create_ok(key, 12345, 0640, out)) {
        CHECK(stat(posix_path(key, path, sizeof path), &sb) == 0);
        if (CHECK_RC(shmlib_stat(key, &st), 0)) {
            time_t t1 = time(NULL);
            CHECK_STR(st.key, key);
            CHECK_INT(st.size, 12345);
            CHECK_INT(st.nattach, -1);
            CHECK_INT(st.backend, SHMLIB_BACKEND_POSIX);
            CHECK_INT(st.mode, 0640);
            CHECK_INT(st.uid, geteuid());
            CHECK_INT(st.gid, getegid());
            CHECK_INT(st.uid, sb.st_uid);
            CHECK_INT(st.cuid, st.uid);
            CHECK_INT(st.cgid, st.gid);
            CHECK_INT(st.cpid, 0);
            CHECK_INT(st.lpid, 0);
            CHECK_INT(st.shmid, -1);
            CHECK_INT(st.ipc_key, 0);
            CHECK_INT(st.flags, 0);
            CHECK_INT(st.dtime, 0);
            CHECKF(st.ctime >= t0 - 1 && st.ctime <= t1 + 1, "ctime %lld, created at %lld",
                   (long long)st.ctime, (long long)t0);
            CHECK_INT(st.ctime, sb.st_ctime);
            CHECK(st.atime >= 0);
            CHECK_INT(st.reserved0, 0);
            for (int i = 0; i < 6; i++)
                CHECK_INT(st.reserved[i], 0);
        }
        /* The kernel does not count POSIX attaches. */
        if (CHECK_RC(shmlib_attach(key, NULL, 0, &a, NULL), 0)) {
            CHECK_RC(shmlib_stat(key, &st), 0);
            CHECK_INT(st.nattach, -1);
            CHECK_RC(shmlib_detach(a), 0);
        }
        CHECK_RC(shmlib_destroy(key), 0);
    }

    /* System V: the kernel's own record, nattach counting up and down. */
    t0 = time(NULL);
    if (create_ok("sysv:", 12345, 0640, out)) {
        unsigned k = 0;
        sscanf(out, "sysv:key=0x%x", &k);
        if (CHECK_RC(shmlib_stat(out, &st), 0)) {
            CHECK_STR(st.key, out);
            CHECK_INT(st.size, 12345);
            CHECK_INT(st.nattach, 0);
            CHECK_INT(st.backend, SHMLIB_BACKEND_SYSV);
            CHECK_INT(st.mode, 0640);
            CHECK_INT(st.uid, geteuid());
            CHECK_INT(st.gid, getegid());
            CHECK_INT(st.cuid, geteuid());
            CHECK_INT(st.cgid, getegid());
            CHECK_INT(st.cpid, getpid());
            CHECK_INT(st.lpid, 0);
            CHECK_INT(st.shmid, shmget((key_t)k, 0, 0));
            CHECK_INT(st.ipc_key, k);
            CHECK_INT(st.flags, 0);
            CHECK_INT(st.atime, 0);
            CHECK_INT(st.dtime, 0);
            CHECK(st.ctime >= t0 - 1 && st.ctime <= time(NULL) + 1);
            CHECK_INT(st.reserved0, 0);
            for (int i = 0; i < 6; i++)
                CHECK_INT(st.reserved[i], 0);
        }
        if (CHECK_RC(shmlib_attach(out, NULL, 0, &a, NULL), 0)) {
            CHECK_RC(shmlib_stat(out, &st), 0);
            CHECK_INT(st.nattach, 1);
            CHECK_INT(st.lpid, getpid());
            CHECK(st.atime >= t0 - 1 && st.atime <= time(NULL) + 1);
            if (CHECK_RC(shmlib_attach(out, NULL, SHMLIB_RDONLY, &c, NULL), 0)) {
                CHECK_RC(shmlib_stat(out, &st), 0);
                CHECK_INT(st.nattach, 2);
                CHECK_RC(shmlib_detach(c), 0);
                CHECK_RC(shmlib_stat(out, &st), 0);
                CHECK_INT(st.nattach, 1);
                CHECK(st.dtime >= t0 - 1 && st.dtime <= time(NULL) + 1);
            }
            CHECK_RC(shmlib_detach(a), 0);
            CHECK_RC(shmlib_stat(out, &st), 0);
            CHECK_INT(st.nattach, 0);
        }

        /* Other spellings of the same segment give the canonical key. */
        char other[SHMLIB_KEY_MAX];
        snprintf(other, sizeof other, "sysv:key=%u", k);
        if (CHECK_RC(shmlib_stat(other, &st), 0))
            CHECK_STR(st.key, out);

        /* SHM_LOCK shows as SHMLIB_STAT_LOCKED. */
        int id = shmid_of(out);
        if (CHECK(shmctl(id, SHM_LOCK, NULL) == 0)) {
            CHECK_RC(shmlib_stat(out, &st), 0);
            CHECKF(st.flags == SHMLIB_STAT_LOCKED, "flags 0x%x, want LOCKED", st.flags);
            CHECK(shmctl(id, SHM_UNLOCK, NULL) == 0);
            CHECK_RC(shmlib_stat(out, &st), 0);
            CHECK_INT(st.flags, 0);
        }
        CHECK_RC(shmlib_destroy(out), 0);
    }

    /* IPC_PRIVATE: known by id, ipc_key 0. */
    if (create_ok("sysv:private", 100, 0, out)) {
        if (CHECK_RC(shmlib_stat(out, &st), 0)) {
            CHECK_STR(st.key, out);
            CHECK_INT(st.ipc_key, 0);
            CHECK_INT(st.cpid, getpid());
        }
        CHECK_RC(shmlib_destroy(out), 0);
    }
}

/* Is `key` among the n items? Returns its index or -1. */
static long find_item(const shmlib_stat_t *items, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(items[i].key, key) == 0)
            return (long)i;
    return -1;
}

static void test_list(void)
{
    char keys[4][SHMLIB_KEY_MAX];
    size_t count = 0, total = 0, cap;
    shmlib_stat_t one[1], *items;
    int made = 0, rc;

    posix_key(keys[0], sizeof keys[0], "list-b");
    posix_key(keys[1], sizeof keys[1], "list-a");
    made += create_ok(keys[0], 111, 0, keys[0]);
    made += create_ok(keys[1], 222, 0, keys[1]);
    made += create_ok("sysv:", 333, 0, keys[2]);
    made += create_ok("sysv:private", 444, 0, keys[3]);
    if (made != 4)
        goto cleanup;

    CHECK_RC(shmlib_list(NULL, 0, NULL), SHMLIB_EINVAL);
    CHECK_RC(shmlib_list(NULL, 3, &count), SHMLIB_EINVAL);
    CHECK_RC(shmlib_list(one, 1, NULL), SHMLIB_EINVAL);

    /* The sizing call. */
    CHECK_RC(shmlib_list(NULL, 0, &total), 0);
    CHECK(total >= 4);

    /* Room to spare, called again if segments appeared in between. */
    cap = total + 16;
    items = calloc(cap, sizeof *items);
    rc = shmlib_list(items, cap, &count);
    CHECK_RC(rc, 0);
    if (rc == 0 && CHECK(count <= cap && count >= 4)) {
        static const uint64_t sizes[] = {111, 222, 333, 444};
        for (int i = 0; i < 4; i++) {
            long at = find_item(items, count, keys[i]);
            if (CHECKF(at >= 0, "list does not show %s", keys[i])) {
                CHECK_INT(items[at].size, sizes[i]);
                CHECK_INT(items[at].backend, i < 2 ? SHMLIB_BACKEND_POSIX : SHMLIB_BACKEND_SYSV);
            }
        }
        /* POSIX first, sorted by name, then System V, sorted by shmid. */
        for (size_t i = 0; i + 1 < count; i++) {
            const shmlib_stat_t *x = &items[i], *y = &items[i + 1];
            CHECK(x->backend == SHMLIB_BACKEND_POSIX || x->backend == SHMLIB_BACKEND_SYSV);
            if (x->backend == SHMLIB_BACKEND_SYSV)
                CHECKF(y->backend == SHMLIB_BACKEND_SYSV && x->shmid < y->shmid,
                       "list order: %s (shmid %d) before %s (shmid %d)", x->key, x->shmid, y->key,
                       y->shmid);
            else if (y->backend == SHMLIB_BACKEND_POSIX)
                CHECKF(strcmp(x->key, y->key) < 0, "list order: %s before %s", x->key, y->key);
        }
        CHECK(find_item(items, count, keys[1]) < find_item(items, count, keys[0]));
        /* A listed item is what stat says of it. */
        long at = find_item(items, count, keys[2]);
        shmlib_stat_t st;
        if (at >= 0 && CHECK_RC(shmlib_stat(keys[2], &st), 0)) {
            CHECK_INT(items[at].shmid, st.shmid);
            CHECK_INT(items[at].ipc_key, st.ipc_key);
            CHECK_INT(items[at].mode, st.mode);
            CHECK_INT(items[at].cpid, st.cpid);
        }
    }

    /* Too small: ERANGE, the first `capacity` written, the total told. */
    memset(items, 0, cap * sizeof *items);
    count = 0;
    CHECK_RC(shmlib_list(items, 1, &count), SHMLIB_ERANGE);
    CHECK(count >= 4);
    CHECK(items[0].key[0] != '\0' && (items[0].backend == SHMLIB_BACKEND_POSIX ||
                                      items[0].backend == SHMLIB_BACKEND_SYSV));
    CHECK(items[1].key[0] == '\0'); /* only one written */
    count = 0;
    CHECK_RC(shmlib_list(items, 0, &count), SHMLIB_ERANGE);
    CHECK(count >= 4);
    free(items);

cleanup:
    for (int i = 0; i < made && i < 4; i++)
        CHECK_RC(shmlib_destroy(keys[i]), 0);

    /* Destroyed segments are no longer listed. */
    if (made == 4 && CHECK_RC(shmlib_list(NULL, 0, &total), 0)) {
        cap = total + 16;
        items = calloc(cap, sizeof *items);
        if (CHECK_RC(shmlib_list(items, cap, &count), 0))
            for (int i = 0; i < 4; i++)
                CHECKF(find_item(items, count, keys[i]) < 0, "%s still listed", keys[i]);
        free(items);
    }
}

static void test_ftok(void)
{
    char dir[] = "/tmp/libshm-api-ftok-XXXXXX";
    char file[PATH_MAX], missing[PATH_MAX], out[SHMLIB_KEY_MAX], want[SHMLIB_KEY_MAX];

    if (!CHECK(mkdtemp(dir) != NULL))
        return;
    snprintf(file, sizeof file, "%s/f", dir);
    snprintf(missing, sizeof missing, "%s/missing", dir);
    int fd = open(file, O_CREAT | O_WRONLY, 0600);
    CHECK(fd >= 0);
    close(fd);

    /* The very key glibc's ftok() gives, for files and directories. */
    const char *const paths[] = {file, dir, "/"};
    static const int ids[] = {1, 2, 'A', 0x7f, 0x80, 255};
    for (size_t i = 0; i < 3; i++) {
        for (size_t j = 0; j < sizeof ids / sizeof ids[0]; j++) {
            snprintf(want, sizeof want, "sysv:key=0x%08x", (unsigned)ftok(paths[i], ids[j]));
            memset(out, 0, sizeof out);
            if (CHECK_RC(shmlib_ftok(paths[i], ids[j], out, sizeof out), 0))
                CHECKF(strcmp(out, want) == 0, "ftok(%s, %d) gave %s, glibc %s", paths[i], ids[j],
                       out, want);
        }
    }

    /* proj_id must be 1..255. */
    static const int bad_ids[] = {0, 256, -1, 1000, INT_MIN};
    for (size_t j = 0; j < sizeof bad_ids / sizeof bad_ids[0]; j++) {
        CHECK_FAILS(shmlib_ftok(file, bad_ids[j], out, sizeof out), SHMLIB_EINVAL, "ftok", NULL);
    }
    CHECK_RC(shmlib_ftok(NULL, 1, out, sizeof out), SHMLIB_EINVAL);
    CHECK_RC(shmlib_ftok("", 1, out, sizeof out), SHMLIB_EINVAL);
    CHECK_RC(shmlib_ftok(file, 1, NULL, 0), SHMLIB_EINVAL);
    CHECK_RC(shmlib_ftok(file, 1, NULL, sizeof out), SHMLIB_EINVAL);
    CHECK_FAILS(shmlib_ftok(missing, 1, out, sizeof out), SHMLIB_ENOENT, "ftok", missing);
    snprintf(missing, sizeof missing, "%s/missing/f", dir);
    CHECK_RC(shmlib_ftok(missing, 1, out, sizeof out), SHMLIB_ENOENT);

    /* "sysv:key=0x%08x" is 19 bytes plus the NUL. */
    memset(out, '#', sizeof out);
    CHECK_RC(shmlib_ftok(file, 1, out, 19), SHMLIB_ERANGE);
    CHECK(out[0] == '#');
    CHECK_RC(shmlib_ftok(file, 1, out, 0), SHMLIB_ERANGE);
    CHECK_RC(shmlib_ftok(file, 1, out, 20), 0);
    snprintf(want, sizeof want, "sysv:key=0x%08x", (unsigned)ftok(file, 1));
    CHECK_STR(out, want);

    /* The key is one create and attach understand. */
    char made[SHMLIB_KEY_MAX];
    if (shmlib_ftok(file, 3, out, sizeof out) == 0 && create_ok(out, 100, 0, made)) {
        CHECK_STR(made, out);
        CHECK(shmget(ftok(file, 3), 0, 0) >= 0);
        CHECK_RC(shmlib_destroy(out), 0);
    }

    unlink(file);
    rmdir(dir);
}

/* What a child forked without exec (from test_forked_child) checks: p and s
 * are the parent's mappings of the segments pkey and skey. */
static void forked_child(unsigned char *p, unsigned char *s, const char *pkey, const char *skey)
{
    char out[SHMLIB_KEY_MAX], msg[512];
    void *addr = NULL;
    shmlib_stat_t st;
    size_t n;

    harness_child_begin("[forked child] ");
    CHECK_INT(harness_verify(p, page, 10), page);
    CHECK_INT(harness_verify(s, page, 11), page);

    CHECK_RC(shmlib_attach(pkey, NULL, 0, &addr, NULL), SHMLIB_EFORKED);
    CHECK_RC(shmlib_last_error(msg, sizeof msg), 0);
    CHECKF(strstr(msg, "attach") != NULL && strstr(msg, "fork") != NULL,
           "message \"%s\" should name attach and fork", msg);
    CHECK_RC(shmlib_create(NULL, 10, 0, 0, out, sizeof out), SHMLIB_EFORKED);
    CHECK_RC(shmlib_create("sysv:", 10, 0, 0, out, sizeof out), SHMLIB_EFORKED);
    CHECK_RC(shmlib_attach(skey, NULL, 0, &addr, NULL), SHMLIB_EFORKED);
    CHECK_RC(shmlib_detach(p), SHMLIB_EFORKED);
    CHECK_RC(shmlib_detach(s), SHMLIB_EFORKED);
    CHECK_RC(shmlib_destroy(pkey), SHMLIB_EFORKED);
    CHECK_RC(shmlib_destroy(skey), SHMLIB_EFORKED);
    CHECK_RC(shmlib_stat(pkey, &st), SHMLIB_EFORKED);
    CHECK_RC(shmlib_list(NULL, 0, &n), SHMLIB_EFORKED);
    CHECK_RC(shmlib_ftok("/", 1, out, sizeof out), SHMLIB_EFORKED);
    /* Even bad arguments get EFORKED: nothing is looked at. */
    CHECK_RC(shmlib_detach(NULL), SHMLIB_EFORKED);

    CHECK_INT(shmlib_version(), SHMLIB_VERSION_NUMBER);
    CHECK_STR(shmlib_version_string(), SHMLIB_VERSION_STRING);
    CHECK_STR(shmlib_strerror(SHMLIB_ENOENT), "no such segment");
    CHECK(shmlib_strerror(SHMLIB_EFORKED)[0] != '\0');

    /* The refused detach did not unmap; the memory is shared with the parent. */
    CHECK_INT(harness_verify(p, page, 10), page);
    harness_fill(p, page, 12);
    harness_fill(s, page, 13);
    harness_child_exit();
}

/*
 * A child forked without exec: every function but strerror, last_error and
 * the two version ones refuses with SHMLIB_EFORKED, and memory attached
 * before the fork is still there, shared with the parent.
 */
static void test_forked_child(void)
{
    char pkey[SHMLIB_KEY_MAX], skey[SHMLIB_KEY_MAX];
    unsigned char *p = NULL, *s = NULL;
    shmlib_stat_t st;

    if (!create_any(POSIX, page, 0, pkey))
        return;
    if (create_any(SYSV, page, 0, skey)) {
        p = attach_rw(pkey, NULL);
        s = attach_rw(skey, NULL);
    }
    if (p != NULL && s != NULL) {
        harness_fill(p, page, 10);
        harness_fill(s, page, 11);
        fflush(stdout);
        pid_t pid = fork();
        if (pid == 0)
            forked_child(p, s, pkey, skey);
        CHECK_EXIT_OK(harness_wait(pid), "forked child");
        CHECK_INT(harness_verify(p, page, 12), page); /* the child's writes */
        CHECK_INT(harness_verify(s, page, 13), page);
        /* The child's destroy and detach did nothing. */
        CHECK_RC(shmlib_stat(pkey, &st), 0);
        CHECK_RC(shmlib_stat(skey, &st), 0);
        CHECK_INT(st.nattach, 1);
    }
    if (p != NULL)
        CHECK_RC(shmlib_detach(p), 0);
    if (s != NULL)
        CHECK_RC(shmlib_detach(s), 0);
    CHECK_RC(shmlib_destroy(pkey), 0);
    if (shmlib_stat(skey, &st) == 0)
        CHECK_RC(shmlib_destroy(skey), 0);
}

/*
 * The segments a user may not use. The peer is this program run again as
 * "--as-nobody P600 S600 P644 S644 FTOK_PATH": 0600 segments it may not
 * touch, 0644 ones (1 MiB, holding their own key) it may only read, and a
 * file in a 0700 directory it cannot stat.
 */
static int as_nobody(int argc, char **argv)
{
    harness_child_begin("[as nobody] ");
    if (argc != 5) {
        harness_fail(__FILE__, __LINE__, "usage: --as-nobody P600 S600 P644 S644 FTOK_PATH");
        harness_child_exit();
    }
    const char *p600 = argv[0], *s600 = argv[1], *p644 = argv[2], *s644 = argv[3];
    const char *ftok_path = argv[4];

    /* Drop root before the first libshm call. Groups first: after setuid
     * the process may no longer change them. */
    CHECK(setgroups(0, NULL) == 0);
    CHECK(setgid(NOBODY) == 0);
    CHECK(setuid(NOBODY) == 0);
    if (!CHECK(geteuid() == NOBODY && getegid() == NOBODY))
        harness_child_exit();

    void *addr = NULL;
    shmlib_stat_t st;
    char out[SHMLIB_KEY_MAX];

    /* 0600 of root: no attach of any kind. */
    const char *const private_keys[] = {p600, s600};
    for (int i = 0; i < 2; i++) {
        const char *key = private_keys[i];
        CHECK_FAILS(shmlib_attach(key, NULL, 0, &addr, NULL), SHMLIB_EACCES, "attach", key);
        CHECK_RC(shmlib_attach(key, NULL, SHMLIB_RDONLY, &addr, NULL), SHMLIB_EACCES);
        /* Nor destroy: not the owner (System V), sticky /dev/shm (POSIX). */
        CHECK_FAILS(shmlib_destroy(key), SHMLIB_EACCES, "destroy", key);
        /* Nor open it as existing. */
        CHECK_FAILS(shmlib_create(key, 100, 0, SHMLIB_OPEN_EXISTING, out, sizeof out),
                    SHMLIB_EACCES, "create", key);
    }
    /* stat needs no permission on the segment, like ls -l and ipcs -m. */
    for (int i = 0; i < 2; i++)
        if (CHECK_RC(shmlib_stat(private_keys[i], &st), 0)) {
            CHECK_INT(st.uid, 0);
            CHECK_INT(st.mode, 0600);
        }

    /* 0644: read-only attach works where read-write does not. */
    const char *const readable_keys[] = {p644, s644};
    for (int i = 0; i < 2; i++) {
        const char *key = readable_keys[i];
        uint64_t size = 0;
        CHECK_RC(shmlib_attach(key, NULL, 0, &addr, NULL), SHMLIB_EACCES);
        if (CHECK_RC(shmlib_attach(key, NULL, SHMLIB_RDONLY, &addr, &size), 0)) {
            CHECK_INT(size, 1 << 20);
            CHECK(memcmp(addr, key, strlen(key) + 1) == 0);
            CHECK_RC(shmlib_detach(addr), 0);
        }
    }

    /* SHMLIB_LOCK over RLIMIT_MEMLOCK (nobody has no CAP_IPC_LOCK):
     * ENOMEM, and nothing stays mapped. */
    struct rlimit lim = {64 << 10, 64 << 10};
    CHECK(setrlimit(RLIMIT_MEMLOCK, &lim) == 0);
    for (int i = 0; i < 2; i++) {
        int before = count_shm_mappings();
        CHECK_FAILS(shmlib_attach(readable_keys[i], NULL, SHMLIB_RDONLY | SHMLIB_LOCK, &addr, NULL),
                    SHMLIB_ENOMEM, "attach", readable_keys[i]);
        CHECK_INT(count_shm_mappings(), before);
    }

    /* A file nobody may stat. */
    CHECK_FAILS(shmlib_ftok(ftok_path, 1, out, sizeof out), SHMLIB_EACCES, "ftok", ftok_path);

    /* The list is for everyone. */
    size_t n = 0;
    CHECK_RC(shmlib_list(NULL, 0, &n), 0);
    CHECK(n >= 4);

    fflush(stdout);
    return harness_failed == 0 ? 0 : 1;
}

static void test_permissions(void)
{
    if (geteuid() != 0) {
        printf("   skip: not root, so no other user to test permissions with\n");
        return;
    }
    char keys[4][SHMLIB_KEY_MAX];
    int made = 0;
    made += create_ok("posix:", 1 << 20, 0600, keys[0]);
    made += create_ok("sysv:", 1 << 20, 0600, keys[1]);
    made += create_ok("posix:", 1 << 20, 0644, keys[2]);
    made += create_ok("sysv:", 1 << 20, 0644, keys[3]);

    char dir[] = "/tmp/libshm-api-perm-XXXXXX", file[PATH_MAX];
    CHECK(mkdtemp(dir) != NULL); /* mode 0700 */
    snprintf(file, sizeof file, "%s/f", dir);
    int fd = open(file, O_CREAT | O_WRONLY, 0644);
    CHECK(fd >= 0);
    close(fd);

    if (made == 4) {
        /* The readable ones hold their key, for the peer to check. */
        for (int i = 2; i < 4; i++) {
            unsigned char *p = attach_rw(keys[i], NULL);
            if (p != NULL) {
                memcpy(p, keys[i], strlen(keys[i]) + 1);
                CHECK_RC(shmlib_detach(p), 0);
            }
        }
        char *argv[] = {"--as-nobody", keys[0], keys[1], keys[2], keys[3], file, NULL};
        CHECK_EXIT_OK(harness_run_self(argv), "peer running as nobody");

        /* Its destroy was refused: all four are still there. */
        shmlib_stat_t st;
        for (int i = 0; i < 4; i++)
            CHECK_RC(shmlib_stat(keys[i], &st), 0);
    }
    for (int i = 0; i < made; i++)
        CHECK_RC(shmlib_destroy(keys[i]), 0);
    unlink(file);
    rmdir(dir);
}

/* --------------------------------------------------------------- threads */

#define THREADS 8
#define CYCLES 500

struct worker {
    int index;
    int errors;
    char first_error[512];
};

static void worker_error(struct worker *w, int line, const char *what, int rc)
{
    if (w->errors++ == 0)
        snprintf(w->first_error, sizeof w->first_error, "line %d, thread %d: %s: %d %s (%.400s)",
                 line, w->index, what, rc, harness_code_name(rc), harness_last_error());
}

/* create/attach/write/verify/detach/destroy, CYCLES times, alternating the
 * backends, and the segment must be gone after; now and then a failure of its own, whose message must be this
 * thread's and no other's. */
static void *worker_run(void *arg)
{
    struct worker *w = arg;
    char key[SHMLIB_KEY_MAX], missing[SHMLIB_KEY_MAX];
    snprintf(missing, sizeof missing, "posix:/%s-thread-%d-missing", prefix, w->index);

    for (int i = 0; i < CYCLES; i++) {
        size_t size = page * (size_t)(1 + i % 3) - (size_t)(i % 7);
        unsigned seed = (unsigned)(w->index * CYCLES + i);
        void *addr = NULL;
        uint64_t got = 0;
        int rc;

        rc = shmlib_create(i % 2 ? "sysv:" : "posix:", size, 0, 0, key, sizeof key);
        if (rc != 0) {
            worker_error(w, __LINE__, "create", rc);
            continue;
        }
        rc = shmlib_attach(key, NULL, 0, &addr, &got);
        if (rc != 0) {
            worker_error(w, __LINE__, "attach", rc);
        } else {
            if (got != size)
                worker_error(w, __LINE__, "attach size", (int)got);
            harness_fill(addr, size, seed);
            if (harness_verify(addr, size, seed) != size)
                worker_error(w, __LINE__, "verify", 0);
            rc = shmlib_detach(addr);
            if (rc != 0)
                worker_error(w, __LINE__, "detach", rc);
        }
        rc = shmlib_destroy(key);
        if (rc != 0)
            worker_error(w, __LINE__, "destroy", rc);
        shmlib_stat_t st;
        rc = shmlib_stat(key, &st);
        if (rc != SHMLIB_ENOENT)
            worker_error(w, __LINE__, "stat after destroy", rc);

        if (i % 25 == 0) {
            rc = shmlib_attach(missing, NULL, 0, &addr, NULL);
            if (rc != SHMLIB_ENOENT)
                worker_error(w, __LINE__, "attach of a missing key", rc);
            else if (strstr(harness_last_error(), missing) == NULL)
                worker_error(w, __LINE__, "last error is another thread's", rc);
        }
    }
    return NULL;
}

static void test_threads(void)
{
    struct worker workers[THREADS];
    pthread_t threads[THREADS];
    struct snapshot before;
    int mappings = count_shm_mappings();

    snapshot_take(&before);
    for (int i = 0; i < THREADS; i++) {
        workers[i] = (struct worker){.index = i};
        CHECK(pthread_create(&threads[i], NULL, worker_run, &workers[i]) == 0);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(threads[i], NULL);
        CHECKF(workers[i].errors == 0, "thread %d: %d errors, the first: %s", i,
               workers[i].errors, workers[i].first_error);
    }
    /* Each worker saw each of its segments gone after destroy. The System V
     * table is checked too; /dev/shm is not: over this long a run, other
     * programs' objects would show up in it. */
    check_nothing_left(&before, 0, "8 threads of create/attach/detach/destroy", __FILE__,
                       __LINE__);
    snapshot_free(&before);
    CHECK_INT(count_shm_mappings(), mappings);
}

/* ------------------------------------------------- a guest in the process */

/*
 * The library never writes to stdout or stderr and installs no handler for
 * the signals a program handles itself. (The Go runtime inside does take
 * the synchronous signals, SIGPIPE and SIGURG; those are not checked.)
 */
static void test_quiet_guest(void)
{
    char tmpl[] = "/tmp/libshm-api-out-XXXXXX";
    int capture = mkstemp(tmpl);
    if (!CHECK(capture >= 0))
        return;
    unlink(tmpl);

    fflush(stdout);
    fflush(stderr);
    int saved_out = dup(1), saved_err = dup(2);
    dup2(capture, 1);
    dup2(capture, 2);

    /* Successes and failures of every kind, nothing checked until the
     * output is back. */
    char key[SHMLIB_KEY_MAX], buf[512];
    void *addr = NULL;
    shmlib_stat_t st;
    size_t n;
    int failures = 0;
    failures += shmlib_create("posix:", 100, 0, 0, key, sizeof key) != 0;
    failures += shmlib_attach(key, NULL, 0, &addr, NULL) != 0;
    failures += shmlib_detach(addr) != 0;
    failures += shmlib_destroy(key) != 0;
    failures += shmlib_attach(key, NULL, 0, &addr, NULL) != SHMLIB_ENOENT;
    failures += shmlib_attach("bogus:x", NULL, 0, &addr, NULL) != SHMLIB_EINVAL;
    failures += shmlib_detach(&n) != SHMLIB_ENOTATTACHED;
    failures += shmlib_stat(NULL, &st) != SHMLIB_EINVAL;
    failures += shmlib_list(NULL, 0, &n) != 0;
    failures += shmlib_ftok("/nonexistent", 1, buf, sizeof buf) != SHMLIB_ENOENT;
    failures += shmlib_last_error(buf, 2) != SHMLIB_ERANGE;
    failures += shmlib_create("sysv:", 100, 0, 0, key, sizeof key) != 0;
    failures += shmlib_create(key, 100, 0, 0, NULL, 0) != SHMLIB_EEXIST;
    failures += shmlib_destroy(key) != 0;

    fflush(stdout);
    fflush(stderr);
    dup2(saved_out, 1);
    dup2(saved_err, 2);
    close(saved_out);
    close(saved_err);

    CHECK_INT(failures, 0);
    struct stat sb;
    CHECK(fstat(capture, &sb) == 0);
    CHECKF(sb.st_size == 0, "the library wrote %lld bytes to stdout/stderr", (long long)sb.st_size);
    if (sb.st_size > 0) {
        char text[512] = "";
        ssize_t got = pread(capture, text, sizeof text - 1, 0);
        printf("   it wrote: %.*s\n", got > 0 ? (int)got : 0, text);
    }
    close(capture);

    static const int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGCHLD,
                               SIGALRM, SIGWINCH, SIGCONT, SIGTSTP};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
        struct sigaction sa;
        CHECK(sigaction(sigs[i], NULL, &sa) == 0);
        /* SIG_IGN is what a shell gives background jobs for SIGINT and SIGQUIT. */
        CHECKF(!(sa.sa_flags & SA_SIGINFO) &&
                   (sa.sa_handler == SIG_DFL || sa.sa_handler == SIG_IGN),
               "signal %d (%s) has a handler the program did not install", sigs[i],
               strsignal(sigs[i]));
    }
}

/* ------------------------------------------------------------------ main */

static const struct {
    const char *name;
    void (*run)(void);
} tests[] = {
#define TEST(name) {#name, name}
    TEST(test_version),
    TEST(test_strerror),
    TEST(test_last_error),
    TEST(test_create_chosen_keys),
    TEST(test_create_named_keys),
    TEST(test_create_arguments),
    TEST(test_create_existing),
    TEST(test_create_limits),
    TEST(test_malformed_keys),
    TEST(test_key_normalize),
    TEST(test_raw_byte_names),
    TEST(test_attach),
    TEST(test_attach_rdonly),
    TEST(test_attach_populate),
    TEST(test_attach_lock),
    TEST(test_attach_fixed),
    TEST(test_detach),
    TEST(test_destroy),
    TEST(test_stat),
    TEST(test_list),
    TEST(test_ftok),
    TEST(test_forked_child),
    TEST(test_permissions),
    TEST(test_threads),
    TEST(test_quiet_guest),
#undef TEST
};

/* test_api [TEST_NAME...]: all tests, or only those named. */
int main(int argc, char **argv)
{
    page = (size_t)sysconf(_SC_PAGESIZE);
    snprintf(prefix, sizeof prefix, "libshm-api-%d", (int)getpid());

    if (argc >= 2 && strcmp(argv[1], "--as-nobody") == 0)
        return as_nobody(argc - 2, argv + 2);

    /* Before any failure the last error is "". */
    char first[16] = "x";
    CHECK_RC(shmlib_last_error(first, sizeof first), 0);
    CHECK_STR(first, "");

    for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++) {
        int wanted = argc < 2;
        for (int a = 1; a < argc && !wanted; a++)
            wanted = strcmp(argv[a], tests[i].name) == 0;
        if (!wanted)
            continue;
        printf("-- %s\n", tests[i].name);
        fflush(stdout);
        tests[i].run();
    }
    return harness_finish();
}
