/*
 * test_api.c - the calls every other rests on, against the real kernel: the
 * version, codes and their texts, the last error, key syntax and
 * normalisation, ftok, many threads at once, and a library that never
 * writes to the host's stdout or stderr. Creating, attaching, inspecting and
 * processes have files of their own (test_create.c, test_attach.c,
 * test_inspect.c, test_processes.c); api.h holds what they share.
 *
 *   test_api [TEST_NAME...]   all tests, or only those named
 */
#include "harness.h"
#include "api.h"

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
    /* Every code of the header (abi.h): 0 down to the lowest, and OPENED. */
    int codes[1 - ABI_LOWEST_CODE + 1];
    const size_t n = sizeof codes / sizeof codes[0];
    for (size_t i = 0; i + 1 < n; i++)
        codes[i] = -(int)i;
    codes[n - 1] = SHMLIB_OPENED;
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

    const int unknown[] = {ABI_LOWEST_CODE - 1, -100, 2, 42, INT_MIN, INT_MAX};
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

static const struct harness_test tests[] = {
    HARNESS_TEST(test_version),
    HARNESS_TEST(test_strerror),
    HARNESS_TEST(test_last_error),
    HARNESS_TEST(test_malformed_keys),
    HARNESS_TEST(test_key_normalize),
    HARNESS_TEST(test_raw_byte_names),
    HARNESS_TEST(test_ftok),
    HARNESS_TEST(test_threads),
    HARNESS_TEST(test_quiet_guest),
};

int main(int argc, char **argv)
{
    /* Before any failure the last error is "". */
    char first[16] = "x";
    CHECK_RC(shmlib_last_error(first, sizeof first), 0);
    CHECK_STR(first, "");
    return api_main(tests, sizeof tests / sizeof tests[0], argc, argv);
}
