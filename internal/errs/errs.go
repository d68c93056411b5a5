// Package errs is how libshm classifies a failure: the SHMLIB_E* codes of
// include/shmlib.h (generated into codes_gen.go) and the one error type
// every layer returns, so that the C boundary passes codes through
// unchanged. It sits below segment and channel, which both report with it.
package errs

import (
	"errors"
	"io/fs"
	"os"

	"golang.org/x/sys/unix"

	"github.com/libshm/libshm/internal/keys"
)

// Code classifies a failure. Its values are the SHMLIB_E* codes of
// include/shmlib.h, so the C boundary passes them through unchanged.
// A Code is itself an error: errors.Is(err, errs.ErrNotExist) works.
// The constants and their texts are generated from the header
// (codes_gen.go).
type Code int

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

// Error is every failure of libshm's core: the operation, the key as the
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
// errors.Is(err, errs.ErrNotExist) and errors.Is(err, unix.ENOENT) both hold.
func (e *Error) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Code}
	}
	return []error{e.Code, e.Err}
}

// CodeOf returns the code of any error: an *Error's own, ErrInternal for
// errors that did not come from libshm's core (they are bugs).
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

// New makes an *Error with no cause; for failures found by libshm
// itself rather than reported by the kernel.
func New(op, key string, code Code, msg string) *Error {
	return &Error{Op: op, Key: key, Code: code, Msg: msg}
}

// OS classifies an error of the kernel by its errno. Callers that know
// better what an errno means for their operation check for it first.
func OS(op, key string, err error) *Error {
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
		e.Code, e.Msg = ErrInvalid, "invalid argument ("+ErrnoText(err)+")"
	case unix.EFAULT:
		e.Code, e.Msg = ErrFault, "bad address"
	default:
		e.Code, e.Msg = ErrOS, ErrnoText(err)
	}
	return e
}

// SyscallOf names the system call that failed, "" if err does not say.
func SyscallOf(err error) string {
	var se *os.SyscallError
	if errors.As(err, &se) {
		return se.Syscall
	}
	return ""
}

// ErrnoText is "shmget: no space left on device": the system call and the
// error, without the path that os.PathError would repeat.
func ErrnoText(err error) string {
	var se *os.SyscallError
	if errors.As(err, &se) {
		return se.Syscall + ": " + se.Err.Error()
	}
	return err.Error()
}
