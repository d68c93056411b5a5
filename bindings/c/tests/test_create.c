/*
 * test_create.c - shmlib_create against the real kernel, POSIX objects in
 * /dev/shm and System V segments: keys the library chooses and keys the
 * caller names, every argument, SHMLIB_OPEN_EXISTING, and the system's
 * limits. A create that fails must leave nothing behind.
 *
 *   test_create [TEST_NAME...]   all tests, or only those named
 */
#include "harness.h"
#include "api.h"

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

static const struct harness_test tests[] = {
    HARNESS_TEST(test_create_chosen_keys),
    HARNESS_TEST(test_create_named_keys),
    HARNESS_TEST(test_create_arguments),
    HARNESS_TEST(test_create_existing),
    HARNESS_TEST(test_create_limits),
};

int main(int argc, char **argv)
{
    return api_main(tests, sizeof tests / sizeof tests[0], argc, argv);
}
