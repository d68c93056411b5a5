/*
 * test_interop.c - libshm's segments are the kernel's own: programs that
 * never heard of libshm use them with shm_open()+mmap() or shmget()+shmat(),
 * `ipcs -m` lists them, and libshm uses theirs. Same bytes both ways, in one
 * process and across processes.
 *
 * Roles: run without arguments for the tests. The peers it starts are this
 * program again (a process forked without exec may not call libshm):
 *   --raw-posix NAME SIZE SEED_IN SEED_OUT    shm_open+mmap, no libshm
 *   --raw-sysv  SHMID SIZE SEED_IN SEED_OUT   shmat, no libshm
 *   --libshm    KEY SIZE SEED_IN SEED_OUT     shmlib_attach
 * Each checks that the whole segment holds pattern SEED_IN, writes pattern
 * SEED_OUT, and exits 0 if all went well.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdint.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/stat.h>

#include "harness.h"

static size_t page;
/* "libshm-interop-PID": POSIX names of this run start with it. */
static char prefix[64];

/* Both mappings show the same pages: a write to either is read in the other. */
static void check_same_bytes(unsigned char *a, unsigned char *b, size_t len, unsigned seed)
{
    harness_fill(a, len, seed);
    CHECK_INT(harness_verify(b, len, seed), len);
    harness_fill(b, len, seed + 1);
    CHECK_INT(harness_verify(a, len, seed + 1), len);
}

/* Runs a peer role of this program on a segment holding pattern seed_in;
 * afterwards it must hold seed_out. */
static void check_peer(const char *role, const char *target, size_t size, unsigned seed_in,
                       unsigned seed_out, const unsigned char *mine)
{
    char size_s[32], in_s[16], out_s[16];
    snprintf(size_s, sizeof size_s, "%zu", size);
    snprintf(in_s, sizeof in_s, "%u", seed_in);
    snprintf(out_s, sizeof out_s, "%u", seed_out);
    char *argv[] = {(char *)role, (char *)target, size_s, in_s, out_s, NULL};
    char what[PATH_MAX];
    snprintf(what, sizeof what, "peer %s %s", role, target);
    CHECK_EXIT_OK(harness_run_self(argv), what);
    CHECKF(harness_verify(mine, size, seed_out) == size, "%s: its writes are not seen here", what);
}

/* ------------------------------------------------------------------ peers */

static int peer(char **argv)
{
    const char *role = argv[1], *target = argv[2];
    size_t size = (size_t)strtoull(argv[3], NULL, 10);
    unsigned seed_in = (unsigned)strtoul(argv[4], NULL, 10);
    unsigned seed_out = (unsigned)strtoul(argv[5], NULL, 10);
    unsigned char *p = NULL;

    harness_child_begin("[peer] ");
    if (strcmp(role, "--raw-posix") == 0) {
        int fd = shm_open(target, O_RDWR, 0);
        struct stat sb;
        if (CHECKF(fd >= 0, "shm_open(%s): %s", target, strerror(errno)) &&
            CHECK(fstat(fd, &sb) == 0)) {
            CHECK_INT(sb.st_size, size);
            p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
            CHECK(p != MAP_FAILED);
            close(fd);
        }
    } else if (strcmp(role, "--raw-sysv") == 0) {
        int id = atoi(target);
        struct shmid_ds ds;
        if (CHECK(shmctl(id, IPC_STAT, &ds) == 0))
            CHECK_INT(ds.shm_segsz, size);
        p = shmat(id, NULL, 0);
        CHECKF(p != (void *)-1, "shmat(%d): %s", id, strerror(errno));
    } else {
        uint64_t got = 0;
        void *addr = NULL;
        if (CHECK_RC(shmlib_attach(target, NULL, 0, &addr, &got), 0)) {
            CHECK_INT(got, size);
            p = addr;
        }
    }
    if (p == NULL || p == MAP_FAILED || p == (void *)-1)
        harness_child_exit();

    CHECK_INT(harness_verify(p, size, seed_in), size);
    harness_fill(p, size, seed_out);

    if (strcmp(role, "--raw-posix") == 0)
        CHECK(munmap(p, size) == 0);
    else if (strcmp(role, "--raw-sysv") == 0)
        CHECK(shmdt(p) == 0);
    else
        CHECK_RC(shmlib_detach(p), 0);
    harness_child_exit();
}

/* ------------------------------------------------------------- ipcs -m */

struct ipcs_row {
    unsigned key;
    int shmid;
    char owner[64];
    unsigned perms;
    unsigned long long bytes;
    unsigned long long nattch;
    char status[64];
};

/* Finds the segment shmid in the output of `ipcs -m`; 1 if found. Its rows
 * read "key shmid owner perms bytes nattch [status]". */
static int ipcs_find(int shmid, struct ipcs_row *row)
{
    FILE *f = popen("ipcs -m", "r");
    char line[512];
    int found = 0;
    if (f == NULL)
        return 0;
    while (fgets(line, sizeof line, f) != NULL) {
        struct ipcs_row r;
        memset(&r, 0, sizeof r);
        if (sscanf(line, "%x %d %63s %o %llu %llu %63s", &r.key, &r.shmid, r.owner, &r.perms,
                   &r.bytes, &r.nattch, r.status) >= 6 &&
            r.shmid == shmid) {
            *row = r;
            found = 1;
        }
    }
    pclose(f);
    return found;
}

/* ================================================================ tests */

/* libshm creates a POSIX segment; shm_open()+mmap() use it. */
static void test_posix_libshm_to_raw(void)
{
    const size_t size = 2 * page + 123;
    char key[SHMLIB_KEY_MAX], name[SHMLIB_KEY_MAX];
    if (!CHECK_RC(shmlib_create("posix:", size, 0640, 0, key, sizeof key), 0))
        return;
    snprintf(name, sizeof name, "%s", key + strlen("posix:")); /* "/NAME" */

    unsigned char *mine = NULL, *raw = MAP_FAILED;
    int fd = shm_open(name, O_RDWR, 0);
    struct stat sb;
    if (CHECKF(fd >= 0, "shm_open(%s) of %s: %s", name, key, strerror(errno))) {
        CHECK(fstat(fd, &sb) == 0);
        CHECK_INT(sb.st_size, size);
        CHECK_INT(sb.st_mode & 07777, 0640);
        raw = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        CHECK(raw != MAP_FAILED);
        close(fd);
    }
    void *addr = NULL;
    if (CHECK_RC(shmlib_attach(key, NULL, 0, &addr, NULL), 0))
        mine = addr;

    if (mine != NULL && raw != MAP_FAILED) {
        check_same_bytes(mine, raw, size, 1);
        harness_fill(mine, size, 3);
        check_peer("--raw-posix", name, size, 3, 4, mine);
    }

    /* Destroyed by libshm: gone for shm_open too, mappings keep working. */
    CHECK_RC(shmlib_destroy(key), 0);
    errno = 0;
    CHECK(shm_open(name, O_RDWR, 0) < 0 && errno == ENOENT);
    if (mine != NULL && raw != MAP_FAILED)
        check_same_bytes(raw, mine, size, 5);
    if (raw != MAP_FAILED)
        munmap(raw, size);
    if (mine != NULL)
        CHECK_RC(shmlib_detach(mine), 0);
}

/* shm_open() creates a POSIX object; libshm uses it by both key spellings. */
static void test_posix_raw_to_libshm(void)
{
    const size_t size = 3 * page + 7;
    char name[128], key[SHMLIB_KEY_MAX];
    snprintf(name, sizeof name, "/%s-raw", prefix);
    snprintf(key, sizeof key, "posix:%s", name);

    int fd = shm_open(name, O_CREAT | O_EXCL | O_RDWR, 0640);
    if (!CHECKF(fd >= 0, "shm_open(%s, O_CREAT): %s", name, strerror(errno)))
        return;
    fchmod(fd, 0640); /* whatever the umask */
    CHECK(ftruncate(fd, (off_t)size) == 0);
    unsigned char *raw = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (!CHECK(raw != MAP_FAILED)) {
        shm_unlink(name);
        return;
    }

    const char *const spellings[] = {key, name};
    for (int i = 0; i < 2; i++) {
        void *addr = NULL;
        uint64_t got = 0;
        if (CHECK_RC(shmlib_attach(spellings[i], NULL, 0, &addr, &got), 0)) {
            CHECK_INT(got, size);
            check_same_bytes(raw, addr, size, 10 + 2 * (unsigned)i);
            CHECK_RC(shmlib_detach(addr), 0);
        }
    }

    /* What libshm knows of it. */
    shmlib_stat_t st;
    if (CHECK_RC(shmlib_stat(name, &st), 0)) {
        CHECK_STR(st.key, key);
        CHECK_INT(st.backend, SHMLIB_BACKEND_POSIX);
        CHECK_INT(st.size, size);
        CHECK_INT(st.mode, 0640);
    }
    size_t total = 0, count = 0;
    if (CHECK_RC(shmlib_list(NULL, 0, &total), 0)) {
        size_t cap = total + 16;
        shmlib_stat_t *items = calloc(cap, sizeof *items);
        int listed = 0;
        if (CHECK_RC(shmlib_list(items, cap, &count), 0))
            for (size_t i = 0; i < count; i++)
                listed |= strcmp(items[i].key, key) == 0;
        CHECKF(listed, "shmlib_list does not show %s", key);
        free(items);
    }
    /* Exclusive create sees it; OPEN_EXISTING opens it. */
    CHECK_RC(shmlib_create(key, size, 0, 0, NULL, 0), SHMLIB_EEXIST);
    CHECK_RC(shmlib_create(key, size, 0, SHMLIB_OPEN_EXISTING, NULL, 0), SHMLIB_OPENED);

    /* A libshm program in another process. */
    harness_fill(raw, size, 20);
    check_peer("--libshm", key, size, 20, 21, raw);

    /* libshm destroys what shm_open made. */
    CHECK_RC(shmlib_destroy(name), 0);
    errno = 0;
    CHECK(shm_open(name, O_RDWR, 0) < 0 && errno == ENOENT);
    CHECK_INT(harness_verify(raw, size, 21), size);
    munmap(raw, size);
}

/* A System V key of this run: derived from the pid, so that two runs at
 * once do not collide. */
static key_t run_key(unsigned n)
{
    return (key_t)(0x5d000000u | ((uint32_t)(getpid() & 0xffff) << 8) | (n & 0xffu));
}

/* libshm creates System V segments; shmget()/shmat() and ipcs see them. */
static void test_sysv_libshm_to_raw(void)
{
    const size_t size = 2 * page + 99;
    char key[SHMLIB_KEY_MAX];
    unsigned k = 0;
    if (!CHECK_RC(shmlib_create("sysv:", size, 0640, 0, key, sizeof key), 0))
        return;
    CHECK(sscanf(key, "sysv:key=0x%x", &k) == 1);

    int id = shmget((key_t)k, 0, 0);
    CHECKF(id >= 0, "shmget(0x%08x) of %s: %s", k, key, strerror(errno));
    struct shmid_ds ds;
    if (id >= 0 && CHECK(shmctl(id, IPC_STAT, &ds) == 0)) {
        CHECK_INT(ds.shm_segsz, size);
        CHECK_INT(ds.shm_perm.mode & 0777, 0640);
        CHECK_INT(ds.shm_perm.__key, (key_t)k);
        CHECK_INT(ds.shm_cpid, getpid());
    }
    shmlib_stat_t st;
    if (CHECK_RC(shmlib_stat(key, &st), 0))
        CHECK_INT(st.shmid, id);

    unsigned char *raw = id >= 0 ? shmat(id, NULL, 0) : (void *)-1;
    CHECK(raw != (void *)-1);
    void *addr = NULL;
    unsigned char *mine = NULL;
    if (CHECK_RC(shmlib_attach(key, NULL, 0, &addr, NULL), 0))
        mine = addr;

    if (mine != NULL && raw != (void *)-1) {
        check_same_bytes(mine, raw, size, 30);

        /* ipcs -m lists it, with what the kernel knows: both attaches. */
        struct ipcs_row row;
        if (CHECKF(ipcs_find(id, &row), "ipcs -m does not list shmid %d (%s)", id, key)) {
            CHECK_INT(row.key, k);
            CHECK_INT(row.perms, 0640);
            CHECK_INT(row.bytes, size);
            CHECK_INT(row.nattch, 2);
        }

        harness_fill(mine, size, 32);
        char id_s[32];
        snprintf(id_s, sizeof id_s, "%d", id);
        check_peer("--raw-sysv", id_s, size, 32, 33, mine);
    }

    /* Destroyed by libshm: no longer found by key, the mappings live on,
     * and ipcs shows it marked "dest" until the last detach. */
    CHECK_RC(shmlib_destroy(key), 0);
    errno = 0;
    CHECK(shmget((key_t)k, 0, 0) < 0 && errno == ENOENT);
    if (mine != NULL && raw != (void *)-1) {
        check_same_bytes(raw, mine, size, 34);
        struct ipcs_row row;
        if (CHECKF(ipcs_find(id, &row), "ipcs -m does not list destroyed, attached shmid %d", id))
            CHECKF(strcmp(row.status, "dest") == 0, "ipcs status \"%s\", want \"dest\"",
                   row.status);
    }
    if (raw != (void *)-1)
        shmdt(raw);
    if (mine != NULL)
        CHECK_RC(shmlib_detach(mine), 0);
    struct ipcs_row gone;
    CHECK(!ipcs_find(id, &gone));

    /* "sysv:private" is IPC_PRIVATE, for shmat by id. */
    if (CHECK_RC(shmlib_create("sysv:private", page, 0, 0, key, sizeof key), 0)) {
        int pid_id = -1;
        CHECK(sscanf(key, "sysv:id=%d", &pid_id) == 1);
        CHECK(shmctl(pid_id, IPC_STAT, &ds) == 0 && ds.shm_perm.__key == IPC_PRIVATE);
        unsigned char *r = shmat(pid_id, NULL, 0);
        if (CHECK(r != (void *)-1) && CHECK_RC(shmlib_attach(key, NULL, 0, &addr, NULL), 0)) {
            check_same_bytes(r, addr, page, 36);
            CHECK_RC(shmlib_detach(addr), 0);
        }
        if (r != (void *)-1)
            shmdt(r);
        CHECK_RC(shmlib_destroy(key), 0);
    }
}

/* shmget() creates System V segments; libshm uses them by key and by id. */
static void test_sysv_raw_to_libshm(void)
{
    const size_t size = page + 1;
    key_t k = run_key(1);
    int id = shmget(k, size, IPC_CREAT | IPC_EXCL | 0640);
    if (!CHECKF(id >= 0, "shmget(0x%08x, IPC_CREAT): %s", (unsigned)k, strerror(errno)))
        return;
    unsigned char *raw = shmat(id, NULL, 0);
    if (!CHECK(raw != (void *)-1)) {
        shmctl(id, IPC_RMID, NULL);
        return;
    }

    char hex[SHMLIB_KEY_MAX], dec[SHMLIB_KEY_MAX], byid[SHMLIB_KEY_MAX];
    snprintf(hex, sizeof hex, "sysv:key=0x%08x", (unsigned)k);
    snprintf(dec, sizeof dec, "sysv:key=%u", (unsigned)k);
    snprintf(byid, sizeof byid, "sysv:id=%d", id);
    const char *const spellings[] = {hex, dec, byid};
    for (int i = 0; i < 3; i++) {
        void *addr = NULL;
        uint64_t got = 0;
        if (CHECK_RC(shmlib_attach(spellings[i], NULL, 0, &addr, &got), 0)) {
            CHECK_INT(got, size);
            check_same_bytes(raw, addr, size, 40 + 2 * (unsigned)i);
            CHECK_RC(shmlib_detach(addr), 0);
        }
    }

    /* libshm's stat is the kernel's. */
    shmlib_stat_t st;
    struct shmid_ds ds;
    if (CHECK_RC(shmlib_stat(dec, &st), 0) && CHECK(shmctl(id, IPC_STAT, &ds) == 0)) {
        CHECK_STR(st.key, hex);
        CHECK_INT(st.backend, SHMLIB_BACKEND_SYSV);
        CHECK_INT(st.shmid, id);
        CHECK_INT(st.ipc_key, (unsigned)k);
        CHECK_INT(st.size, ds.shm_segsz);
        CHECK_INT(st.mode, ds.shm_perm.mode & 0777);
        CHECK_INT(st.uid, ds.shm_perm.uid);
        CHECK_INT(st.cuid, ds.shm_perm.cuid);
        CHECK_INT(st.cpid, ds.shm_cpid);
        CHECK_INT(st.lpid, ds.shm_lpid);
        CHECK_INT(st.nattach, ds.shm_nattch);
        CHECK_INT(st.atime, ds.shm_atime);
        CHECK_INT(st.dtime, ds.shm_dtime);
        CHECK_INT(st.ctime, ds.shm_ctime);
    }
    CHECK_RC(shmlib_create(hex, size, 0, 0, NULL, 0), SHMLIB_EEXIST);
    CHECK_RC(shmlib_create(hex, size, 0, SHMLIB_OPEN_EXISTING, NULL, 0), SHMLIB_OPENED);

    /* A libshm program in another process. */
    harness_fill(raw, size, 50);
    check_peer("--libshm", hex, size, 50, 51, raw);

    /* libshm destroys what shmget made; the raw mapping lives on. */
    CHECK_RC(shmlib_destroy(hex), 0);
    errno = 0;
    CHECK(shmget(k, 0, 0) < 0 && errno == ENOENT);
    CHECK(shmctl(id, IPC_STAT, &ds) == 0 && (ds.shm_perm.mode & SHM_DEST));
    CHECK_INT(harness_verify(raw, size, 51), size);
    shmdt(raw);
    CHECK(shmctl(id, IPC_STAT, &ds) != 0);

    /* IPC_PRIVATE: libshm knows it by id only. */
    int pid_id = shmget(IPC_PRIVATE, page, IPC_CREAT | 0600);
    if (CHECK(pid_id >= 0)) {
        snprintf(byid, sizeof byid, "sysv:id=%d", pid_id);
        unsigned char *r = shmat(pid_id, NULL, 0);
        void *addr = NULL;
        if (CHECK(r != (void *)-1) && CHECK_RC(shmlib_attach(byid, NULL, 0, &addr, NULL), 0)) {
            check_same_bytes(r, addr, page, 52);
            CHECK_RC(shmlib_detach(addr), 0);
        }
        if (CHECK_RC(shmlib_stat(byid, &st), 0)) {
            CHECK_STR(st.key, byid);
            CHECK_INT(st.ipc_key, 0);
        }
        if (r != (void *)-1)
            shmdt(r);
        CHECK_RC(shmlib_destroy(byid), 0);
        CHECK(shmctl(pid_id, IPC_STAT, &ds) != 0);
    }
}

/* shmlib_ftok() and glibc's ftok() name the same segment. */
static void test_ftok_interop(void)
{
    char dir[] = "/tmp/libshm-interop-XXXXXX", file[PATH_MAX], key[SHMLIB_KEY_MAX];
    if (!CHECK(mkdtemp(dir) != NULL))
        return;
    snprintf(file, sizeof file, "%s/f", dir);
    int fd = open(file, O_CREAT | O_WRONLY, 0600);
    CHECK(fd >= 0);
    close(fd);

    key_t k = ftok(file, 'L');
    int id = shmget(k, page, IPC_CREAT | IPC_EXCL | 0600);
    if (CHECKF(id >= 0, "shmget(ftok(%s)): %s", file, strerror(errno))) {
        unsigned char *raw = shmat(id, NULL, 0);
        void *addr = NULL;
        if (CHECK_RC(shmlib_ftok(file, 'L', key, sizeof key), 0) &&
            CHECK_RC(shmlib_attach(key, NULL, 0, &addr, NULL), 0)) {
            if (CHECK(raw != (void *)-1))
                check_same_bytes(raw, addr, page, 60);
            CHECK_RC(shmlib_detach(addr), 0);
        }
        if (raw != (void *)-1)
            shmdt(raw);
        shmctl(id, IPC_RMID, NULL);
    }
    unlink(file);
    rmdir(dir);
}

/* ------------------------------------------------------------------ main */

int main(int argc, char **argv)
{
    page = (size_t)sysconf(_SC_PAGESIZE);
    snprintf(prefix, sizeof prefix, "libshm-interop-%d", (int)getpid());

    if (argc == 6 && strncmp(argv[1], "--", 2) == 0)
        return peer(argv);

    static const struct {
        const char *name;
        void (*run)(void);
    } tests[] = {
        {"test_posix_libshm_to_raw", test_posix_libshm_to_raw},
        {"test_posix_raw_to_libshm", test_posix_raw_to_libshm},
        {"test_sysv_libshm_to_raw", test_sysv_libshm_to_raw},
        {"test_sysv_raw_to_libshm", test_sysv_raw_to_libshm},
        {"test_ftok_interop", test_ftok_interop},
    };
    for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++) {
        printf("-- %s\n", tests[i].name);
        fflush(stdout);
        tests[i].run();
    }
    return harness_finish();
}
