package posix

import (
	"errors"

	"golang.org/x/sys/unix"
)

var (
	// ErrNotObject: the name in /dev/shm is a directory, a device, a
	// socket: anything but the regular file a shared memory object is.
	// Errors that match it are *NotObjectError, which says what it is.
	ErrNotObject = errors.New("not a shared memory object (not a regular file)")
	// ErrEmpty: the object has size 0, so there is nothing to map; its
	// creator may not have sized it yet.
	ErrEmpty = errors.New("the segment has size 0 (its creator may not have sized it yet)")
)

// NotObjectError is a name or descriptor that is not a shared memory
// object, and what it is instead.
type NotObjectError struct {
	Kind string // "FIFO (named pipe)", "socket", "directory", ...
}

func (e *NotObjectError) Error() string {
	return "not a shared memory object (it is a " + e.Kind + ", not a regular file)"
}

func (e *NotObjectError) Is(target error) bool { return target == ErrNotObject }

// notObject is the error for a file of the given mode, nil for a regular
// file.
func notObject(mode uint32) error {
	if mode&unix.S_IFMT == unix.S_IFREG {
		return nil
	}
	return &NotObjectError{Kind: kindOf(mode)}
}

func kindOf(mode uint32) string {
	switch mode & unix.S_IFMT {
	case unix.S_IFIFO:
		return "FIFO (named pipe)"
	case unix.S_IFSOCK:
		return "socket"
	case unix.S_IFDIR:
		return "directory"
	case unix.S_IFLNK:
		return "symbolic link"
	case unix.S_IFCHR:
		return "character device"
	case unix.S_IFBLK:
		return "block device"
	}
	return "special file"
}
