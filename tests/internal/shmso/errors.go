package shmso

import "fmt"

// Error is a failed call: the code the library returned and the calling
// thread's shmlib_last_error() message, read right after the failure.
type Error struct {
	Code int
	Msg  string
}

func (e *Error) Error() string { return fmt.Sprintf("%s (code %d)", e.Msg, e.Code) }
