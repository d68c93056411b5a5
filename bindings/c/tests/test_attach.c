/*
 * test_attach.c - shmlib_attach and shmlib_detach on both backends: shared
 * pages between mappings, read-only mappings that fault on a write,
 * SHMLIB_POPULATE, SHMLIB_LOCK, SHMLIB_FIXED, and detach of what is and is
 * not a mapping.
 *
 *   test_attach [TEST_NAME...]   all tests, or only those named
 */
#include "harness.h"
#include "api.h"

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

static const struct harness_test tests[] = {
    HARNESS_TEST(test_attach),
    HARNESS_TEST(test_attach_rdonly),
    HARNESS_TEST(test_attach_populate),
    HARNESS_TEST(test_attach_lock),
    HARNESS_TEST(test_attach_fixed),
    HARNESS_TEST(test_detach),
};

int main(int argc, char **argv)
{
    return api_main(tests, sizeof tests / sizeof tests[0], argc, argv);
}
