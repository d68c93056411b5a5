/* Internal to capi/: the caller's memory, read and written so that a bad
 * pointer gives SHMLIB_EFAULT rather than a fault (chan_user.c). */
#ifndef LIBSHM_CHAN_USER_H
#define LIBSHM_CHAN_USER_H

#include <stddef.h>

int chan_user_read(void *dst, const void *src, size_t n);  /* 0, or -1: src unreadable */
int chan_user_write(void *dst, const void *src, size_t n); /* 0, or -1: dst unwritable */
int chan_user_writable(void *p, size_t n);                 /* 1, or 0: cannot be written */

#endif
