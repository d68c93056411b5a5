/*
 * The caller's memory, touched without a fault handler: the header promises
 * SHMLIB_EFAULT, not a crash, for a pointer argument to memory the caller
 * cannot read or write, and C code in a host's process may not install a
 * SIGSEGV handler to catch one.
 *
 * Fast path: memory in the calling thread's stack, between this frame and
 * the top of the stack, is live and writable (out-parameters are nearly
 * always locals). Anything else goes through process_vm_readv/writev on
 * this process, which copy or fail with EFAULT instead of faulting. Where a
 * sandbox refuses those calls (ENOSYS, EPERM), the memory is used directly,
 * as any C library would.
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

/* Copies n bytes from src (ours) to the caller's dst. */
int chan_user_write(void *dst, const void *src, size_t n)
{
    if (n == 0 || on_stack(dst, n)) {
        memcpy(dst, src, n);
        return 0;
    }
    struct iovec local = {(void *)src, n}, remote = {dst, n};
    ssize_t put = process_vm_writev(getpid(), &local, 1, &remote, 1, 0);
    if (put == (ssize_t)n)
        return 0;
    if (put < 0 && refused()) {
        memcpy(dst, src, n);
        return 0;
    }
    return -1;
}

/* Whether the caller's n bytes at p (a small out-parameter) can be written:
 * they are read and written back unchanged. */
int chan_user_writable(void *p, size_t n)
{
    unsigned char was[16];
    if (n > sizeof was)
        n = sizeof was;
    if (on_stack(p, n))
        return 1;
    return chan_user_read(was, p, n) == 0 && chan_user_write(p, was, n) == 0;
}
