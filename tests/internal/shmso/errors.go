package shmso

import "fmt"

// Return codes of include/shmlib.h that this package or its callers
// interpret.
const (
	ERange = -6  // SHMLIB_ERANGE: a buffer was too small
	EEOS   = -14 // SHMLIB_EEOS: the producer closed and every message was received
	Opened = 1   // SHMLIB_OPENED: create opened an existing segment
)

// Error is a failed call: the code the library returned and the calling
// thread's shmlib_last_error() message, read right after the failure.
type Error struct {
	Code int
	Msg  string
}

func (e *Error) Error() string { return fmt.Sprintf("%s (code %d)", e.Msg, e.Code) }
