// Package memfd makes shared memory segments that cannot leak: memfds
// (memfd_create(2)), which have no name in any filesystem. A memfd lives as
// long as a process holds a descriptor of it or a mapping of it, so when
// its holders exit and its mappings end, its memory goes, whatever went
// wrong on the way.
//
// Another process reaches a memfd in one of two ways: by opening
// /proc/PID/fd/FD of a process that holds it (allowed to processes of the
// same user, or to root), or by receiving a descriptor of it over a Unix
// socket (SCM_RIGHTS). Segments are sealed against shrinking and growing,
// so no process can truncate one under another's mapping (the SIGBUS trap
// of POSIX objects), and against further seals, so none can forbid writes.
//
// Errors are *os.SyscallError values naming the system call.
package memfd

import (
	"errors"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// seals is what every segment is sealed with once it has its size.
const seals = unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_SEAL

// ErrNotSegment: the descriptor is not a memfd sealed as ours are.
var ErrNotSegment = errors.New("not a memfd segment (a sealed memfd made by libshm)")

// Create makes a sealed memfd of size bytes with exactly the given mode and
// returns its descriptor (close-on-exec). Unless sparse, the memory is
// reserved now, as for POSIX objects, so that a full machine is a clean
// ENOSPC here rather than a SIGBUS on first touch.
func Create(size int64, mode uint32, sparse bool) (fd int, err error) {
	fd, err = unix.MemfdCreate("shmlib", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return -1, os.NewSyscallError("memfd_create", err)
	}
	defer func() {
		if err != nil {
			unix.Close(fd)
		}
	}()
	// The mode decides who may open /proc/PID/fd/FD: exact, as for others.
	if err := unix.Fchmod(fd, mode); err != nil {
		return -1, os.NewSyscallError("fchmod", err)
	}
	if err := unix.Ftruncate(fd, size); err != nil {
		return -1, os.NewSyscallError("ftruncate", err)
	}
	if !sparse {
		if err := unix.Fallocate(fd, 0, 0, size); err != nil {
			return -1, os.NewSyscallError("fallocate", err)
		}
	}
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, seals); err != nil {
		return -1, os.NewSyscallError("fcntl", err)
	}
	return fd, nil
}

// Check reports whether fd is a memfd sealed as Create seals them: a
// descriptor received from elsewhere is adopted only if it is.
func Check(fd int) error {
	got, err := unix.FcntlInt(uintptr(fd), unix.F_GET_SEALS, 0)
	if err != nil || got&seals != seals {
		return ErrNotSegment
	}
	return nil
}

// OpenHeld opens the memfd that process pid holds as descriptor fd, through
// /proc, as a new descriptor of this process (close-on-exec).
//
// The descriptor may be anything, a FIFO with no writer included, whose
// read-only open would wait for one: O_NONBLOCK makes the open return, and
// the seal check refuses it before anything else is done. (O_NOCTTY keeps
// a terminal from becoming ours.)
func OpenHeld(pid, fd int, readOnly bool) (int, error) {
	flags := unix.O_RDWR | unix.O_CLOEXEC | unix.O_NONBLOCK | unix.O_NOCTTY
	if readOnly {
		flags = unix.O_RDONLY | unix.O_CLOEXEC | unix.O_NONBLOCK | unix.O_NOCTTY
	}
	own, err := unix.Open(procPath(pid, fd), flags, 0)
	if err != nil {
		return -1, os.NewSyscallError("open", err)
	}
	if err := Check(own); err != nil {
		unix.Close(own)
		return -1, err
	}
	return own, nil
}

// StatHeld describes the memfd that process pid holds as descriptor fd.
func StatHeld(pid, fd int) (unix.Stat_t, error) {
	var st unix.Stat_t
	if err := unix.Stat(procPath(pid, fd), &st); err != nil {
		return st, os.NewSyscallError("stat", err)
	}
	return st, nil
}

func procPath(pid, fd int) string {
	return "/proc/" + strconv.Itoa(pid) + "/fd/" + strconv.Itoa(fd)
}
