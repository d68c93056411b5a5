/*
 * The caller's memory, touched without a fault handler: the header promises
 * SHMLIB_EFAULT, not a crash, for a pointer argument to memory the caller
 * cannot read or write, and C code in a host's process may not install a
 * SIGSEGV handler to catch one.
 *
 * Fast path: memory in the calling thread's stack, between this frame and
 * the top of the stack, is live and writable (out-parameters are nearly
 * always locals). Anything else goes through process_vm_readv/writev on
 * this process, which copy or fail with EFAULT instead of faulting: one
 * system call (about 350 ns here) for all the out-parameters of a call,
 * which the data plane delivers at its end (and takes back if they cannot
 * be written); they are probed beforehand only when the call is about to
 * wait or to release padding. Where a sandbox refuses those calls (ENOSYS,
 * EPERM), the memory is used directly, as any C library would.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "chan_user.h"

/* initial-exec: read on every call, so a plain TLS load (8 bytes of the
 * static TLS surplus glibc keeps for libraries loaded later) */
static __thread uintptr_t stack_top __attribute__((tls_model("initial-exec")));

static uintptr_t this_stack_top(void)
{
    if (stack_top == 0) {
        pthread_attr_t a;
        void *lo;
        size_t size;
        if (pthread_getattr_np(pthread_self(), &a) != 0)
            return stack_top = 1;
        if (pthread_attr_getstack(&a, &lo, &size) == 0)
            stack_top = (uintptr_t)lo + size;
        else
            stack_top = 1;
        pthread_attr_destroy(&a);
    }
    return stack_top;
}

__attribute__((noinline)) static int on_stack(const void *p, size_t n)
{
    uintptr_t lo = (uintptr_t)__builtin_frame_address(0), a = (uintptr_t)p;
    return a >= lo && a + n >= a && a + n <= this_stack_top();
}

static int refused(void) { return errno == ENOSYS || errno == EPERM; }

/* Copies n bytes from the caller's src to dst (which is ours). */
int chan_user_read(void *dst, const void *src, size_t n)
{
    if (n == 0 || on_stack(src, n)) {
        memcpy(dst, src, n);
        return 0;
    }
    struct iovec local = {dst, n}, remote = {(void *)src, n};
    ssize_t got = process_vm_readv(getpid(), &local, 1, &remote, 1, 0);
    if (got == (ssize_t)n)
        return 0;
    if (got < 0 && refused()) {
        memcpy(dst, src, n);
        return 0;
    }
    return -1;
}

/* Whether the caller's count regions (dst[i], len[i] bytes each, small
 * out-parameters) can be written: they are read and written back
 * unchanged, in one system call each way for all of them. */
int chan_user_probe(void *const *dst, const size_t *len, int count)
{
    unsigned char was[CHAN_USER_MAX][16];
    struct iovec local[CHAN_USER_MAX], remote[CHAN_USER_MAX];
    size_t total = 0;
    int all_on_stack = 1;
    for (int i = 0; i < count; i++) {
        size_t n = len[i] > sizeof was[i] ? sizeof was[i] : len[i];
        local[i] = (struct iovec){was[i], n};
        remote[i] = (struct iovec){dst[i], n};
        total += n;
        all_on_stack &= on_stack(dst[i], n);
    }
    if (all_on_stack)
        return 1;
    ssize_t got = process_vm_readv(getpid(), local, count, remote, count, 0);
    if (got < 0 && refused())
        return 1;
    return got == (ssize_t)total && process_vm_writev(getpid(), local, count, remote, count, 0) == (ssize_t)total;
}

/* Whether the count regions all lie in one page: then either all can be
 * written or none. */
static int one_page(void *const *dst, const size_t *len, int count)
{
    uintptr_t page = (uintptr_t)dst[0] / 4096;
    for (int i = 0; i < count; i++)
        if (len[i] > 0 && ((uintptr_t)dst[i] / 4096 != page || ((uintptr_t)dst[i] + len[i] - 1) / 4096 != page))
            return 0;
    return 1;
}

/* Writes src[i] (len[i] bytes each) to the caller's dst[i], in one system
 * call unless all are in this thread's stack. 0, or -1 when one cannot be
 * written; then none of the small ones (out-parameters of 16 bytes or
 * less) was: when they do not share one page, they are probed first. */
int chan_user_deliver(void *const *dst, const void *const *src, const size_t *len, int count)
{
    struct iovec local[CHAN_USER_MAX], remote[CHAN_USER_MAX];
    size_t total = 0;
    int all_on_stack = 1;
    for (int i = 0; i < count; i++) {
        local[i] = (struct iovec){(void *)src[i], len[i]};
        remote[i] = (struct iovec){dst[i], len[i]};
        total += len[i];
        all_on_stack &= len[i] == 0 || on_stack(dst[i], len[i]);
    }
    if (!all_on_stack) {
        if (count > 1 && !one_page(dst, len, count)) {
            void *small[CHAN_USER_MAX];
            size_t small_len[CHAN_USER_MAX];
            int n = 0;
            for (int i = 0; i < count; i++)
                if (len[i] <= 16) {
                    small[n] = dst[i];
                    small_len[n++] = len[i];
                }
            if (!chan_user_probe(small, small_len, n))
                return -1;
        }
        ssize_t put = process_vm_writev(getpid(), local, count, remote, count, 0);
        if (put == (ssize_t)total)
            return 0;
        if (!(put < 0 && refused()))
            return -1;
    }
    for (int i = 0; i < count; i++)
        memcpy(dst[i], src[i], len[i]);
    return 0;
}
