/* Internal to capi/: the caller's memory, read and written so that a bad
 * pointer gives SHMLIB_EFAULT rather than a fault (chan_user.c). */
#ifndef LIBSHM_CHAN_USER_H
#define LIBSHM_CHAN_USER_H

#include <stddef.h>

#define CHAN_USER_MAX 2 /* out-parameters of one call */

int chan_user_read(void *dst, const void *src, size_t n);          /* 0, or -1: src unreadable */
int chan_user_probe(void *const *dst, const size_t *len, int count); /* 1, or 0: cannot be written */
int chan_user_deliver(void *const *dst, const void *const *src, const size_t *len, int count); /* 0 or -1 */

#endif
