/*
 * test_exit.c - SHMLIB_DESTROY_ON_EXIT: a segment created with it goes when
 * its creator exits normally, and only then, and only its own.
 *
 * Each case runs a child process (this program again, exec'd with a role)
 * that creates segments and then ends in a certain way; it writes their
 * keys to a pipe (descriptor KEYS_FD in the child), and the parent checks
 * afterwards what is left.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

/* High enough to be free in the child before dup2, whatever the parent had
 * open (the pipe's own ends included). */
#define KEYS_FD 63

/* ------------------------------------------------------------ the child */

static void on_term(int sig)
{
    (void)sig;
    exit(0); /* a signal handler that exits runs the exit handlers */
}

/* Creates one segment of each backend with the flag, writes their keys to
 * KEYS_FD, and ends as `how` says. */
static int child(const char *how, const char *existing)
{
    static const char *const autos[] = {"posix:", "sysv:"};
    char key[SHMLIB_KEY_MAX];
    FILE *out = fdopen(KEYS_FD, "w");
    if (out == NULL)
        return 2;
    if (strcmp(how, "open-existing") == 0) {
        /* Someone else's segment is not taken over. */
        int rc = shmlib_create(existing, 4096, 0, SHMLIB_OPEN_EXISTING | SHMLIB_DESTROY_ON_EXIT,
                               key, sizeof key);
        return rc == SHMLIB_OPENED ? 0 : 3;
    }
    for (int i = 0; i < 2; i++) {
        if (shmlib_create(autos[i], 4096, 0, SHMLIB_DESTROY_ON_EXIT, key, sizeof key) != 0)
            return 4;
        fprintf(out, "%s\n", key);
    }
    if (strcmp(how, "destroyed-before") == 0) {
        /* Destroyed, then made again by somebody without the flag: the
         * exit must not destroy the new one. */
        if (shmlib_destroy(key) != 0 || shmlib_create(key, 4096, 0, 0, NULL, 0) != 0)
            return 5;
    }
    fflush(out);
    if (strcmp(how, "fork") == 0) {
        /* A forked child that exits must not destroy the parent's. */
        pid_t pid = fork();
        if (pid == 0)
            exit(0);
        int status;
        waitpid(pid, &status, 0);
        shmlib_stat_t st;
        if (shmlib_stat(key, &st) != 0)
            return 6;
    }
    if (strcmp(how, "signal") == 0 || strcmp(how, "kill") == 0) {
        signal(SIGTERM, on_term);
        fprintf(out, "ready\n");
        fflush(out);
        pause();
    }
    return 0; /* "exit" and "fork": a normal exit */
}

/* ----------------------------------------------------------- the parent */

struct run {
    pid_t pid;
    FILE *keys;
};

static int start(struct run *r, const char *how, const char *existing)
{
    int p[2];
    if (!CHECK(pipe(p) == 0))
        return 0;
    r->pid = fork();
    if (r->pid == 0) {
        dup2(p[1], KEYS_FD);
        execl("/proc/self/exe", "test_exit", "--child", how, existing ? existing : "", (char *)NULL);
        _exit(127);
    }
    close(p[1]);
    r->keys = fdopen(p[0], "r");
    return CHECK(r->pid > 0 && r->keys != NULL);
}

static int read_keys(struct run *r, char keys[2][SHMLIB_KEY_MAX])
{
    for (int i = 0; i < 2; i++) {
        if (!CHECK(fgets(keys[i], SHMLIB_KEY_MAX, r->keys) != NULL))
            return 0;
        keys[i][strcspn(keys[i], "\n")] = '\0';
    }
    return 1;
}

static int exists(const char *key)
{
    shmlib_stat_t st;
    return shmlib_stat(key, &st) == 0;
}

static void finish(struct run *r, int want_exit_ok)
{
    int status = harness_wait(r->pid);
    if (want_exit_ok)
        CHECK_EXIT_OK(status, "the creator");
    fclose(r->keys);
}

static void test_normal_exit(void)
{
    struct run r;
    char keys[2][SHMLIB_KEY_MAX];
    if (!start(&r, "exit", NULL) || !read_keys(&r, keys))
        return;
    finish(&r, 1);
    for (int i = 0; i < 2; i++)
        CHECKF(!exists(keys[i]), "%s survived its creator's exit", keys[i]);
}

static void test_exit_from_a_signal_handler(void)
{
    struct run r;
    char keys[2][SHMLIB_KEY_MAX], line[32];
    if (!start(&r, "signal", NULL) || !read_keys(&r, keys))
        return;
    CHECK(fgets(line, sizeof line, r.keys) != NULL && strcmp(line, "ready\n") == 0);
    for (int i = 0; i < 2; i++)
        CHECKF(exists(keys[i]), "%s is gone while its creator lives", keys[i]);
    kill(r.pid, SIGTERM);
    finish(&r, 1);
    for (int i = 0; i < 2; i++)
        CHECKF(!exists(keys[i]), "%s survived its creator's exit from a handler", keys[i]);
}

/* SIGKILL runs nothing: the segments stay (the header says so, and points
 * to memfd segments for memory that must go whatever happens). */
static void test_killed_creator_leaves_them(void)
{
    struct run r;
    char keys[2][SHMLIB_KEY_MAX], line[32];
    if (!start(&r, "kill", NULL) || !read_keys(&r, keys))
        return;
    CHECK(fgets(line, sizeof line, r.keys) != NULL);
    kill(r.pid, SIGKILL);
    finish(&r, 0);
    for (int i = 0; i < 2; i++) {
        CHECKF(exists(keys[i]), "%s went with a SIGKILLed creator", keys[i]);
        shmlib_destroy(keys[i]);
    }
}

static void test_only_its_own(void)
{
    struct run r;
    char keys[2][SHMLIB_KEY_MAX], mine[SHMLIB_KEY_MAX];

    /* Destroyed and made again by somebody else before the exit. */
    if (start(&r, "destroyed-before", NULL) && read_keys(&r, keys)) {
        finish(&r, 1);
        CHECKF(!exists(keys[0]), "%s survived its creator's exit", keys[0]);
        CHECKF(exists(keys[1]), "the exit destroyed %s, made again without the flag", keys[1]);
        shmlib_destroy(keys[1]);
    }
    /* Opened, not created: not taken over. */
    if (CHECK_RC(shmlib_create("sysv:", 4096, 0, 0, mine, sizeof mine), 0) &&
        start(&r, "open-existing", mine)) {
        finish(&r, 1);
        CHECKF(exists(mine), "an exit destroyed %s, which it had only opened", mine);
        shmlib_destroy(mine);
    }
    /* A forked child's exit destroys nothing of its parent's. */
    if (start(&r, "fork", NULL) && read_keys(&r, keys)) {
        finish(&r, 1);
        for (int i = 0; i < 2; i++)
            CHECKF(!exists(keys[i]), "%s survived its creator's exit", keys[i]);
    }
}

int main(int argc, char **argv)
{
    if (argc >= 3 && strcmp(argv[1], "--child") == 0)
        return child(argv[2], argc > 3 ? argv[3] : NULL);
    printf("-- normal exit\n");
    test_normal_exit();
    printf("-- exit from a signal handler\n");
    test_exit_from_a_signal_handler();
    printf("-- SIGKILL\n");
    test_killed_creator_leaves_them();
    printf("-- only its own\n");
    test_only_its_own();
    return harness_finish();
}
