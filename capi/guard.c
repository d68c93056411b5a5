/*
 * The public face of libshm: every shmlib_* symbol is defined in C, in
 * capi/. Most are forwarders generated from include/shmlib.h into
 * forward_gen.c (tools/abigen); this file holds what they share, and the
 * version calls, which are written by hand.
 *
 * Each forwarder first checks that it is not running in a child created by
 * fork() without exec(): the Go runtime inside the library cannot run there
 * (the child hangs at its first garbage collection), so such calls must be
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

volatile int libshm_in_forked_child;

static void mark_forked_child(void) { libshm_in_forked_child = 1; }

/* Segments created with SHMLIB_DESTROY_ON_EXIT go as the process exits;
 * not from a forked child, which exits with the parent's list but must not
 * destroy the parent's segments (nor can it enter Go). */
static void destroy_at_exit(void)
{
    if (libshm_in_forked_child)
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

int libshm_refuse_forked(const char *op)
{
    libshm_set_errorf("%s: called in a child created by fork() without exec(); the Go runtime in libshm "
               "cannot run there. Make libshm calls in the parent, or exec a new program "
               "(posix_spawn, subprocess) and call it there. Memory attached before fork() is "
               "still usable.", op);
    return SHMLIB_EFORKED;
}

int libshm_refuse_low(const char *op, int code, const char *what)
{
    libshm_set_errorf("%s: %s", op, what);
    return code;
}

unsigned int shmlib_version(void)
{
    if (libshm_in_forked_child)
        return SHMLIB_VERSION_NUMBER; /* the same constant the Go side returns */
    return INTO_GO(LIBSHM_GO_INSTANT, shmlib_go_version());
}

const char *shmlib_version_string(void) { return SHMLIB_VERSION_STRING; }
