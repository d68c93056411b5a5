/*
 * shmlib.h - the C contract of libshm, shared memory for processes written in
 * C, Python and Go.
 *
 * libshm creates, attaches, detaches and destroys shared memory segments of
 * the kinds Linux offers:
 *
 *   - POSIX objects: files in /dev/shm, the very ones glibc's shm_open() and
 *     Python's multiprocessing.shared_memory use;
 *   - System V segments: shmget()/shmat()/shmdt()/shmctl(), the ones
 *     `ipcs -m` lists;
 *   - memfd segments (memfd_create()), which have no global name and so
 *     cannot outlive the processes that hold them: see MEMFD SEGMENTS.
 *
 * Every segment is named by a KEY, a short printable string that one process
 * can hand to another on a command line, in a file or in the environment.
 *
 * ---------------------------------------------------------------------------
 * THE LIFECYCLE
 * ---------------------------------------------------------------------------
 *
 *   create   makes a new segment of a given size and gives its key back.
 *            Nothing is mapped yet; the segment exists in the kernel on its
 *            own, whether or not any process has it attached.
 *   attach   maps a segment into this process and returns its address. Any
 *            number of processes may attach the same segment, each at an
 *            address of its own, and all of them see the same pages: a byte
 *            written by one is seen by every other at once.
 *   detach   ends ONE mapping in THIS process (by address, as shmdt() does).
 *            The segment and its contents live on: other processes are not
 *            affected, and anybody, this process included, can attach again.
 *   destroy  removes the segment (by key). New attaches fail from then on
 *            with SHMLIB_ENOENT. Processes that still have it attached keep
 *            reading and writing it; the memory itself is freed by the kernel
 *            when the last of them detaches or exits.
 *
 * Detach vs destroy, in one line: detach is "I am done with it", destroy is
 * "everybody is done with it". Exiting, crashing or detaching never destroys
 * a segment; only destroy (or a reboot) does. A program that creates
 * segments must destroy them, or they stay in memory until the machine
 * restarts (`python3 -m shmlib ls` and `ipcs -m` show what is left).
 *
 * ---------------------------------------------------------------------------
 * KEYS
 * ---------------------------------------------------------------------------
 *
 *   posix:/NAME       a POSIX object, the file /dev/shm/NAME. NAME is 1 to
 *                     255 bytes, contains no '/' and no NUL, and is not "."
 *                     or "..". The same rules as glibc's shm_open().
 *   /NAME             shorthand for posix:/NAME (the form shm_open() takes).
 *   sysv:key=K        a System V segment by its IPC key K, a nonzero 32-bit
 *                     number written in hex (0x5a01c0de) or decimal.
 *   sysv:id=N         a System V segment by its shmid N (decimal), the only
 *                     handle of a segment created with IPC_PRIVATE.
 *   memfd:pid=P,fd=F,ino=I
 *                     the memfd segment with inode I that process P holds as
 *                     descriptor F (the inode tells it from whatever gets
 *                     descriptor F after the segment is destroyed).
 *
 * Only for shmlib_create(), where the library picks the name:
 *
 *   NULL, "" or "posix:"  a new POSIX object with a unique generated name.
 *   "sysv:"               a new System V segment with a unique random key.
 *   "sysv:private"        a new IPC_PRIVATE System V segment (key sysv:id=N).
 *   "memfd:"              a new memfd segment held by this process.
 *
 * Keys the library returns are always canonical: "posix:/NAME",
 * "sysv:key=0x%08x", "sysv:id=N" or "memfd:pid=P,fd=F,ino=I". A key never exceeds
 * SHMLIB_KEY_MAX bytes including its terminating NUL, so a buffer of that
 * size always suffices.
 *
 * ---------------------------------------------------------------------------
 * ERRORS
 * ---------------------------------------------------------------------------
 *
 * Functions return int: 0 on success (shmlib_create() may also return
 * SHMLIB_OPENED, see there) or a negative SHMLIB_E* code. shmlib_strerror()
 * turns a code into a short static description; shmlib_last_error() gives
 * the full one-line message of the calling thread's last failure, which names
 * the operation, the key and what went wrong, e.g.
 *
 *     attach posix:/frames: no such segment
 *
 * A message is always one line: a key or path holding control bytes or
 * invalid UTF-8 (a POSIX name may hold any byte but '/' and NUL) is shown
 * quoted, with C-like escapes: attach "posix:/a\nb": no such segment.
 *
 * Output parameters are written only on success, unless a function says
 * otherwise (shmlib_list, shmlib_last_error). A pointer argument to memory
 * the caller cannot read or write gives SHMLIB_EFAULT instead of a crash:
 * out-parameters are checked before the call changes anything, so such a
 * failure leaves nothing behind (no mapping, no held end, no lost
 * message). The one exception is shmlib_last_error, which runs without the
 * Go runtime and must be given a writable buffer. A fault in the memory of
 * a segment the library has mapped in this process (another process
 * truncated the POSIX object under the mapping) is also SHMLIB_EFAULT, and
 * its message says so and names that segment's key, rather than blaming a
 * pointer argument. Strings are returned in
 * buffers owned by the caller, with their length, and are always
 * NUL-terminated; a buffer that is too small gives SHMLIB_ERANGE.
 *
 * ---------------------------------------------------------------------------
 * THREADS, FORK, SIGNALS
 * ---------------------------------------------------------------------------
 *
 * Every function may be called from any number of threads at once. The
 * library's table of live mappings is protected by a lock; the last-error
 * message is kept per thread.
 *
 * libshm contains a Go runtime. A Go runtime cannot run in a child created
 * by fork() without exec(), so in such a child every function except
 * shmlib_strerror(), shmlib_last_error(), shmlib_version() and
 * shmlib_version_string() returns SHMLIB_EFORKED without doing anything.
 * Memory the parent had attached stays mapped in the child and can be read
 * and written there as usual. Call exec() (posix_spawn, subprocess) and use
 * the library in the new program; or do all libshm calls in the parent.
 *
 * The library never writes to stdout or stderr and must never be unloaded
 * (do not dlclose()). Use it with glibc on Linux, as a shared library: there
 * is no static archive, and musl is not supported.
 *
 * Loading. Loading libshm starts the Go runtime's threads (about 5, more
 * later as calls need them). A process that cannot start them (RLIMIT_NPROC
 * nearly reached, a seccomp filter that denies clone) is aborted by the
 * runtime during the load: this cannot be caught. The library takes 16
 * bytes of static TLS, so dlopen() does not run out of it.
 *
 * The host's Go settings are not the library's: GODEBUG is hidden from its
 * runtime (so gctrace=1, inittrace=1 and the like print nothing), and it
 * collects garbage as the runtime does by default whatever GOGC and
 * GOMEMLIMIT say. While libshm loads, another thread that reads GODEBUG
 * sees it empty for that moment.
 *
 * Signals. The Go runtime installs handlers for the synchronous signals
 * (SIGSEGV, SIGBUS, SIGFPE), for SIGPIPE and for SIGURG, at load, with
 * SA_ONSTACK; the handlers that were there before are kept, and called for
 * every such signal that arrives outside the runtime's Go code (a fault in
 * your code still reaches your handler). SIGURG is the runtime's own:
 * it uses it to preempt its goroutines, so a second Go runtime in the
 * process (another Go library, loaded before or after) loses its
 * asynchronous preemption (a collection there can wait seconds instead of
 * milliseconds). The library installs no handler of its own.
 *
 *   - Crash and fault handlers (SIGSEGV, SIGBUS: crash reporters, Python's
 *     faulthandler.enable()) must be installed BEFORE libshm is loaded.
 *     Installed after, they replace the runtime's, and a bad pointer that
 *     the library would have reported as SHMLIB_EFAULT aborts the process.
 *   - Other handlers may be installed at any time, with or without
 *     SA_ONSTACK. A handler without SA_ONSTACK would run on a goroutine's
 *     small stack and crash the process, so the library adds SA_ONSTACK to
 *     the host's handlers that lack it: for every signal at load and
 *     before shmlib_memfd_recv() (which may wait); for SIGCHLD, SIGPROF and
 *     glibc's cancellation signal (which the runtime's threads leave
 *     unblocked) at calls and before a channel wait sleeps, at most every
 *     50 us.
 *     sigaction() then shows SA_ONSTACK set. On a thread without an
 *     alternate signal stack the handler runs as before; every thread that
 *     has called libshm has one (the runtime's, 32 KiB), so keep handlers
 *     to well under that much stack. A SIGCHLD or SIGPROF handler
 *     installed after the load is safe once such a check has been made;
 *     until then it can crash the process if its signal lands on a
 *     runtime thread running Go code. A handler of another signal
 *     installed after the load without SA_ONSTACK can still crash the
 *     process if its signal comes during shmlib_version(), which leaves the
 *     mask alone (next item): install such handlers with SA_ONSTACK, or
 *     before loading libshm. (The channel data calls run in C on the
 *     caller's own stack, waits included: a handler that runs during one
 *     runs as it would anywhere in the host.)
 *   - During a call, the calling thread blocks the asynchronous signals
 *     (all but the synchronous ones and SIGURG); one that arrives is
 *     handled when the call returns. Calls that may wait leave the mask
 *     alone, so that Ctrl-C still ends a program waiting there:
 *     shmlib_memfd_recv() and the channel data calls; shmlib_version()
 *     does too. Every call returns with the thread's mask as it found it.
 *   - The runtime's threads block every asynchronous signal but SIGCHLD,
 *     SIGPROF and SIGURG (whatever the loading thread's mask), so a
 *     process-directed signal such as SIGINT or SIGTERM goes to the host's
 *     threads: a host that blocks SIGINT and SIGTERM and takes them with
 *     sigwait() or a signalfd receives every one, blocked before or after
 *     the load. SIGCHLD and SIGPROF are the exception: the runtime needs
 *     them unblocked on its threads, so a handler of theirs may run on one,
 *     and a host that takes them with sigwait() or a signalfd instead may
 *     miss some (measured: 2 of 50 SIGCHLD), which then take their default
 *     action (for SIGCHLD, none). Handle them with a handler, or reap
 *     children with waitpid() whether or not a SIGCHLD came.
 *   - The library's own socket writes (shmlib_memfd_send()) use
 *     MSG_NOSIGNAL: a closed peer gives an error, never SIGPIPE.
 *
 * Valgrind: memcheck misreads the Go runtime (conditional jumps in Go code,
 * the runtime's threads' TLS "possibly lost" at exit). Run with the
 * suppressions file shipped as bindings/c/libshm.supp:
 *     valgrind --suppressions=libshm.supp ./program
 */
#ifndef SHMLIB_H
#define SHMLIB_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- version */

#define SHMLIB_VERSION_MAJOR 0
#define SHMLIB_VERSION_MINOR 1
#define SHMLIB_VERSION_PATCH 0
/* MAJOR * 10000 + MINOR * 100 + PATCH, e.g. 100 for 0.1.0. */
#define SHMLIB_VERSION_NUMBER \
    (SHMLIB_VERSION_MAJOR * 10000 + SHMLIB_VERSION_MINOR * 100 + SHMLIB_VERSION_PATCH)
#define SHMLIB_VERSION_STRING "0.1.0"

/*
 * The version of the library actually loaded, as SHMLIB_VERSION_NUMBER
 * encodes it. Compare it with SHMLIB_VERSION_NUMBER to detect a program
 * built against one version and run with another. Never fails.
 */
unsigned int shmlib_version(void);

/* The same as a static string, e.g. "0.1.0". Never fails, never NULL. */
const char *shmlib_version_string(void);

/* ------------------------------------------------------------ error codes */

/*
 * Each code's comment starts with the text shmlib_strerror() gives for it, in
 * quotes, and the name the Go binding gives it; then what it means. The
 * bindings' tables are generated from these lines (tools/abigen).
 */

#define SHMLIB_OK             0   /* "success" */
#define SHMLIB_EINVAL        -1   /* "invalid argument" (Go ErrInvalid): NULL, malformed key, size 0, unknown flag */
#define SHMLIB_ENOENT        -2   /* "no such segment" (Go ErrNotExist): never created, or destroyed */
#define SHMLIB_EEXIST        -3   /* "segment already exists" (Go ErrExist): a segment with this key already exists */
#define SHMLIB_EACCES        -4   /* "permission denied" (Go ErrPermission): by the segment's mode or owner */
#define SHMLIB_ENOMEM        -5   /* "not enough memory or over a system limit" (Go ErrNoMemory): not enough memory, or over a system limit (shmmax, shmall, shmmni, /dev/shm size, RLIMIT_MEMLOCK) */
#define SHMLIB_ERANGE        -6   /* "buffer too small" (Go ErrRange): an output buffer is too small */
#define SHMLIB_ENOTATTACHED  -7   /* "address is not attached" (Go ErrNotAttached): the address is not a live mapping made by shmlib_attach() */
#define SHMLIB_ENOTSUP       -8   /* "not supported on this system" (Go ErrNotSupported): not supported here (e.g. huge pages on a system that has none) */
#define SHMLIB_EFAULT        -9   /* "memory fault in a segment" (Go ErrFault): a memory fault while the library touched a segment */
#define SHMLIB_EFORKED      -10   /* "called in a forked child" (Go ErrForked): called in a child made by fork() without exec() */
#define SHMLIB_EOS          -11   /* "operating system error" (Go ErrOS): another error from the operating system; the message names it */
#define SHMLIB_EINTERNAL    -12   /* "internal error in libshm" (Go ErrInternal): a bug in libshm; the message says where. Please report it. */
/* Channel codes (see CHANNELS below). */
#define SHMLIB_ETIMEDOUT    -13   /* "timed out" (Go ErrTimeout): the timeout passed (or was 0) before the call could proceed */
#define SHMLIB_EEOS         -14   /* "end of stream" (Go ErrEndOfStream): the producer closed and every message was received */
#define SHMLIB_EPEER        -15   /* "peer gone" (Go ErrPeerGone): the other end's process died; what it committed is still readable */
#define SHMLIB_ECORRUPT     -16   /* "corrupt channel" (Go ErrCorrupt): the channel's shared state is inconsistent (scribbled on) */
#define SHMLIB_EBUSY        -17   /* "busy" (Go ErrBusy): that end is held by a live process, or in use by another thread */
#define SHMLIB_EMSGSIZE     -18   /* "message too large" (Go ErrTooLarge): a message larger than the channel carries */
#define SHMLIB_EINTR        -19   /* "interrupted by a signal" (Go ErrInterrupted): a signal ended a wait (only on ends opened with SHMLIB_CHAN_EINTR) */
#define SHMLIB_EWOKEN       -20   /* "woken by another thread" (Go ErrWoken): another thread ended a wait: shmlib_chan_wake, or a close or handover of the end */

/* Returned by shmlib_create() with SHMLIB_OPEN_EXISTING when the segment was
 * already there and has been opened, not created. Not an error. */
#define SHMLIB_OPENED         1   /* "opened an existing segment" */

/*
 * A short static description of a code, e.g. "no such segment". Unknown
 * codes give "unknown error code". Never fails, never NULL; works in a
 * forked child.
 */
const char *shmlib_strerror(int code);

/*
 * Copies the message of the calling thread's most recent failure into buf,
 * NUL-terminated, e.g. "attach posix:/frames: no such segment". Calls that
 * succeed leave it unchanged; before any failure it is "".
 *
 * Returns 0, or SHMLIB_ERANGE if the message was cut to fit (buf still holds
 * its beginning, NUL-terminated), or SHMLIB_EINVAL if buf is NULL or len is 0.
 * Messages are shorter than SHMLIB_ERROR_MAX bytes, so a buffer of that size
 * always holds one. Works in a forked child.
 */
int shmlib_last_error(char *buf, size_t len);

/* The size of a buffer that holds any last-error message, NUL included. */
#define SHMLIB_ERROR_MAX 512

/* ------------------------------------------------------------------ keys */

/* The size of a buffer that holds any key, terminating NUL included. */
#define SHMLIB_KEY_MAX 272

/*
 * The System V key that glibc's ftok(path, proj_id) gives, as a key string
 * "sysv:key=0x%08x" written to out_key. path must name an existing file that
 * the caller can stat(); proj_id must be 1..255 (ftok uses only its low 8
 * bits, so larger values would silently collide).
 *
 * Like ftok(), the key is made of the file's inode and device numbers: two
 * files can give the same key, and a file deleted and made again gives a
 * different one.
 *
 * Errors: SHMLIB_EINVAL (NULL or empty path, proj_id out of range, NULL
 * out_key), SHMLIB_ENOENT (no such file), SHMLIB_EACCES (cannot stat it),
 * SHMLIB_ERANGE (out_key_len too small; SHMLIB_KEY_MAX always suffices).
 */
int shmlib_ftok(const char *path, int proj_id, char *out_key, size_t out_key_len);

/*
 * Writes the canonical form of key to out_key, the form the library
 * returns and its messages show: "/NAME" becomes "posix:/NAME", a System V
 * key "sysv:key=0x%08x" whether written in hex or decimal, and numbers lose
 * their leading zeros. A key that asks shmlib_create to choose keeps its
 * form ("" gives "posix:"). Only the string is read: the segment need not
 * exist.
 *
 * Errors: SHMLIB_EINVAL (NULL or malformed key, NULL out_key), SHMLIB_ERANGE
 * (out_key_len too small; SHMLIB_KEY_MAX always suffices).
 */
int shmlib_key_normalize(const char *key, char *out_key, size_t out_key_len);

/* ----------------------------------------------------------------- flags */

/* shmlib_create() flags. */
#define SHMLIB_OPEN_EXISTING 0x0100u /* if the segment exists, open it instead of failing
                                        with SHMLIB_EEXIST (it must be at least `size` bytes) */
#define SHMLIB_HUGETLB       0x0200u /* System V only: back the segment with huge pages
                                        (SHM_HUGETLB); SHMLIB_ENOTSUP where none are reserved */
#define SHMLIB_SPARSE        0x0400u /* POSIX and memfd: do not reserve the memory at create
                                        (see shmlib_create); pages are allocated on first touch */
#define SHMLIB_DESTROY_ON_EXIT 0x0800u /* destroy the segment when this process exits
                                        normally, unless it was destroyed before (see
                                        shmlib_create) */

/* shmlib_attach() flags. */
#define SHMLIB_RDONLY        0x0001u /* map read-only (PROT_READ / SHM_RDONLY); a write faults */
#define SHMLIB_POPULATE      0x0002u /* pre-fault every page now (MAP_POPULATE / MADV_POPULATE_*) */
#define SHMLIB_LOCK          0x0004u /* lock this mapping's pages in RAM (mlock); needs
                                        RLIMIT_MEMLOCK room or CAP_IPC_LOCK */
#define SHMLIB_FIXED         0x0008u /* map exactly at addr_hint or fail; never replaces
                                        an existing mapping */

/* -------------------------------------------------------------- lifecycle */

/*
 * Creates a segment of `size` bytes, zero-filled, with permission bits
 * `mode`, and writes its canonical key to out_key.
 *
 * key     where to create it (see KEYS); NULL, "", "posix:", "sysv:" and
 *         "sysv:private" let the library choose, and out_key tells the
 *         choice. A "sysv:id=N" key cannot be created.
 * size    in bytes, at least 1. System V limits it to shmmax
 *         (/proc/sys/kernel/shmmax); POSIX to the free space of /dev/shm.
 * mode    permission bits, at most 0777; 0 means 0600 (owner read/write).
 *         The mode is applied exactly: the process umask does not narrow it.
 * flags   0, or SHMLIB_OPEN_EXISTING, SHMLIB_HUGETLB, SHMLIB_SPARSE,
 *         SHMLIB_DESTROY_ON_EXIT or'ed.
 * out_key receives the canonical key, NUL-terminated. May be NULL when key
 *         names the segment fully; required when the library chooses.
 *
 * Creation is exclusive: an existing segment is never reused silently. With
 * SHMLIB_OPEN_EXISTING an existing segment of at least `size` bytes is
 * opened instead (its mode is left alone) and SHMLIB_OPENED is returned.
 *
 * A POSIX or memfd segment's memory is reserved at create (fallocate), so
 * that asking for more than /dev/shm holds fails here with SHMLIB_ENOMEM
 * rather than killing a process with SIGBUS on first touch. SHMLIB_SPARSE
 * skips that for huge, mostly empty segments, with exactly that risk.
 *
 * Memory the kernel cannot give is not refused by it but taken by force: a
 * memfd has no size limit, and reserving past the machine's memory sets off
 * the OOM killer; past the limit of a memory cgroup, the cgroup's OOM killer
 * takes the process. So before it reserves anything, a create of 1 MiB or
 * more compares its size with the memory this process can still be given:
 * the machine's (MemAvailable, plus SwapFree, in /proc/meminfo) and, where
 * the process is in memory cgroups, each one's limit less its usage
 * (memory.max and memory.current in cgroup v2, memory.limit_in_bytes and
 * memory.usage_in_bytes in v1, reclaimable page cache counting as free).
 * A size over the smallest of these fails with SHMLIB_ENOMEM and a message
 * naming that limit, and nothing is made. (For a POSIX object, when the
 * free space of /dev/shm is smaller still, the message names /dev/shm.) These are estimates of a moment:
 * creates racing each other, or other allocations, can still exhaust
 * memory. Creates that reserve nothing are not checked: SHMLIB_SPARSE ones,
 * and System V segments, which the kernel backs page by page on first touch
 * (it refuses at shmget only sizes over shmmax, shmall or, by its overcommit
 * rules, memory plus swap).
 *
 * A create that fails leaves nothing behind: no empty /dev/shm file, no
 * orphaned System V id. Creating does not attach: call shmlib_attach().
 *
 * SHMLIB_DESTROY_ON_EXIT makes the creator its owner: the segment is
 * destroyed when this process exits normally (exit() or a return from
 * main, also from a signal handler that calls exit()), unless something
 * destroyed it before. An existing segment opened with SHMLIB_OPEN_EXISTING
 * is not taken over. A process killed by a signal it does not catch (or by
 * SIGKILL) runs no exit code at all: for memory that must go whatever
 * happens, use a memfd segment.
 *
 * Returns 0 (created), SHMLIB_OPENED (opened, with SHMLIB_OPEN_EXISTING), or
 * SHMLIB_EINVAL (malformed key, size 0, mode above 0777, unknown flag, NULL
 * out_key for a chosen key, or an existing segment smaller than `size`),
 * SHMLIB_EEXIST, SHMLIB_EACCES, SHMLIB_ENOMEM (over shmmax/shmall/shmmni,
 * the space of /dev/shm, or the memory the machine or a memory cgroup can
 * still give), SHMLIB_ENOTSUP (SHMLIB_HUGETLB without huge pages,
 * or on POSIX; SHMLIB_SPARSE on System V), SHMLIB_ERANGE (out_key_len too
 * small: the segment is not left behind), SHMLIB_EOS.
 */
int shmlib_create(const char *key, uint64_t size, uint32_t mode, uint32_t flags,
                  char *out_key, size_t out_key_len);

/*
 * Maps the segment named by key into this process.
 *
 * addr_hint NULL to let the kernel choose, or a page-aligned address to try
 *           first; the segment goes elsewhere if that range is taken, unless
 *           SHMLIB_FIXED is given, in which case it fails with SHMLIB_EINVAL.
 * flags     0, or SHMLIB_RDONLY, SHMLIB_POPULATE, SHMLIB_LOCK, SHMLIB_FIXED.
 * out_addr  receives the address of the mapping (required).
 * out_size  receives the size of the segment in bytes (may be NULL). The
 *           mapping covers exactly this many bytes.
 *
 * Every attach is a new, independent mapping, also when this process has
 * the segment attached already; each one must be detached on its own.
 * A read-only mapping can be made of a segment the caller may only read;
 * writing through it raises SIGSEGV. The memory stays valid until
 * shmlib_detach(addr), even after the segment is destroyed.
 *
 * /dev/shm is writable by everyone, so a name there may hold a FIFO, a
 * socket, a device, a directory or a symlink that someone planted. No
 * call of the library blocks on one or follows one: attach, stat,
 * destroy and chan_open refuse it, and say what it is.
 *
 * Errors: SHMLIB_EINVAL (malformed or creation-only key, NULL out_addr,
 * unknown flag, SHMLIB_FIXED without a usable addr_hint, a POSIX name
 * that is not a regular file), SHMLIB_ENOENT
 * (no such segment, or destroyed), SHMLIB_EACCES (the mode does not allow
 * it: a read-only attach may still work), SHMLIB_ENOMEM (no address space,
 * or SHMLIB_LOCK over RLIMIT_MEMLOCK), SHMLIB_EOS. On error nothing is
 * left mapped.
 */
int shmlib_attach(const char *key, void *addr_hint, uint32_t flags,
                  void **out_addr, uint64_t *out_size);

/*
 * Ends the mapping at addr, the address shmlib_attach() returned. The
 * segment lives on; other mappings of it, here or elsewhere, are not
 * affected. After this, addr must not be touched: it is no longer mapped.
 *
 * Errors: SHMLIB_EINVAL (addr is NULL), SHMLIB_ENOTATTACHED (addr is not
 * the start of a live mapping made by shmlib_attach(), e.g. detached
 * already, or inside a mapping rather than at its start).
 */
int shmlib_detach(void *addr);

/*
 * Destroys the segment named by key. It disappears from /dev/shm or from
 * `ipcs -m` at once for POSIX; for System V it is marked for removal and
 * goes when the last process detaches. In both cases new attaches fail
 * with SHMLIB_ENOENT, and existing mappings keep working until detached.
 * Any process the mode allows may destroy a segment, not only its creator.
 *
 * Only segments are destroyed: a FIFO, socket, device, directory or
 * symlink under a POSIX name is left where it is (SHMLIB_EINVAL, and the
 * message says what it is).
 *
 * Errors: SHMLIB_EINVAL (malformed or creation-only key, or a POSIX name
 * that is not a shared memory object), SHMLIB_ENOENT
 * (no such segment, or already destroyed), SHMLIB_EACCES (not the owner,
 * creator or root for System V; no write access to /dev/shm for POSIX),
 * SHMLIB_EOS.
 */
int shmlib_destroy(const char *key);

/* ------------------------------------------------------------ inspection */

#define SHMLIB_BACKEND_POSIX 1
#define SHMLIB_BACKEND_SYSV  2
#define SHMLIB_BACKEND_MEMFD 3

/* shmlib_stat_t.flags */
#define SHMLIB_STAT_DESTROYED 0x1u /* System V: marked for removal, still attached somewhere */
#define SHMLIB_STAT_LOCKED    0x2u /* System V: locked in RAM with SHM_LOCK */
#define SHMLIB_STAT_CHANNEL   0x4u /* holds a channel made by shmlib_chan_create */
#define SHMLIB_STAT_BROADCAST 0x8u /* holds a broadcast channel made by shmlib_bcast_create */

/*
 * What the kernel knows of a segment. Fields that a backend does not record
 * are 0, or -1 where 0 would be a valid value; each says which.
 * The layout is fixed (408 bytes on every Linux ABI); the reserved words are
 * zero and may gain meaning in later minor versions.
 */
typedef struct shmlib_stat {
    char     key[SHMLIB_KEY_MAX]; /* canonical key; by id for System V segments
                                     without a key (IPC_PRIVATE or destroyed) */
    uint64_t size;      /* bytes */
    int64_t  nattach;   /* current number of attaches, all processes (System V);
                           -1 for POSIX, where the kernel does not count them */
    int64_t  atime;     /* System V: last attach; POSIX: last access. Seconds
                           since the epoch, 0 if never */
    int64_t  dtime;     /* System V: last detach; 0 if never, always 0 for POSIX */
    int64_t  ctime;     /* last change of size, mode or owner; seconds since the epoch */
    uint32_t backend;   /* SHMLIB_BACKEND_POSIX, _SYSV or _MEMFD */
    uint32_t mode;      /* permission bits, e.g. 0600 */
    uint32_t uid;       /* owner */
    uint32_t gid;
    uint32_t cuid;      /* creator (System V); the same as the owner for POSIX */
    uint32_t cgid;
    int32_t  cpid;      /* pid of the creator (System V); 0 for POSIX */
    int32_t  lpid;      /* pid of the last attach or detach (System V); 0 for POSIX */
    int32_t  shmid;     /* System V id; -1 for POSIX */
    uint32_t ipc_key;   /* System V IPC key, 0 for IPC_PRIVATE; 0 for POSIX */
    uint32_t flags;     /* SHMLIB_STAT_* */
    uint32_t reserved0;
    uint64_t reserved[6];
} shmlib_stat_t;

/*
 * Fills *out_stat for the segment named by key. Needs no attach, and needs
 * no permission on the segment itself: like `ls -l` and `ipcs -m`, it works
 * for segments the caller cannot read (System V ones are then described
 * from /proc/sysvipc/shm).
 *
 * To tell whether a segment holds a channel (SHMLIB_STAT_CHANNEL), its first
 * bytes are read when the caller may read them: with pread for POSIX; for
 * System V segments whose size fits a channel, by attaching read-only for an
 * instant, which the kernel records in atime, dtime and lpid. Nothing else
 * changes.
 *
 * Errors: SHMLIB_EINVAL (malformed or creation-only key, NULL out_stat),
 * SHMLIB_ENOENT, SHMLIB_EOS.
 */
int shmlib_stat(const char *key, shmlib_stat_t *out_stat);

/*
 * Lists every segment the caller can see, POSIX objects first (sorted by
 * name), then System V segments (sorted by shmid), then the memfd segments
 * this process holds (by descriptor; another process's memfds have no name
 * to be found by). Writes up to `capacity`
 * entries to out_items and the total number that exists to *out_count.
 *
 * To size a buffer, call with out_items NULL and capacity 0: it returns 0
 * and sets *out_count. Segments come and go between two calls: allocate
 * some spare room and call again on SHMLIB_ERANGE.
 *
 * Errors: SHMLIB_EINVAL (NULL out_count, or NULL out_items with nonzero
 * capacity), SHMLIB_ERANGE (more than `capacity` segments: the first
 * `capacity` are written, *out_count tells how many there are), SHMLIB_EOS.
 */
int shmlib_list(shmlib_stat_t *out_items, size_t capacity, size_t *out_count);

/* shmlib_reap() flags. */
#define SHMLIB_REAP_DESTROY 0x1u /* destroy what is found; without it, only list */

/*
 * Finds the segments that libshm made and that nobody will ever destroy:
 * their creator is dead and no process has them attached or open. With
 * SHMLIB_REAP_DESTROY it destroys them; without, it only lists them (a dry
 * run). Writes up to `capacity` of them to out_items and how many there
 * are (and, with the flag, were destroyed) to *out_count, as shmlib_list.
 * Each item is what shmlib_stat gives, except that a POSIX item's cpid is
 * the creator's pid from its name (shmlib_stat knows none for POSIX).
 *
 * It knows a segment as libshm's only by the name or key libshm chose for
 * it, in a create without a key: POSIX names "shmlib-PID-START-RANDOM"
 * carry their creator's pid and start time (so a later process with the
 * same pid is not taken for it); System V keys the library picks have the
 * top byte 0xf5, and the kernel records their creator, and whether anybody
 * has them attached. It never touches a segment its user named, one whose
 * creator lives, one in use, or a memfd (memfds cannot leak). Whether a
 * POSIX object is in use is read from every process's /proc/PID/maps and
 * /proc/PID/fd that the caller may read: run it as root, or as the user
 * whose segments they are.
 *
 * Containers: a POSIX name carries the pid its creator had in its own pid
 * namespace. A creator in a namespace nested in the caller's is found by
 * that pid and its start time; a caller outside the initial pid namespace
 * cannot see every process, so there a creator it cannot find counts as
 * alive and its segments are never offered. A System V creator the
 * kernel does not show in the caller's namespace is not judged either.
 *
 * Errors: SHMLIB_EINVAL (unknown flag, NULL out_count, NULL out_items with
 * nonzero capacity), SHMLIB_ERANGE (more than `capacity` found: all were
 * destroyed with the flag, the first `capacity` are written), SHMLIB_EOS.
 */
int shmlib_reap(uint32_t flags, shmlib_stat_t *out_items, size_t capacity, size_t *out_count);

/* -------------------------------------------------------- memfd segments */

/*
 * MEMFD SEGMENTS have no name in any filesystem, so nothing can leak: a
 * memfd lives while a process holds a descriptor of it or a mapping of it,
 * and its memory goes when the last of these ends, also when its processes
 * crash. shmlib_create("memfd:", ...) makes one, held by this process, with
 * the key "memfd:pid=P,fd=F,ino=I" (P this process, F the descriptor it
 * holds, I the memfd's inode, so that a key outliving its segment never
 * names another that gets the same descriptor).
 *
 *   - Another process of the same user (or root) attaches it by that key
 *     while P lives, through /proc/P/fd/F, as its mode allows.
 *   - Or P passes it over a Unix socket (shmlib_memfd_send); the receiver
 *     then holds it too, under a key of its own (shmlib_memfd_recv), and
 *     the segment lives on after P exits.
 *   - shmlib_destroy(key) in the holding process closes its descriptor:
 *     new attaches by that key fail; mappings, and other holders, go on.
 *     Another process cannot destroy it (SHMLIB_EACCES).
 *   - The segment is sealed against shrinking and growing: no process can
 *     truncate it under another's mapping (the SIGBUS trap of POSIX
 *     objects). Its memory is reserved at create unless SHMLIB_SPARSE.
 *
 * Channels work on memfd segments as on the others (shmlib_chan_create
 * with "memfd:"). shmlib_create refuses SHMLIB_HUGETLB (SHMLIB_ENOTSUP) and
 * SHMLIB_OPEN_EXISTING (SHMLIB_EINVAL) for them. shmlib_stat describes a
 * memfd with backend SHMLIB_BACKEND_MEMFD, cpid the holding process, and
 * nattach -1, shmid -1, ipc_key 0, as for POSIX objects.
 */

/*
 * Sends the memfd segment named by key, which this process holds, over the
 * connected Unix socket sock (SCM_RIGHTS, with one byte of data). The
 * segment stays held here too.
 *
 * Errors: SHMLIB_EINVAL (malformed key, or not a memfd this process holds),
 * SHMLIB_EOS (the socket refused: e.g. not a Unix socket, or closed).
 */
int shmlib_memfd_send(int sock, const char *key);

/*
 * Waits for a memfd segment sent with shmlib_memfd_send on the connected
 * Unix socket sock; this process then holds it, and out_key receives its
 * key here ("memfd:pid=<this process>,fd=<the descriptor received>,ino=I").
 * Blocks as a read of the socket would (use poll first to bound it).
 *
 * Errors: SHMLIB_EINVAL (NULL out_key; or the message carried no
 * descriptor, or not a memfd segment: it is closed, not kept), SHMLIB_EEOS
 * (the other end closed the socket before sending one), SHMLIB_ERANGE
 * (out_key_len too small: the descriptor is closed again), SHMLIB_EOS (the
 * socket failed).
 */
int shmlib_memfd_recv(int sock, char *out_key, size_t out_key_len);

/* -------------------------------------------------------------- channels */

/*
 * A CHANNEL is a segment that carries messages from one producer process to
 * one consumer process: variable-length messages, in order, none lost,
 * through a ring of bounded capacity in the segment itself. It says "a
 * buffer is ready" and "I have consumed it" without pipes or sockets, and
 * lets both sides work in place, without copies.
 *
 *   create   shmlib_chan_create makes the segment and lays out an empty
 *            channel. Its key works like any segment's: hand it over, and
 *            shmlib_destroy it when done.
 *   open     a process takes one END: SHMLIB_CHAN_PRODUCER or
 *            SHMLIB_CHAN_CONSUMER, and gets a handle. Each end is held by
 *            one process at a time: a second one gets SHMLIB_EBUSY, unless
 *            the holder has died, in which case the end is taken over.
 *   send     copy a message in (shmlib_chan_send), or write it in place:
 *            shmlib_chan_reserve, fill, shmlib_chan_commit (or
 *            shmlib_chan_unreserve to send nothing after all).
 *   receive  copy a message out (shmlib_chan_recv), or read it in place:
 *            shmlib_chan_peek, use, shmlib_chan_release (or
 *            shmlib_chan_unpeek to leave it in the channel).
 *   close    shmlib_chan_close. The producer's close ends the stream: the
 *            consumer receives what was committed, then SHMLIB_EEOS. The
 *            consumer's close tells a producer waiting for room that nobody
 *            will make any (SHMLIB_EPEER), until another consumer opens it.
 *
 * Capacity: the data area is rounded up to a multiple of 4096 bytes (at most
 * 8 GiB). A message may take at most half of it less 16 bytes
 * (shmlib_chan_max_message), so that it never has to be split where the
 * ring wraps around. Each message costs 16 bytes of header plus its length
 * rounded up to 16, and every payload is 16-byte aligned.
 *
 * Waiting: calls that may wait take timeout_ns: 0 never waits
 * (SHMLIB_ETIMEDOUT at once if the call cannot proceed), SHMLIB_WAIT_FOREVER
 * (-1, or any negative value) waits as long as it takes, and a positive
 * value waits at most that many nanoseconds. A waiter spins briefly, then
 * sleeps on a futex in the segment: an idle waiter uses almost no CPU. One
 * thread that libshm starts at the first sleep (all signals blocked, no
 * Go) looks at every sleeping waiter's peer every 100 ms, so that if the
 * process holding the other end dies, a waiting call returns SHMLIB_EPEER
 * within about 100 ms (after the consumer has received everything the
 * producer committed).
 *
 * The data plane (send, reserve, commit, recv, peek, release, wake, lost,
 * wait_any, fd, arm, and every wait) is C code that never enters the Go
 * runtime inside libshm: a
 * thread waiting in a channel runs on its own stack, like any C library
 * call, whatever signal handlers the host installs.
 *
 * Ending a wait from elsewhere:
 *   - shmlib_chan_wake(chan) from another thread ends the wait in flight on
 *     that handle, or the next one, with SHMLIB_EWOKEN.
 *   - shmlib_chan_close or shmlib_chan_handover from another thread ends
 *     the wait in flight with SHMLIB_EWOKEN, then closes the end; the
 *     handle is invalid after (SHMLIB_EINVAL).
 *   - Signals: by default a signal handler runs and the wait goes on. Open
 *     the end with SHMLIB_CHAN_EINTR or'ed into `end` and a signal whose
 *     handler runs while the call sleeps ends it with SHMLIB_EINTR (one that
 *     lands during the brief spin before the sleep does not).
 *   - Cancellation: a waiting call is a cancellation point. A deferred
 *     pthread_cancel is acted on within about 2 seconds, when the slice
 *     of sleep in progress ends (glibc signals no thread outside its own
 *     cancellation points); the end is given back first, so the handle
 *     stays usable from another thread. Calls that do not wait are not
 *     cancellation points.
 *   - A thread that dies inside a call in any other way (asynchronous
 *     cancel, pthread_exit from a signal handler) may leave the handle
 *     marked busy: other threads may get SHMLIB_EBUSY, but
 *     shmlib_chan_close and shmlib_chan_handover see that the thread is
 *     gone and still work, and a process that dies frees its ends for the
 *     next opener.
 *
 * Liveness, across containers: whether the holder of an end still runs is
 * judged by facts the kernel keeps for every pid namespace, so peers may
 * sit in different containers over one /dev/shm. On POSIX and memfd
 * channels each end's holder keeps an OFD lock (F_OFD_SETLK) on one byte of
 * the segment's file for as long as the end is open; the kernel drops it
 * when the holder dies, and anyone can ask whether it is held. An end is
 * taken over only when its lock is free, and SHMLIB_EPEER is reported only
 * then. (A child forked without exec shares the descriptor, so an end stays
 * held until such children exit too.) System V segments have no file, so
 * there liveness is judged by pid and start time, and only when the holder
 * runs in the caller's pid namespace: a holder in another one is never
 * taken over (SHMLIB_EBUSY) nor reported dead. Use POSIX or memfd channels
 * across pid namespaces.
 *
 * Truncation: a peer that truncates a POSIX channel's file (ftruncate on
 * /dev/shm/NAME) pulls the pages from under every mapping. The next touch
 * of the ring, by libshm or by you through a pointer from reserve or peek,
 * raises SIGBUS in the calling thread, as for any file mapped in C; libshm
 * does not take over your SIGBUS handler to turn it into an error, so
 * unless the program handles SIGBUS the process dies. Against peers you do
 * not trust, use memfd channels ("memfd:"): they are sealed
 * (F_SEAL_SHRINK), so nobody can truncate them. System V segments cannot
 * be truncated. Control-plane calls (open, close, handover) still turn
 * such a fault into SHMLIB_EFAULT.
 *
 * Distrust: any process that attaches the segment can write anywhere in
 * it. libshm checks every length and offset it reads from the shared state
 * and returns SHMLIB_ECORRUPT rather than read or write out of bounds.
 *
 * Threads: a handle may be used from any thread, but by one thread at a
 * time; a call made while another is in flight on the same handle fails
 * with SHMLIB_EBUSY (shmlib_chan_max_message, shmlib_chan_wake,
 * shmlib_chan_close and shmlib_chan_handover excepted: see "Ending a
 * wait"). Different handles are independent.
 */

/* An open end of a channel. 0 is never a valid handle. */
typedef uint64_t shmlib_chan_t;

#define SHMLIB_CHAN_PRODUCER 1
#define SHMLIB_CHAN_CONSUMER 2
#define SHMLIB_CHAN_SUBSCRIBER 3 /* of a broadcast channel (see BROADCAST below) */
/* Or'ed into the end given to shmlib_chan_open: a signal ends a wait on
 * this end with SHMLIB_EINTR (see "Ending a wait" above). */
#define SHMLIB_CHAN_EINTR 0x100

#define SHMLIB_WAIT_FOREVER ((int64_t)-1)

/*
 * Creates a segment holding an empty channel with a data area of at least
 * `capacity` bytes, and writes its key to out_key, as shmlib_create does
 * (same key forms, mode, and flags SHMLIB_HUGETLB, SHMLIB_SPARSE and
 * SHMLIB_DESTROY_ON_EXIT; SHMLIB_OPEN_EXISTING is refused). The segment is capacity + 4096 bytes.
 *
 * Errors: those of shmlib_create, and SHMLIB_EINVAL for capacity 0 or above
 * 8 GiB.
 */
int shmlib_chan_create(const char *key, uint64_t capacity, uint32_t mode, uint32_t flags,
                       char *out_key, size_t out_key_len);

/*
 * Attaches the channel named by key and takes one end of it
 * (SHMLIB_CHAN_PRODUCER or SHMLIB_CHAN_CONSUMER, optionally or'ed with
 * SHMLIB_CHAN_EINTR); *out_chan receives the handle, to be closed with
 * shmlib_chan_close. On POSIX and memfd channels the end keeps a
 * descriptor of the segment's file open (close-on-exec) for its lock.
 * The same call opens a broadcast channel's ends (SHMLIB_CHAN_PRODUCER or
 * SHMLIB_CHAN_SUBSCRIBER; see BROADCAST below).
 *
 * Errors: those of shmlib_attach; SHMLIB_EINVAL (bad end, NULL out_chan,
 * the segment is not a channel, SHMLIB_CHAN_CONSUMER on a broadcast or
 * SHMLIB_CHAN_SUBSCRIBER on a channel); SHMLIB_EBUSY (the end is held by a
 * live process, this one included; every subscriber slot is); SHMLIB_EEOS
 * (opening the producer end of a channel whose producer has closed);
 * SHMLIB_ENOTSUP (a layout version this library does not read, or a
 * broadcast on a System V segment); SHMLIB_ECORRUPT.
 */
int shmlib_chan_open(const char *key, int end, shmlib_chan_t *out_chan);

/*
 * Leaves the end and detaches the channel; the handle is invalid after.
 * Closing the producer ends the stream. A pending reservation is dropped;
 * a held message is not released, so the next consumer receives it again.
 * The segment itself lives on until shmlib_destroy. A call in flight on
 * the handle in another thread is ended first (a wait returns
 * SHMLIB_EWOKEN); close waits for it to return, and do not use pointers
 * from reserve or peek after it.
 *
 * Errors: SHMLIB_EINVAL (not an open handle, or another thread is closing
 * it).
 */
int shmlib_chan_close(shmlib_chan_t chan);

/*
 * Leaves the end WITHOUT closing it, to pass it to another process: the
 * stream goes on, the peer is told nothing, and the end is free for
 * another process to open (as it would take over a dead holder's). A
 * pending reservation is dropped; a held message is delivered again to the
 * next holder. The handle is invalid after. (The Python binding does this
 * when a Channel is pickled to a worker process.) A call in flight in
 * another thread is ended first, as for shmlib_chan_close.
 *
 * Errors: SHMLIB_EINVAL (not an open handle, or another thread is closing
 * it).
 */
int shmlib_chan_handover(shmlib_chan_t chan);

/*
 * The largest message the channel carries, in *out_size: half its capacity
 * less 16 bytes. It reads only what the handle knew since open, so it may
 * be called while another thread waits on the same handle.
 *
 * Errors: SHMLIB_EINVAL (not an open handle, NULL out_size).
 */
int shmlib_chan_max_message(shmlib_chan_t chan, uint64_t *out_size);

/*
 * Producer: copies len bytes from buf into the channel as one message,
 * waiting up to timeout_ns for room. len may be 0.
 *
 * Errors: SHMLIB_EINVAL (not a producer handle, NULL buf with len > 0, a
 * reservation pending), SHMLIB_EMSGSIZE, SHMLIB_ETIMEDOUT, SHMLIB_EPEER (the
 * ring is full and the consumer died or closed its end), SHMLIB_ECORRUPT,
 * SHMLIB_EBUSY.
 */
int shmlib_chan_send(shmlib_chan_t chan, const void *buf, size_t len, int64_t timeout_ns);

/*
 * Producer: waits up to timeout_ns for room for a message of len bytes and
 * returns, in *out_ptr, where to write it: len bytes, 16-byte aligned, in
 * the shared segment. Nothing is visible to the consumer until
 * shmlib_chan_commit; the pointer is valid until then (or until close).
 *
 * Errors: as shmlib_chan_send, and SHMLIB_EINVAL for a NULL out_ptr.
 */
int shmlib_chan_reserve(shmlib_chan_t chan, size_t len, int64_t timeout_ns, void **out_ptr);

/*
 * Producer: publishes the first len bytes of the pending reservation
 * (len at most what was reserved) as one message, and wakes the consumer.
 * The reserved memory then belongs to the consumer: do not touch it again.
 *
 * Errors: SHMLIB_EINVAL (not a producer handle, nothing reserved, len larger
 * than reserved), SHMLIB_EBUSY.
 */
int shmlib_chan_commit(shmlib_chan_t chan, size_t len);

/*
 * Consumer: waits up to timeout_ns for the next message and copies it into
 * buf (cap bytes); *out_len receives its length. A message longer than cap
 * stays in the channel: SHMLIB_ERANGE, with *out_len set to its length, so
 * the caller can retry with a larger buffer.
 *
 * Errors: SHMLIB_EINVAL (not a consumer or subscriber handle, NULL out_len,
 * NULL buf with cap > 0, a message held by peek), SHMLIB_ERANGE, SHMLIB_ETIMEDOUT,
 * SHMLIB_EEOS, SHMLIB_EPEER, SHMLIB_ECORRUPT, SHMLIB_EBUSY.
 */
int shmlib_chan_recv(shmlib_chan_t chan, void *buf, size_t cap, size_t *out_len, int64_t timeout_ns);

/*
 * Consumer: waits up to timeout_ns for the next message and returns it in
 * place: *out_ptr and *out_len, 16-byte aligned, in the shared segment. The
 * message is held, and the pointer valid, until shmlib_chan_release; the
 * producer cannot reuse that memory meanwhile. Only one message is held at
 * a time.
 *
 * Errors: as shmlib_chan_recv (SHMLIB_EINVAL for NULL out_ptr or out_len).
 */
int shmlib_chan_peek(shmlib_chan_t chan, int64_t timeout_ns, const void **out_ptr, size_t *out_len);

/*
 * Consumer: releases the message peek returned; its memory goes back to the
 * producer, and the pointer must not be used again.
 *
 * Errors: SHMLIB_EINVAL (not a consumer or subscriber handle, or no
 * message held), SHMLIB_EBUSY.
 */
int shmlib_chan_release(shmlib_chan_t chan);

/*
 * Producer: gives back the pending reservation without publishing
 * anything: the consumer never sees it, and the next reserve or send
 * starts afresh. The pointer reserve returned must not be used after.
 *
 * Errors: SHMLIB_EINVAL (not a producer handle, or nothing reserved),
 * SHMLIB_EBUSY.
 */
int shmlib_chan_unreserve(shmlib_chan_t chan);

/*
 * Consumer: gives back the message peek holds without consuming it: it
 * stays first in the channel, and the next peek or recv returns it again.
 * The pointer peek returned must not be used after.
 *
 * Errors: SHMLIB_EINVAL (not a consumer handle, or no message held),
 * SHMLIB_EBUSY.
 */
int shmlib_chan_unpeek(shmlib_chan_t chan);

/*
 * Ends the wait in flight on chan in another thread, or if none, the next
 * wait on it, with SHMLIB_EWOKEN (one wait per wake; calls that need not
 * wait do not use it up). Safe to call from any thread at any time,
 * including while another thread closes the handle; never waits itself.
 *
 * Errors: SHMLIB_EINVAL (not an open handle, or being closed).
 */
int shmlib_chan_wake(shmlib_chan_t chan);

/* ------------------------------------------------------------- broadcast */

/*
 * A BROADCAST channel carries messages from one producer to up to 1024
 * SUBSCRIBERS (a number fixed at create), each of which receives every
 * message, in order, in place: the payload is written once, and every
 * subscriber reads the same bytes in the segment. It is a channel in every
 * other way: the same handles, and the same calls (send, reserve, commit,
 * recv, peek, release, wake, close, handover, max_message), the same
 * capacity rules, timeouts, waiting, signals and cancellation, the same
 * checks of the shared state (SHMLIB_ECORRUPT).
 *
 *   create   shmlib_bcast_create, with the number of subscriber slots and
 *            the policy.
 *   open     shmlib_chan_open(key, SHMLIB_CHAN_PRODUCER, ...) takes the
 *            producer end (one at a time, taken over from a dead holder
 *            as a channel's); shmlib_chan_open(key, SHMLIB_CHAN_SUBSCRIBER,
 *            ...) joins as a subscriber, taking a free slot (SHMLIB_EBUSY
 *            when every slot is held by a live process). A subscriber may
 *            join at any time and starts at the next message committed:
 *            it never sees earlier ones. SHMLIB_CHAN_CONSUMER is refused
 *            on a broadcast (SHMLIB_EINVAL), SHMLIB_CHAN_SUBSCRIBER on a
 *            channel.
 *   close    the producer's close ends the stream: each subscriber reads
 *            what was committed, then gets SHMLIB_EEOS. A subscriber's
 *            close frees its slot and stops holding the producer back. A
 *            subscriber's shmlib_chan_handover is a close: a new
 *            subscriber starts at the next message.
 *
 * Policies, chosen at create:
 *   lossless (the default): the producer waits for room until every live
 *            subscriber has released what it would overwrite: the slowest
 *            subscriber sets the pace. With no subscriber, nothing holds
 *            the producer back and messages are not kept for anyone.
 *   SHMLIB_BCAST_OVERWRITE (overwrite-oldest): the producer never waits
 *            for a subscriber that lags; it overwrites the oldest
 *            messages, and that subscriber skips ahead to the oldest one
 *            still in the ring. shmlib_chan_lost tells it how many it
 *            lost. A message a subscriber holds (peek, before release) is
 *            never overwritten: the producer waits for its release, so
 *            hold messages briefly.
 *
 * Liveness: each subscriber holds an OFD lock on its slot's byte of the
 * segment's file; when it dies the kernel drops the lock, and a producer
 * held back by it frees its slot at its next liveness look (within about
 * 100 ms). Hence broadcast channels need a file: POSIX or memfd keys;
 * System V is refused (SHMLIB_ENOTSUP). Subscribers judge the producer as
 * a channel's consumer does (SHMLIB_EPEER after draining what it
 * committed). The producer never gets SHMLIB_EPEER.
 *
 * The layout and every rule are in internal/broadcast/PROTOCOL.md of the
 * source; the segment is capacity + 4096 + 64 * subscribers (rounded up
 * to 4096) bytes.
 */

/* shmlib_bcast_create flag: the overwrite-oldest policy (default lossless). */
#define SHMLIB_BCAST_OVERWRITE 0x1000u

/*
 * Creates a segment holding an empty broadcast channel with a data area
 * of at least `capacity` bytes and slots for `subscribers` subscribers (1
 * to 1024; 0 means 64), and writes its key to out_key, as
 * shmlib_chan_create does. flags: SHMLIB_BCAST_OVERWRITE, SHMLIB_SPARSE,
 * SHMLIB_DESTROY_ON_EXIT.
 *
 * Errors: those of shmlib_chan_create; SHMLIB_EINVAL (subscribers above
 * 1024, an unknown flag, SHMLIB_HUGETLB or SHMLIB_OPEN_EXISTING);
 * SHMLIB_ENOTSUP (a System V key).
 */
int shmlib_bcast_create(const char *key, uint64_t capacity, uint32_t subscribers, uint32_t mode,
                        uint32_t flags, char *out_key, size_t out_key_len);

/*
 * Subscriber: *out_lost receives how many messages the producer skipped
 * this subscriber past (overwrite-oldest) since the last call, which
 * resets the count. Always 0 on a lossless channel. It does not wait.
 *
 * Errors: SHMLIB_EINVAL (not a subscriber handle, NULL out_lost),
 * SHMLIB_EBUSY.
 */
int shmlib_chan_lost(shmlib_chan_t chan, uint64_t *out_lost);

/* ---------------------------------------------------------- waiting on many */

/* The most ends one shmlib_chan_wait_any takes (the kernel's FUTEX_WAITV_MAX). */
#define SHMLIB_WAIT_ANY_MAX 128

/*
 * Waits until any of the n ends in chans[] (channel or broadcast ends,
 * producers and consumers or subscribers, mixed) is READY, or timeout_ns
 * passes, and stores the index of a ready one in *out_index (the lowest
 * when several are). It never sends, receives or consumes anything.
 *
 * Ready: a consumer or subscriber has a message to receive, or its stream
 * has ended; a producer has room for a message of the channel's largest
 * size (shmlib_chan_max_message), so that its next send of any size does
 * not wait. An end whose peer is found gone is ready too, since its next
 * call returns at once (SHMLIB_EPEER); that is judged every 100 ms, as a
 * single wait judges it.
 *
 * It spins briefly, then sleeps on the futex words of all the ends at once
 * (futex_waitv, Linux 5.16 and later), so an idle wait costs no CPU; it
 * wakes every 100 ms to judge peers. On an older kernel it returns
 * SHMLIB_ENOTSUP as soon as it would sleep (a ready end is still found and
 * timeout 0 still works): poll with timeout 0, or wait on one end.
 *
 * During the call the ends are in use by this thread, as in any call:
 * another thread's call on one of them gets SHMLIB_EBUSY, except
 * shmlib_chan_wake, shmlib_chan_close and shmlib_chan_handover, which end
 * the wait with SHMLIB_EWOKEN. A signal ends it with SHMLIB_EINTR if any
 * of the ends was opened with SHMLIB_CHAN_EINTR. It is not a cancellation
 * point.
 *
 * Errors: SHMLIB_EINVAL (chans or out_index NULL, n 0 or above
 * SHMLIB_WAIT_ANY_MAX, a handle given twice or not open), SHMLIB_EFAULT,
 * SHMLIB_EBUSY, SHMLIB_ETIMEDOUT, SHMLIB_EWOKEN, SHMLIB_EINTR,
 * SHMLIB_ENOTSUP (no futex_waitv).
 */
int shmlib_chan_wait_any(const shmlib_chan_t *chans, size_t n, int64_t timeout_ns, size_t *out_index);

/* -------------------------------------------------------------- pollable ends */

/*
 * A file descriptor per end, for event loops (epoll, poll, select, Python's
 * asyncio, Go's poller): it becomes readable when the end is READY (as
 * shmlib_chan_wait_any defines it) after the end was ARMED.
 *
 *   shmlib_chan_fd(chan, &fd);           once; register fd for reading
 *   shmlib_chan_arm(chan);               before each wait
 *   ... fd readable ...
 *   while (shmlib_chan_recv(chan, ..., 0) == SHMLIB_OK)   (timeout 0)
 *       handle the message;
 *   shmlib_chan_arm(chan);               and wait again
 *
 * Arming clears the fd's readability, then makes it readable at once if
 * the end is ready now, or else hands the end to a watcher: a C thread of
 * this process (one per 127 armed ends, started when needed) that sleeps
 * in futex_waitv on the futex words of the armed ends and, when one is
 * ready, makes its fd readable and disarms it. The fd is an eventfd: read
 * it or not, as you like; only shmlib_chan_arm clears it. Readiness may be
 * spurious (another thread took the message first): calls with timeout 0
 * then return SHMLIB_ETIMEDOUT, and you arm again.
 *
 * Why a thread: a ring in shared memory is no kernel object poll() can
 * watch, and the peer process cannot write to a descriptor of this one
 * without one being passed to it. The peer does nothing new: the watcher
 * counts as a waiter on the end, so the peer's usual futex wake reaches
 * it. Idle armed ends cost no CPU (the watcher sleeps, waking every 100 ms
 * to judge peers: a dead peer makes its end ready); a ready end costs one
 * thread switch more than a pipe would. The watcher blocks every signal.
 * It needs futex_waitv (Linux 5.16): on older kernels the watcher looks at
 * the armed ends every 10 ms instead of sleeping on them (slower to notice,
 * and a little CPU while ends are armed).
 *
 * The fd belongs to the end: do not close it; shmlib_chan_close and
 * shmlib_chan_handover close it (take it out of your event loop first).
 * A child made by fork() shares it, but not the watcher.
 *
 * Errors: SHMLIB_EINVAL (not an open handle, NULL out_fd),
 * SHMLIB_EFAULT, SHMLIB_EBUSY (another thread is in a call on the end),
 * SHMLIB_EOS (eventfd failed, e.g. too many open files), SHMLIB_ENOMEM
 * (no watcher thread could be started).
 */
int shmlib_chan_fd(shmlib_chan_t chan, int *out_fd);
int shmlib_chan_arm(shmlib_chan_t chan);

#ifdef __cplusplus
}
#endif

#endif /* SHMLIB_H */
