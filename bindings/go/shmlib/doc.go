// Package shmlib creates, attaches, detaches and destroys shared memory
// segments, POSIX (/dev/shm), System V (shmget) and memfd, and passes
// messages between processes through channels in them, from pure Go.
//
// It is the Go face of libshm: the same core that libshm.so exports to C
// and Python, compiled into your program, without cgo. A Go program must
// not load libshm.so itself (a second Go runtime in a Go process is not
// supported and takes over its SIGURG); it imports this package instead and
// meets C and Python processes on the very same kernel segments, named by
// the very same keys.
//
// # Keys
//
// Every segment is named by a key, a short string one process can hand to
// another on a command line, in a file or in the environment:
//
//	posix:/NAME   a POSIX object, the file /dev/shm/NAME (also written /NAME),
//	              the one glibc's shm_open and Python's shared_memory use
//	sysv:key=K    a System V segment by its IPC key, hex (0x5a01c0de) or decimal
//	sysv:id=N     a System V segment by its shmid
//	memfd:pid=P,fd=F,ino=I
//	              a memfd segment (inode I) that process P holds as descriptor F
//
// Only [Create] also takes keys that let the library choose: "" or "posix:"
// (a POSIX object with a generated name), "sysv:" (a random IPC key),
// "sysv:private" (IPC_PRIVATE, named sysv:id=N afterwards) and "memfd:". Keys the
// package returns are canonical: "posix:/NAME", "sysv:key=0x%08x",
// "sysv:id=N". [Ftok] turns a file into a System V key as glibc's ftok does.
//
// # Lifecycle
//
//	Create   makes a segment and returns its key. Nothing is mapped yet; the
//	         segment exists in the kernel on its own.
//	Attach   maps it into this process. Every Attach is a new, independent
//	         Mapping, in this process or any other, and all of them see
//	         the same pages: a byte written through one is seen by every
//	         other at once.
//	Detach   ends ONE mapping in THIS process (Mapping.Detach). The
//	         segment and its contents live on, for others and for a later
//	         Attach.
//	Destroy  removes the segment, by key. New attaches fail with
//	         ErrNotExist; mappings that exist keep working until they are
//	         detached, and the kernel frees the memory after the last one.
//
// Detach is "I am done with it"; Destroy is "everybody is done with it".
// Exiting, crashing or detaching never destroys a segment: a program that
// creates segments must Destroy them, or they stay in memory until the
// machine restarts ([List] and `ipcs -m` show what is left).
//
// # Memory
//
// [Mapping.Bytes] is a []byte over the shared pages themselves, not a copy.
// It is valid only until [Mapping.Detach]: the pages are unmapped then, and
// touching the slice afterwards crashes the program, or worse, reaches
// whatever the address space holds there next. Write through a
// read-only mapping, or touch a POSIX segment that another process has
// truncated, and the program crashes too ("fatal error: fault"), because
// the Go runtime does not let ordinary code survive a fault on memory it
// does not manage. [Mapping.ReadAt] and [Mapping.WriteAt] are the safe way:
// they hold the mapping against a concurrent Detach and turn a fault into
// [ErrFault]. Code that works on Bytes directly can guard itself with
// [runtime/debug.SetPanicOnFault]; see the example of [Mapping.Bytes].
//
// # Memfd segments
//
// A segment created with the key "memfd:" has no name in any filesystem, so
// it cannot leak: it lives while a process holds a descriptor or a mapping
// of it, crashes included. Other processes of the same user attach it by its
// key while its holder lives, or the holder passes it over a Unix socket
// ([SendMemfd], [ReceiveMemfd]) and the receiver holds it too. It is sealed
// against shrinking, so no process can pull pages from under another's
// mapping.
//
// # Channels
//
// A channel is a segment laid out as a bounded ring of messages from one
// producer process to one consumer process, in order, none lost
// ([CreateChannel], [OpenChannel]). The producer writes a message in place
// ([Channel.Reserve], [Channel.Commit]) or copies one in ([Channel.Send]);
// the consumer reads in place ([Channel.Peek], [Channel.Release]) or copies
// out ([Channel.Recv]). Waits take a timeout and sleep on a futex; a dead
// peer is [ErrPeerGone], and a ring another process scribbled on is
// [ErrCorrupt], never a stray read or write. Go, C and Python ends meet on
// the same channel; include/shmlib.h, CHANNELS, has the whole contract.
//
// # Orphans
//
// [Reap] finds the segments libshm named itself whose creator is dead and
// that nobody uses, and destroys them if asked; segments their users named
// are never touched.
//
// # Errors
//
// Every error is an [*Error] that names the operation, the key and what went
// wrong ("attach posix:/frames: no such segment"). It matches one of the
// Err* codes, which are the C API's SHMLIB_E* codes, and the io/fs
// sentinels where one fits, and wraps the system call's error where there
// is one:
//
//	errors.Is(err, shmlib.ErrNotExist)   // the code
//	errors.Is(err, fs.ErrNotExist)       // the io/fs sentinel
//	errors.Is(err, unix.ENOENT)          // the errno, when the kernel said so
//
// # Concurrency
//
// Every function and method may be called from any number of goroutines at
// once. Of concurrent Detach calls on one Mapping exactly one succeeds.
// Synchronizing the contents of a segment between processes (atomics, a
// lock in the segment, a pipe) is up to the caller.
package shmlib
