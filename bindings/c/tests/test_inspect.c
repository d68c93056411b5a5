/*
 * test_inspect.c - shmlib_destroy, shmlib_stat and shmlib_list on both
 * backends: what the kernel records of a segment before and after destroy,
 * and a listing that sizes its buffer.
 *
 *   test_inspect [TEST_NAME...]   all tests, or only those named
 */
#include "harness.h"
#include "api.h"

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

static const struct harness_test tests[] = {
    HARNESS_TEST(test_destroy),
    HARNESS_TEST(test_stat),
    HARNESS_TEST(test_list),
};

int main(int argc, char **argv)
{
    return api_main(tests, sizeof tests / sizeof tests[0], argc, argv);
}
