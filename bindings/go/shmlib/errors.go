package shmlib

import "github.com/libshm/libshm/internal/errs"

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
type Error = errs.Error

// Code classifies a failure. The values are those of the C API's SHMLIB_E*
// codes, so a Go process and a C process report a failure alike. A Code is
// an error itself, for errors.Is; ErrNotExist, ErrExist, ErrPermission and
// ErrInvalid also match fs.ErrNotExist, fs.ErrExist, fs.ErrPermission and
// fs.ErrInvalid. The constants are in codes_gen.go, generated from the
// header.
type Code = errs.Code
