// Package sysv makes and maps System V shared memory segments, the ones
// shmget(2) creates and `ipcs -m` lists.
//
// Errors are *os.SyscallError values naming the system call, so that the
// caller can both explain them and test them with errors.Is(err, unix.EXXX).
package sysv

import (
	"errors"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Mode bits of shm_perm.mode that x/sys/unix does not name.
const (
	shmHugeTLB = 0o4000 // SHM_HUGETLB: shmget flag, back with huge pages
	modeDest   = 0o1000 // SHM_DEST: marked for removal by IPC_RMID
	modeLocked = 0o2000 // SHM_LOCKED: locked in RAM by SHM_LOCK
)

// Create makes a new segment exclusively; key 0 makes an IPC_PRIVATE one.
// Unlike open(2), shmget(2) applies the mode as given: no umask.
func Create(key uint32, size uint64, mode uint32, hugeTLB bool) (int, error) {
	flags := unix.IPC_CREAT | unix.IPC_EXCL | int(mode)
	if hugeTLB {
		flags |= shmHugeTLB
	}
	return shmget(key, size, flags)
}

// Lookup finds the id of the segment with the given IPC key. A segment that
// has been destroyed no longer has its key, so it is not found.
func Lookup(key uint32) (int, error) {
	return shmget(key, 0, 0)
}

// Stat returns the kernel's record of the segment (needs read permission).
func Stat(id int) (unix.SysvShmDesc, error) {
	var d unix.SysvShmDesc
	err := shmctl(id, unix.IPC_STAT, &d)
	return d, err
}

// Destroyed reports whether IPC_RMID has marked the segment for removal.
// Linux still lets such a segment be attached by id; we do not.
func Destroyed(d *unix.SysvShmDesc) bool { return d.Perm.Mode&modeDest != 0 }

// Locked reports whether SHM_LOCK has locked the segment in RAM.
func Locked(d *unix.SysvShmDesc) bool { return d.Perm.Mode&modeLocked != 0 }

// Remove marks the segment for removal: its key goes at once, its memory
// when the last process detaches.
func Remove(id int) error {
	return shmctl(id, unix.IPC_RMID, nil)
}

// AttachOptions are the ways a mapping can be made.
type AttachOptions struct {
	Hint     uintptr // address to try first; 0 lets the kernel choose
	Fixed    bool    // attach exactly at Hint or fail
	ReadOnly bool
}

// Attach maps the whole segment and returns its address and size.
func Attach(id int, opt AttachOptions) (unsafe.Pointer, uint64, error) {
	flags := 0
	if opt.ReadOnly {
		flags |= unix.SHM_RDONLY
	}
	addr, err := shmat(id, opt.Hint, flags)
	if (errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOMEM)) && opt.Hint != 0 && !opt.Fixed {
		// The hinted range is taken, unaligned or not user space: a hint
		// is only a wish. (A bad id fails again without it.)
		addr, err = shmat(id, 0, flags)
	}
	if err != nil {
		return nil, 0, err
	}
	// The size comes after the attach, from the same segment: between a
	// stat and an attach the id could have been reused by another.
	d, err := Stat(id)
	if err != nil {
		shmdt(addr, 0)
		return nil, 0, err
	}
	return addr, d.Segsz, nil
}

// Detach ends a mapping made by Attach.
func Detach(addr unsafe.Pointer, size uint64) error { return shmdt(addr, size) }
