/*
 * quickstart.c - the whole life of a shared memory segment in one file:
 *
 *     create -> attach -> write -> detach -> destroy
 *
 * Build it against an installed libshm:
 *
 *     cc quickstart.c $(pkg-config --cflags --libs shmlib) -o quickstart
 *
 * (for a prefix the loader does not search, see the README's "Installing
 * the C library": PKG_CONFIG_PATH, and -Wl,-rpath or LD_LIBRARY_PATH),
 * or in the source tree, where `make demo` builds it as build/c/quickstart.
 *
 * One process plays both sides here, attaching the segment twice; the
 * programs shm_create.c and shm_read.c next to this file do the same across
 * two processes, handing the key over on the command line.
 */
#include <shmlib.h>

#include <stdio.h>
#include <string.h>

/* Prints why a libshm call failed: the thread's last error message names the
 * operation and the key ("attach posix:/x: no such segment"); the code's
 * description says which kind of failure it was. */
static void report(int rc)
{
    char msg[SHMLIB_ERROR_MAX];

    shmlib_last_error(msg, sizeof msg);
    fprintf(stderr, "quickstart: %s (%s)\n", msg, shmlib_strerror(rc));
}

int main(void)
{
    char key[SHMLIB_KEY_MAX], msg[SHMLIB_ERROR_MAX];
    void *writer, *reader;
    uint64_t size;
    shmlib_stat_t st;
    int rc;

    /* 1. Create 4 KiB, readable and writable by this user only (0600). With
     *    key NULL the library picks a unique POSIX name and writes it to
     *    `key`: that string is all another process needs to attach. */
    rc = shmlib_create(NULL, 4096, 0600, 0, key, sizeof key);
    if (rc < 0) {
        report(rc);
        return 1;
    }
    printf("created  %s\n", key);

    /* 2. Attach it twice. Each attach is a mapping of its own, at its own
     *    address, of the same pages - as two processes would see it. */
    rc = shmlib_attach(key, NULL, 0, &writer, &size);
    if (rc < 0)
        goto fail;
    rc = shmlib_attach(key, NULL, SHMLIB_RDONLY, &reader, NULL);
    if (rc < 0) {
        shmlib_detach(writer);
        goto fail;
    }
    printf("attached %s twice: at %p and at %p (read-only), %llu bytes\n",
           key, writer, reader, (unsigned long long)size);

    /* 3. A byte written through one mapping is seen through the other. */
    strcpy(writer, "hello, shared memory");
    printf("read     \"%s\" through the second mapping\n", (char *)reader);

    /* 4. Detach both mappings. Detaching only ends this process's view:
     *    the segment and its bytes are still there for anyone to attach. */
    shmlib_detach(reader);
    rc = shmlib_detach(writer);
    if (rc < 0)
        goto fail;
    rc = shmlib_stat(key, &st);
    if (rc < 0)
        goto fail;
    printf("detached; the segment still exists: %llu bytes, mode %04o\n",
           (unsigned long long)st.size, (unsigned)st.mode);

    /* 5. Destroy it: "everybody is done with it". Without this it would stay
     *    in memory until the machine restarts. */
    rc = shmlib_destroy(key);
    if (rc < 0) {
        report(rc);
        return 1;
    }
    printf("destroyed %s\n", key);

    /* From now on attaching fails with SHMLIB_ENOENT. */
    rc = shmlib_attach(key, NULL, 0, &writer, NULL);
    if (rc != SHMLIB_ENOENT) {
        fprintf(stderr, "quickstart: attach after destroy gave %d, expected SHMLIB_ENOENT\n", rc);
        return 1;
    }
    shmlib_last_error(msg, sizeof msg);
    printf("attach after destroy fails: %s\n", msg);
    return 0;

fail:
    /* Report first: the cleanup below may overwrite the last error. */
    report(rc);
    shmlib_destroy(key);
    return 1;
}
