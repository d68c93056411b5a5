/*
 * The public face of libshm: every shmlib_* symbol is defined here, in C.
 *
 * Each one first checks that it is not running in a child created by fork()
 * without exec(): the Go runtime inside the library cannot run there (the
 * child hangs at its first garbage collection), so such calls must be
 * refused before they reach Go. Otherwise it forwards to the Go export of
 * the same name with a shmlib_go_ prefix, which capi/exports.map hides,
 * through INTO_GO, which keeps the host's signal handling safe from Go's
 * (capi/signals.c).
 *
 * The per-thread last-error message is kept in errors.c.
 */
#include <pthread.h>
#include <stdlib.h>

#include "shmlib.h"
#include "_cgo_export.h"
#include "guard.h"
#include "chan.h"

static volatile int in_forked_child;

static void mark_forked_child(void) { in_forked_child = 1; }

/* Segments created with SHMLIB_DESTROY_ON_EXIT go as the process exits;
 * not from a forked child, which exits with the parent's list but must not
 * destroy the parent's segments (nor can it enter Go). */
static void destroy_at_exit(void)
{
    if (in_forked_child)
        return;
    struct libshm_go_entry entry;
    libshm_go_enter(&entry, LIBSHM_GO_BRIEF);
    shmlib_go_destroy_at_exit();
    libshm_go_leave(&entry);
}

__attribute__((constructor)) static void install_guards(void)
{
    pthread_atfork(NULL, NULL, mark_forked_child);
    atexit(destroy_at_exit);
}

static int refuse_forked(const char *op)
{
    libshm_set_errorf("%s: called in a child created by fork() without exec(); the Go runtime in libshm "
               "cannot run there. Make libshm calls in the parent, or exec a new program "
               "(posix_spawn, subprocess) and call it there. Memory attached before fork() is "
               "still usable.", op);
    return SHMLIB_EFORKED;
}

#define GUARD(op) do { if (in_forked_child) return refuse_forked(op); } while (0)

/*
 * Go's garbage collector aborts the process when it finds a value below
 * 4096 in a pointer on a goroutine's stack ("invalid pointer found on
 * stack"), and the Go exports hold the caller's pointers as pointers. No
 * valid pointer is that low (the first page is never mapped), so such an
 * argument is refused here, before it reaches Go, with the code a pointer
 * to inaccessible memory gets anyway.
 */
static int low(const void *p) { return p != NULL && (uintptr_t)p < 4096; }

static int refuse_low(const char *op, int code, const char *what)
{
    libshm_set_errorf("%s: %s", op, what);
    return code;
}

#define POINTERS(op, bad)                                                                  \
    do {                                                                                   \
        if (bad)                                                                           \
            return refuse_low(op, SHMLIB_EFAULT,                                           \
                              "a pointer argument points to memory that cannot be accessed"); \
    } while (0)

unsigned int shmlib_version(void)
{
    if (in_forked_child)
        return SHMLIB_VERSION_NUMBER; /* the same constant the Go side returns */
    return INTO_GO(LIBSHM_GO_INSTANT, shmlib_go_version());
}

const char *shmlib_version_string(void) { return SHMLIB_VERSION_STRING; }

const char *shmlib_strerror(int code)
{
    switch (code) {
    case SHMLIB_OK:           return "success";
    case SHMLIB_OPENED:       return "opened an existing segment";
    case SHMLIB_EINVAL:       return "invalid argument";
    case SHMLIB_ENOENT:       return "no such segment";
    case SHMLIB_EEXIST:       return "segment already exists";
    case SHMLIB_EACCES:       return "permission denied";
    case SHMLIB_ENOMEM:       return "not enough memory or over a system limit";
    case SHMLIB_ERANGE:       return "buffer too small";
    case SHMLIB_ENOTATTACHED: return "address is not attached";
    case SHMLIB_ENOTSUP:      return "not supported on this system";
    case SHMLIB_EFAULT:       return "memory fault in a segment";
    case SHMLIB_EFORKED:      return "called in a forked child";
    case SHMLIB_EOS:          return "operating system error";
    case SHMLIB_EINTERNAL:    return "internal error in libshm";
    case SHMLIB_ETIMEDOUT:    return "timed out";
    case SHMLIB_EEOS:         return "end of stream";
    case SHMLIB_EPEER:        return "peer gone";
    case SHMLIB_ECORRUPT:     return "corrupt channel";
    case SHMLIB_EBUSY:        return "busy";
    case SHMLIB_EMSGSIZE:     return "message too large";
    case SHMLIB_EINTR:        return "interrupted by a signal";
    case SHMLIB_EWOKEN:       return "woken by another thread";
    }
    return "unknown error code";
}

int shmlib_ftok(const char *path, int proj_id, char *out_key, size_t out_key_len)
{
    GUARD("ftok");
    POINTERS("ftok", low(path) || low(out_key));
    return INTO_GO(LIBSHM_GO_BRIEF, shmlib_go_ftok((char *)path, proj_id, out_key, out_key_len));
}

int shmlib_create(const char *key, uint64_t size, uint32_t mode, uint32_t flags,
                  char *out_key, size_t out_key_len)
{
    GUARD("create");
    POINTERS("create", low(key) || low(out_key));
    return INTO_GO(LIBSHM_GO_BRIEF, shmlib_go_create((char *)key, size, mode, flags, out_key, out_key_len));
}

int shmlib_attach(const char *key, void *addr_hint, uint32_t flags,
                  void **out_addr, uint64_t *out_size)
{
    GUARD("attach");
    POINTERS("attach", low(key) || low(out_addr) || low(out_size));
    return INTO_GO(LIBSHM_GO_BRIEF, shmlib_go_attach((char *)key, (uintptr_t)addr_hint, flags, out_addr, out_size));
}

int shmlib_detach(void *addr)
{
    GUARD("detach");
    if (low(addr))
        return refuse_low("detach", SHMLIB_ENOTATTACHED, "not the address of a live mapping made by shmlib_attach");
    return INTO_GO(LIBSHM_GO_BRIEF, shmlib_go_detach(addr));
}

int shmlib_destroy(const char *key)
{
    GUARD("destroy");
    POINTERS("destroy", low(key));
    return INTO_GO(LIBSHM_GO_BRIEF, shmlib_go_destroy((char *)key));
}

int shmlib_stat(const char *key, shmlib_stat_t *out_stat)
{
    GUARD("stat");
    POINTERS("stat", low(key) || low(out_stat));
    return INTO_GO(LIBSHM_GO_BRIEF, shmlib_go_stat((char *)key, out_stat));
}

int shmlib_list(shmlib_stat_t *out_items, size_t capacity, size_t *out_count)
{
    GUARD("list");
    POINTERS("list", low(out_items) || low(out_count));
    return INTO_GO(LIBSHM_GO_BRIEF, shmlib_go_list(out_items, capacity, out_count));
}

int shmlib_chan_create(const char *key, uint64_t capacity, uint32_t mode, uint32_t flags,
                       char *out_key, size_t out_key_len)
{
    GUARD("chan_create");
    POINTERS("chan_create", low(key) || low(out_key));
    return INTO_GO(LIBSHM_GO_BRIEF, shmlib_go_chan_create((char *)key, capacity, mode, flags, out_key, out_key_len));
}

int shmlib_chan_open(const char *key, int end, shmlib_chan_t *out_chan)
{
    GUARD("chan_open");
    POINTERS("chan_open", low(key) || low(out_chan));
    return INTO_GO(LIBSHM_GO_BRIEF, shmlib_go_chan_open((char *)key, end, out_chan));
}

int shmlib_chan_close(shmlib_chan_t chan)
{
    GUARD("chan_close");
    return INTO_GO(LIBSHM_GO_BRIEF, shmlib_go_chan_close(chan));
}

int shmlib_chan_max_message(shmlib_chan_t chan, uint64_t *out_size)
{
    GUARD("chan_max_message");
    POINTERS("chan_max_message", low(out_size));
    return INTO_GO(LIBSHM_GO_INSTANT, shmlib_go_chan_max_message(chan, out_size));
}

int shmlib_chan_send(shmlib_chan_t chan, const void *buf, size_t len, int64_t timeout_ns)
{
    GUARD("chan_send");
    POINTERS("chan_send", len > 0 && low(buf));
    return libshm_chan_send(chan, buf, len, timeout_ns);
}

int shmlib_chan_reserve(shmlib_chan_t chan, size_t len, int64_t timeout_ns, void **out_ptr)
{
    GUARD("chan_reserve");
    POINTERS("chan_reserve", low(out_ptr));
    return libshm_chan_reserve(chan, len, timeout_ns, out_ptr);
}

int shmlib_chan_commit(shmlib_chan_t chan, size_t len)
{
    GUARD("chan_commit");
    return libshm_chan_commit(chan, len);
}

int shmlib_chan_recv(shmlib_chan_t chan, void *buf, size_t cap, size_t *out_len, int64_t timeout_ns)
{
    GUARD("chan_recv");
    POINTERS("chan_recv", (cap > 0 && low(buf)) || low(out_len));
    return libshm_chan_recv(chan, buf, cap, out_len, timeout_ns);
}

int shmlib_chan_peek(shmlib_chan_t chan, int64_t timeout_ns, const void **out_ptr, size_t *out_len)
{
    GUARD("chan_peek");
    POINTERS("chan_peek", low(out_ptr) || low(out_len));
    return libshm_chan_peek(chan, timeout_ns, out_ptr, out_len);
}

int shmlib_chan_release(shmlib_chan_t chan)
{
    GUARD("chan_release");
    return libshm_chan_release(chan);
}

int shmlib_memfd_send(int sock, const char *key)
{
    GUARD("memfd_send");
    POINTERS("memfd_send", low(key));
    return INTO_GO(LIBSHM_GO_BRIEF, shmlib_go_memfd_send(sock, (char *)key));
}

int shmlib_memfd_recv(int sock, char *out_key, size_t out_key_len)
{
    GUARD("memfd_recv");
    POINTERS("memfd_recv", low(out_key));
    return INTO_GO(LIBSHM_GO_MAY_WAIT, shmlib_go_memfd_recv(sock, out_key, out_key_len));
}

int shmlib_reap(uint32_t flags, shmlib_stat_t *out_items, size_t capacity, size_t *out_count)
{
    GUARD("reap");
    POINTERS("reap", low(out_items) || low(out_count));
    return INTO_GO(LIBSHM_GO_BRIEF, shmlib_go_reap(flags, out_items, capacity, out_count));
}

/* The data-plane forwarders above and this one call C (chan_*.c), never Go. */
int shmlib_chan_wake(shmlib_chan_t chan)
{
    GUARD("chan_wake");
    return libshm_chan_wake(chan);
}

int shmlib_chan_handover(shmlib_chan_t chan)
{
    GUARD("chan_handover");
    return INTO_GO(LIBSHM_GO_BRIEF, shmlib_go_chan_handover(chan));
}
