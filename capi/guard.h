/* Internal to capi/: what the Go exports need from guard.c. */
#ifndef LIBSHM_GUARD_H
#define LIBSHM_GUARD_H

#include <stddef.h>

/* Longest last-error message kept, NUL included (shmlib.h promises < 512). */
#define SHMLIB_ERROR_MAX 512

/* Sets the calling thread's last-error message (truncated to fit). */
void libshm_set_error(const char *msg, size_t len);

#endif
