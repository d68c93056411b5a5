package segment

import (
	"errors"
	"io/fs"
	"os"

	"golang.org/x/sys/unix"

	"github.com/libshm/libshm/internal/keys"
)

// Code classifies a failure. Its values are the SHMLIB_E* codes of
// include/shmlib.h, so the C boundary passes them through unchanged.
// A Code is itself an error: errors.Is(err, segment.ErrNotExist) works.
type Code int

const (
	ErrInvalid      Code = -1  // SHMLIB_EINVAL
	ErrNotExist     Code = -2  // SHMLIB_ENOENT
	ErrExist        Code = -3  // SHMLIB_EEXIST
	ErrPermission   Code = -4  // SHMLIB_EACCES
	ErrNoMemory     Code = -5  // SHMLIB_ENOMEM
	ErrRange        Code = -6  // SHMLIB_ERANGE
	ErrNotAttached  Code = -7  // SHMLIB_ENOTATTACHED
	ErrNotSupported Code = -8  // SHMLIB_ENOTSUP
	ErrFault        Code = -9  // SHMLIB_EFAULT
	ErrForked       Code = -10 // SHMLIB_EFORKED
	ErrOS           Code = -11 // SHMLIB_EOS
	ErrInternal     Code = -12 // SHMLIB_EINTERNAL
	ErrTimeout      Code = -13 // SHMLIB_ETIMEDOUT
	ErrEndOfStream  Code = -14 // SHMLIB_EEOS
	ErrPeerGone     Code = -15 // SHMLIB_EPEER
	ErrCorrupt      Code = -16 // SHMLIB_ECORRUPT
	ErrBusy         Code = -17 // SHMLIB_EBUSY
	ErrTooLarge     Code = -18 // SHMLIB_EMSGSIZE
	ErrInterrupted  Code = -19 // SHMLIB_EINTR (C data plane only)
	ErrWoken        Code = -20 // SHMLIB_EWOKEN (C data plane only)
)

// Error gives the same short text as shmlib_strerror.
func (c Code) Error() string {
	switch c {
	case ErrInvalid:
		return "invalid argument"
	case ErrNotExist:
		return "no such segment"
	case ErrExist:
		return "segment already exists"
	case ErrPermission:
		return "permission denied"
	case ErrNoMemory:
		return "not enough memory or over a system limit"
	case ErrRange:
		return "buffer too small"
	case ErrNotAttached:
		return "address is not attached"
	case ErrNotSupported:
		return "not supported on this system"
	case ErrFault:
		return "memory fault in a segment"
	case ErrForked:
		return "called in a forked child"
	case ErrOS:
		return "operating system error"
	case ErrInternal:
		return "internal error in libshm"
	case ErrTimeout:
		return "timed out"
	case ErrEndOfStream:
		return "end of stream"
	case ErrPeerGone:
		return "peer gone"
	case ErrCorrupt:
		return "corrupt channel"
	case ErrBusy:
		return "busy"
	case ErrTooLarge:
		return "message too large"
	case ErrInterrupted:
		return "interrupted by a signal"
	case ErrWoken:
		return "woken by another thread"
	}
	return "unknown error code"
}

// Is lets the io/fs sentinels match too, so that Go code can write
// errors.Is(err, fs.ErrNotExist) as it does for files.
func (c Code) Is(target error) bool {
	switch target {
	case fs.ErrNotExist:
		return c == ErrNotExist
	case fs.ErrExist:
		return c == ErrExist
	case fs.ErrPermission:
		return c == ErrPermission
	case fs.ErrInvalid:
		return c == ErrInvalid
	}
	return false
}

// Error is every failure of this package: the operation, the key as the
// caller gave it, a classification and a message a person can act on.
type Error struct {
	Op   string // "create", "attach", "detach", "destroy", "stat", "list", "ftok"
	Key  string // the key, path or address the caller gave; may be empty
	Code Code
	Msg  string // what went wrong, e.g. "no such segment"
	Err  error  // the cause, often an *os.SyscallError; may be nil
}

// Error is "Op Key: Msg", one line: a key with control bytes or invalid
// UTF-8 in it (a POSIX name may hold any byte but '/' and NUL) is quoted.
func (e *Error) Error() string {
	if e.Key == "" {
		return e.Op + ": " + e.Msg
	}
	return e.Op + " " + keys.Display(e.Key) + ": " + e.Msg
}

// Unwrap exposes both the classification and the cause:
// errors.Is(err, segment.ErrNotExist) and errors.Is(err, unix.ENOENT) both hold.
func (e *Error) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Code}
	}
	return []error{e.Code, e.Err}
}

// CodeOf returns the code of any error: an *Error's own, ErrInternal for
// errors that did not come from this package (they are bugs).
func CodeOf(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	var c Code
	if errors.As(err, &c) {
		return c
	}
	return ErrInternal
}

// NewError makes an *Error with no cause; for failures found by libshm
// itself rather than reported by the kernel.
func NewError(op, key string, code Code, msg string) *Error {
	return &Error{Op: op, Key: key, Code: code, Msg: msg}
}

// osError classifies an error of the kernel by its errno. Callers that know
// better what an errno means for their operation check for it first.
func osError(op, key string, err error) *Error {
	e := &Error{Op: op, Key: key, Err: err}
	var errno unix.Errno
	if !errors.As(err, &errno) {
		e.Code, e.Msg = ErrOS, err.Error()
		return e
	}
	switch errno {
	case unix.ENOENT, unix.EIDRM:
		e.Code, e.Msg = ErrNotExist, "no such segment"
	case unix.EEXIST:
		e.Code, e.Msg = ErrExist, "a segment with this key already exists"
	case unix.EACCES, unix.EPERM:
		e.Code, e.Msg = ErrPermission, "permission denied"
	case unix.ELOOP:
		e.Code, e.Msg = ErrPermission, "the name in /dev/shm is a symbolic link, which libshm never follows"
	case unix.ENOMEM:
		e.Code, e.Msg = ErrNoMemory, "not enough memory"
	case unix.ENOSPC:
		e.Code, e.Msg = ErrNoMemory, "not enough space for shared memory"
	case unix.ENAMETOOLONG, unix.EINVAL:
		e.Code, e.Msg = ErrInvalid, "invalid argument ("+errnoText(err)+")"
	case unix.EFAULT:
		e.Code, e.Msg = ErrFault, "bad address"
	default:
		e.Code, e.Msg = ErrOS, errnoText(err)
	}
	return e
}

// syscallOf names the system call that failed, "" if err does not say.
func syscallOf(err error) string {
	var se *os.SyscallError
	if errors.As(err, &se) {
		return se.Syscall
	}
	return ""
}

// errnoText is "shmget: no space left on device": the system call and the
// error, without the path that os.PathError would repeat.
func errnoText(err error) string {
	var se *os.SyscallError
	if errors.As(err, &se) {
		return se.Syscall + ": " + se.Err.Error()
	}
	return err.Error()
}
