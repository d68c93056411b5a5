package shmlib

import "github.com/libshm/libshm/internal/segment"

// Error is every failure of this package. Its fields:
//
//	Op   string // "create", "attach", "detach", "destroy", "stat", "list",
//	            // "ftok", or "bytes", "read", "write" for a Mapping's methods
//	Key  string // the key (or path, for ftok) as the caller gave it; may be empty
//	Code Code   // one of the Err* codes
//	Msg  string // what went wrong, e.g. "no such segment"
//	Err  error  // the cause, often an *os.SyscallError; may be nil
//
// Error() is "Op Key: Msg". errors.Is matches Code, the io/fs sentinel that
// Code stands for (see [Code]), and anything Err matches, such as an errno.
type Error = segment.Error

// Code classifies a failure. The values are those of the C API's SHMLIB_E*
// codes, so a Go process and a C process report a failure alike. A Code is
// an error itself, for errors.Is; ErrNotExist, ErrExist, ErrPermission and
// ErrInvalid also match fs.ErrNotExist, fs.ErrExist, fs.ErrPermission and
// fs.ErrInvalid.
type Code = segment.Code

// The codes, for errors.Is(err, shmlib.ErrNotExist) and for Error.Code.
const (
	ErrInvalid      = segment.ErrInvalid      // malformed key, size 0, mode above 0777, ...
	ErrNotExist     = segment.ErrNotExist     // no such segment (never created, or destroyed)
	ErrExist        = segment.ErrExist        // a segment with this key already exists
	ErrPermission   = segment.ErrPermission   // denied by the segment's mode or owner
	ErrNoMemory     = segment.ErrNoMemory     // not enough memory, or over a system limit
	ErrRange        = segment.ErrRange        // a write runs past the end of the segment
	ErrNotAttached  = segment.ErrNotAttached  // the Mapping was detached
	ErrNotSupported = segment.ErrNotSupported // e.g. huge pages where none are reserved
	ErrFault        = segment.ErrFault        // a memory fault while touching a segment
	ErrOS           = segment.ErrOS           // another error of the kernel; the message names it
	ErrInternal     = segment.ErrInternal     // a bug in libshm; please report it

	// Channel codes.
	ErrTimeout     = segment.ErrTimeout     // the timeout passed (or was 0) before the call could proceed
	ErrEndOfStream = segment.ErrEndOfStream // the producer closed and every message was received
	ErrPeerGone    = segment.ErrPeerGone    // the other end's process died
	ErrCorrupt     = segment.ErrCorrupt     // the channel's shared state was scribbled on
	ErrBusy        = segment.ErrBusy        // the end is held by a live process, or in use by another goroutine
	ErrTooLarge    = segment.ErrTooLarge    // a message larger than the channel carries
)
