package main

// #include <stdlib.h>
// #include "shmlib.h"
// #include "guard.h"
import "C"

import (
	"fmt"
	"math"
	"runtime"
	"runtime/debug"
	"unsafe"

	"github.com/libshm/libshm/internal/errs"
	"github.com/libshm/libshm/internal/segment"
)

// call runs the body of an export. A panic must never unwind into C, which
// would abort the host: it becomes a code and a message. Faults on bad
// pointers the caller passed become such panics too (SetPanicOnFault),
// instead of killing the host.
func call(op string, body func() C.int) (rc C.int) {
	debug.SetPanicOnFault(true)
	defer recoverInto(op, &rc)
	return body()
}

// recoverInto turns a panic into a code and a message, by the panic's
// type. A fault (with SetPanicOnFault, a runtime.Error with the address)
// is either the memory of a segment going away under a mapping libshm made
// (another process truncated a POSIX object), or a pointer the caller
// handed over that cannot be accessed; the address tells which. Anything
// else, a nil dereference included (the C guards refuse pointers below
// 4096, so Go never meets a caller's NULL), is a bug in libshm.
func recoverInto(op string, rc *C.int) {
	if r := recover(); r != nil {
		*rc = fail(panicError(op, r))
	}
}

// panicError is recoverInto's verdict on the panic r of a call op.
func panicError(op string, r any) *errs.Error {
	f, ok := r.(faultError)
	if !ok {
		return &errs.Error{Op: op, Code: errs.ErrInternal,
			Msg: fmt.Sprintf("internal error: %v (please report this as a bug in libshm)", r)}
	}
	if key, in := segment.MappingAt(f.Addr()); in {
		return &errs.Error{Op: op, Key: key, Code: errs.ErrFault,
			Msg: fmt.Sprintf("the segment's memory went away under the call (fault at %#x): another process "+
				"probably truncated it; detach it, and have its creator make it again", f.Addr())}
	}
	return &errs.Error{Op: op, Code: errs.ErrFault, Msg: "a pointer argument points to memory that cannot be accessed"}
}

// faultError is the panic of a memory fault under debug.SetPanicOnFault.
type faultError interface {
	runtime.Error
	Addr() uintptr
}

// result is the code for err: SHMLIB_OK, or err's code, recorded as the
// calling thread's last error.
func result(err error) C.int {
	if err == nil {
		return C.SHMLIB_OK
	}
	return fail(err)
}

// fail records err as the calling thread's last error and returns its code.
func fail(err error) C.int {
	setError(err.Error())
	return C.int(errs.CodeOf(err))
}

func setError(msg string) {
	if len(msg) >= C.SHMLIB_ERROR_MAX {
		msg = msg[:C.SHMLIB_ERROR_MAX-1]
	}
	if msg == "" {
		msg = "unknown error"
	}
	C.libshm_set_error((*C.char)(unsafe.Pointer(unsafe.StringData(msg))), C.size_t(len(msg)))
}

func invalid(op, key, msg string) C.int {
	return fail(&errs.Error{Op: op, Key: displayKey(key), Code: errs.ErrInvalid, Msg: msg})
}

// displayKey shows the key a call was about in its message; "" (none, or
// NULL) shows nothing.
func displayKey(key string) string {
	if key == "" {
		return ""
	}
	return segment.DisplayKey(key)
}

// maxString bounds how far a C string is scanned for its NUL: every key
// and path is far shorter, and an unterminated buffer must not be read to
// the end of the address space.
const maxString = 4096

// goString copies a C string, refusing NULL and unterminated ones.
func goString(op, what string, p *C.char) (string, C.int) {
	if p == nil {
		return "", invalid(op, "", what+" is NULL")
	}
	for n := 0; n < maxString; n++ {
		if *(*byte)(unsafe.Add(unsafe.Pointer(p), n)) == 0 {
			return C.GoStringN(p, C.int(n)), C.SHMLIB_OK
		}
	}
	return "", invalid(op, "", fmt.Sprintf("%s is not NUL-terminated within %d bytes", what, maxString))
}

// putString writes s and a NUL into the caller's buffer of n bytes; key
// is what the call was about, for the message.
func putString(op, key, s string, buf *C.char, n C.size_t) C.int {
	if buf == nil {
		return invalid(op, key, "the output buffer is NULL")
	}
	if uint64(len(s)) >= uint64(n) {
		return fail(&errs.Error{Op: op, Key: displayKey(key), Code: errs.ErrRange,
			Msg: fmt.Sprintf("the output buffer holds %d bytes; %q needs %d (SHMLIB_KEY_MAX always suffices)", n, s, len(s)+1)})
	}
	out, err := cbytes(op, key, unsafe.Pointer(buf), uint64(len(s))+1)
	if err != nil {
		return fail(err)
	}
	copy(out, s)
	out[len(s)] = 0
	return C.SHMLIB_OK
}

// cbytes is the caller's buffer of n bytes at p as a slice, or an
// ErrFault if it would run past the end of the address space: then it
// cannot be the caller's.
func cbytes(op, key string, p unsafe.Pointer, n uint64) ([]byte, error) {
	if n == 0 {
		return nil, nil
	}
	if uint64(uintptr(p))+n < uint64(uintptr(p)) || n > math.MaxInt {
		return nil, &errs.Error{Op: op, Key: displayKey(key), Code: errs.ErrFault,
			Msg: fmt.Sprintf("a buffer of %d bytes at %p runs past the end of the address space", n, p)}
	}
	return unsafe.Slice((*byte)(p), n), nil
}

// writable reports whether the n bytes at p can be written, n at most a
// page or so, leaving them as they were: it reads and writes back their
// first and last bytes, which lie in every page they span. If they cannot,
// it records SHMLIB_EFAULT, or faults, which call() turns into the same.
// Exports probe their out-parameters with it before they change any state,
// so that a bad pointer cannot leave a mapping, a held end or a received
// segment behind. NULL is fine: those are checked apart.
//
//go:noinline
func writable(op string, p unsafe.Pointer, n uint64) bool {
	if p == nil || n == 0 {
		return true
	}
	b, err := cbytes(op, "", p, n)
	if err != nil {
		fail(err)
		return false
	}
	// Through a copy: a byte assigned to itself may be compiled away.
	was := [2]byte{b[0], b[n-1]}
	copy(b[:1], was[:1])
	copy(b[n-1:], was[1:])
	return true
}

// unknownFlags names the bits of flags outside known.
func unknownFlags(op, key string, flags, known C.uint32_t) C.int {
	return invalid(op, key, fmt.Sprintf("unknown flags %#x", uint32(flags&^known)))
}
