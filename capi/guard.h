/* Internal to capi/: what the Go exports need from guard.c. */
#ifndef LIBSHM_GUARD_H
#define LIBSHM_GUARD_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "shmlib.h"

/* Sets the calling thread's last-error message (truncated to fit). */
void libshm_set_error(const char *msg, size_t len);

/* libshm_set_error, printf-style, for the messages made in C. */
void libshm_set_errorf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* How a call into Go treats the host's signals (capi/signals.c). */
enum libshm_go_call {
    /* Returns soon (the control plane): asynchronous signals blocked for
     * its length, the caller's mask restored after it. */
    LIBSHM_GO_BRIEF,
    /* May wait for another process as long as it takes (memfd_recv): not
     * blocked, or Ctrl-C could not end the wait; SA_ONSTACK added to every
     * host handler first. */
    LIBSHM_GO_MAY_WAIT,
    /* Nanoseconds in Go, and hot: shmlib_version, shmlib_chan_max_message.
     * The mask is restored after a thread's first call only, the one where
     * the runtime changes it. */
    LIBSHM_GO_INSTANT,
};

/* What libshm_go_enter saved for libshm_go_leave. */
struct libshm_go_entry {
    sigset_t mask;
    int restore;
};

void libshm_go_enter(struct libshm_go_entry *e, enum libshm_go_call kind);
void libshm_go_leave(const struct libshm_go_entry *e);

/* Adds SA_ONSTACK to every host signal handler that lacks it. */
void libshm_onstack_all(void);

/* Adds SA_ONSTACK to the host's handlers of the signals the runtime's
 * threads leave unblocked (SIGCHLD, SIGPROF, glibc's cancellation
 * signal), at most every 50 us: at calls into Go, and before a channel
 * wait sleeps (the waiter is in C, on its own stack, but the runtime's
 * threads may take such a signal meanwhile). */
void libshm_onstack_now_and_then(void);

/* The value of call, a call into Go, made between libshm_go_enter and
 * libshm_go_leave. */
#define INTO_GO(kind, call)                                                                \
    ({                                                                                     \
        struct libshm_go_entry into_go_entry_;                                             \
        libshm_go_enter(&into_go_entry_, kind);                                            \
        __typeof__(call) into_go_rc_ = (call);                                             \
        libshm_go_leave(&into_go_entry_);                                                  \
        into_go_rc_;                                                                       \
    })

/* Set in a child created by fork() without exec() (guard.c). */
extern volatile int libshm_in_forked_child;

/* Set the last error for a call refused before it reached Go, and return
 * the code: SHMLIB_EFORKED in a forked child; `code` for a bad pointer. */
int libshm_refuse_forked(const char *op);
int libshm_refuse_low(const char *op, int code, const char *what);

/* A forwarder's first line: no call reaches Go in a forked child. */
#define GUARD(op) do { if (libshm_in_forked_child) return libshm_refuse_forked(op); } while (0)

/*
 * Go's garbage collector aborts the process when it finds a value below
 * 4096 in a pointer on a goroutine's stack ("invalid pointer found on
 * stack"), and the Go exports hold the caller's pointers as pointers. No
 * valid pointer is that low (the first page is never mapped), so such an
 * argument is refused before it reaches Go, with the code a pointer to
 * inaccessible memory gets anyway.
 */
static inline int low(const void *p) { return p != NULL && (uintptr_t)p < 4096; }

#define POINTERS(op, bad)                                                                  \
    do {                                                                                   \
        if (bad)                                                                           \
            return libshm_refuse_low(op, SHMLIB_EFAULT,                                    \
                                     "a pointer argument points to memory that cannot be accessed"); \
    } while (0)

#endif
