/* Internal to capi/: one out-parameter of a data-plane call, probed and
 * written through chan_user.c (SHMLIB_EFAULT rather than a fault). */
#ifndef LIBSHM_CHAN_OUT_H
#define LIBSHM_CHAN_OUT_H

#include "chan_user.h"

/* 1 if n bytes at dst can be written, else 0. */
static inline int chan_out_writable(void *dst, size_t n)
{
    void *d[1] = {dst};
    size_t l[1] = {n};
    return chan_user_probe(d, l, 1);
}

/* Copies n bytes from src to dst: 0, or -1 if dst cannot be written. */
static inline int chan_out_put(void *dst, const void *src, size_t n)
{
    void *d[1] = {dst};
    const void *s[1] = {src};
    size_t l[1] = {n};
    return chan_user_deliver(d, s, l, 1);
}

#endif
