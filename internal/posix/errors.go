package posix

import "errors"

var (
	// ErrNotObject: the name in /dev/shm is a directory, a device, a
	// socket: anything but the regular file a shared memory object is.
	ErrNotObject = errors.New("not a shared memory object (not a regular file)")
	// ErrEmpty: the object has size 0, so there is nothing to map; its
	// creator may not have sized it yet.
	ErrEmpty = errors.New("the segment has size 0 (its creator may not have sized it yet)")
)
