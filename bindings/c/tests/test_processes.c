/*
 * test_processes.c - libshm across processes: a child forked without exec
 * (every call SHMLIB_EFORKED, mappings still usable) and a peer of another
 * user (modes and owners enforced).
 *
 *   test_processes [TEST_NAME...]   all tests, or only those named
 *   test_processes --as-nobody ...  the peer test_permissions starts: it drops
 *                                   root before its first libshm call (a
 *                                   process forked without exec may not call
 *                                   libshm, so it is exec'd)
 */
#include "harness.h"
#include "api.h"

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

static const struct harness_test tests[] = {
    HARNESS_TEST(test_forked_child),
    HARNESS_TEST(test_permissions),
};

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "--as-nobody") == 0) {
        api_setup();
        return as_nobody(argc - 2, argv + 2);
    }
    return api_main(tests, sizeof tests / sizeof tests[0], argc, argv);
}
