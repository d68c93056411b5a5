package ringwait

import "golang.org/x/sys/unix"

// An end's holder holds an OFD write lock on one byte of the segment's
// file, at the offset of the end's owner word, for as long as the end is
// open; the kernel drops it when the holder's descriptor goes, whatever
// pid namespace the holder is in.

func lockRange(off uintptr) unix.Flock_t {
	return unix.Flock_t{Type: unix.F_WRLCK, Whence: 0, Start: int64(off), Len: 1}
}

// TryLock takes the OFD lock of the byte at off, on fd; false if another
// open file description holds it.
func TryLock(fd int, off uintptr) (bool, error) {
	fl := lockRange(off)
	err := unix.FcntlFlock(uintptr(fd), unix.F_OFD_SETLK, &fl)
	if err == unix.EAGAIN || err == unix.EACCES {
		return false, nil
	}
	return err == nil, err
}

// LockHeld reports whether anyone holds the lock of the byte at off. When
// the kernel cannot say, it is held: never call a live holder dead.
func LockHeld(fd int, off uintptr) bool {
	fl := lockRange(off)
	if unix.FcntlFlock(uintptr(fd), unix.F_OFD_GETLK, &fl) != nil {
		return true
	}
	return fl.Type != unix.F_UNLCK
}
