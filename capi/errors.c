/*
 * The per-thread last-error message: kept here, in C, so that it can be
 * read (shmlib_last_error) and set by the guards without entering Go.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shmlib.h"
#include "guard.h"

/*
 * The calling thread's last-error message. During a C->Go call the
 * goroutine stays on the caller's thread, so a per-thread buffer written
 * from Go is the calling thread's own.
 *
 * The buffer is allocated on the thread's first failure and freed when the
 * thread exits (error_key's destructor). A __thread array would put its
 * SHMLIB_ERROR_MAX bytes in static TLS, which glibc shares out among all
 * dlopen()ed libraries from a surplus of about 1.5 KB: a process with a
 * few such native extensions could then not load libshm at all. Only the
 * pointer stays in TLS. When the allocation fails, the thread's message is
 * out_of_memory, which is never written to nor freed.
 */
static __thread char *last_error;
static pthread_key_t error_key;
static int error_key_made;
static char out_of_memory[] = "libshm could not allocate memory to hold this thread's error message";

/* Runs on the exiting thread: a later failure there (another key's
 * destructor calling in) allocates afresh. */
static void free_error(void *buf)
{
    last_error = NULL;
    if (buf != out_of_memory)
        free(buf);
}

__attribute__((constructor)) static void make_error_key(void)
{
    error_key_made = pthread_key_create(&error_key, free_error) == 0;
}

void libshm_set_error(const char *msg, size_t len)
{
    if (last_error == NULL || last_error == out_of_memory) {
        char *buf = malloc(SHMLIB_ERROR_MAX);
        if (buf == NULL) {
            last_error = out_of_memory;
            return;
        }
        last_error = buf;
        /* Without the key (all PTHREAD_KEYS_MAX taken at load) the buffer
         * outlives its thread: a leak of one buffer per failing thread. */
        if (error_key_made)
            pthread_setspecific(error_key, buf);
    }
    if (len >= SHMLIB_ERROR_MAX)
        len = SHMLIB_ERROR_MAX - 1;
    memcpy(last_error, msg, len);
    last_error[len] = '\0';
}

/* libshm_set_error, printf-style, for the messages made here in C. */
void libshm_set_errorf(const char *fmt, ...)
{
    char msg[SHMLIB_ERROR_MAX];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    libshm_set_error(msg, (size_t)n < sizeof msg ? (size_t)n : sizeof msg - 1);
}

int shmlib_last_error(char *buf, size_t len)
{
    if (buf == NULL || len == 0)
        return SHMLIB_EINVAL;
    const char *msg = last_error != NULL ? last_error : "";
    size_t n = strlen(msg);
    int rc = SHMLIB_OK;
    if (n >= len) {
        n = len - 1;
        rc = SHMLIB_ERANGE;
    }
    memcpy(buf, msg, n);
    buf[n] = '\0';
    return rc;
}
