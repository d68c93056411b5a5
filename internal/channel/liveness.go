package channel

import (
	"os"

	"golang.org/x/sys/unix"

	"github.com/libshm/libshm/internal/proc"
)

// Liveness (PROTOCOL.md, "Liveness"): whether the process holding an end
// still runs must be judged the same way from any pid namespace, since
// peers may sit in different containers over one /dev/shm.
//
// POSIX and memfd channels: the holder of an end holds an OFD write lock
// (F_OFD_SETLK) on one byte of the segment's file, at the offset of that
// end's owner word, for as long as the end is open. The kernel drops it
// when the holder's descriptor goes, whatever namespace the holder is in,
// and F_OFD_GETLK tells anyone whether it is held. Opening an end is taking
// that lock: it fails only while a live process holds it.
//
// System V segments have no file, hence no lock: the owner word's pid and
// start time are judged, and only if the holder wrote our pid namespace
// next to them. A holder from another namespace cannot be judged, so it
// counts as alive: never taken over, never reported dead.

// An owner word names the process holding one end: its pid (in its own
// namespace) in the high 32 bits, the low 32 bits of its start time (clock
// ticks since boot) in the low ones. On POSIX and memfd channels it is
// informative; on System V it is what liveness is judged by.
type owner uint64

func (o owner) pid() int { return int(o >> 32) }

// self is this process's owner word, computed once: neither part changes.
var self = func() owner {
	pid := os.Getpid()
	return owner(uint64(pid)<<32 | uint64(uint32(proc.StartTime(pid))))
}()

// selfNS is the inode of this process's pid namespace (0 if unknown, which
// never matches a holder's).
var selfNS = func() uint64 {
	var st unix.Stat_t
	if unix.Stat("/proc/self/ns/pid", &st) != nil {
		return 0
	}
	return st.Ino
}()

// pidAlive reports whether the System V holder o, which wrote namespace ns,
// still runs, as far as this namespace can tell.
func pidAlive(o owner, ns uint64) bool {
	if o == 0 {
		return false
	}
	if ns != selfNS || selfNS == 0 {
		return true // a pid of another namespace means nothing here
	}
	if o.pid() == self.pid() {
		return o == self
	}
	return proc.Alive(o.pid(), func(start int64) bool { return uint32(start) == uint32(o) })
}

func lockRange(off uintptr) unix.Flock_t {
	return unix.Flock_t{Type: unix.F_WRLCK, Whence: 0, Start: int64(off), Len: 1}
}

// tryLock takes the OFD lock of the end whose owner word is at off, on fd;
// false if a live process holds it.
func tryLock(fd int, off uintptr) (bool, error) {
	fl := lockRange(off)
	err := unix.FcntlFlock(uintptr(fd), unix.F_OFD_SETLK, &fl)
	if err == unix.EAGAIN || err == unix.EACCES {
		return false, nil
	}
	return err == nil, err
}

// unlock gives up the OFD lock of the end at off on fd.
func unlock(fd int, off uintptr) {
	fl := lockRange(off)
	fl.Type = unix.F_UNLCK
	unix.FcntlFlock(uintptr(fd), unix.F_OFD_SETLK, &fl)
}

// lockHeld reports whether anyone holds the lock of the end at off. When
// the kernel cannot say, it is held: never call a live holder dead.
func lockHeld(fd int, off uintptr) bool {
	fl := lockRange(off)
	if unix.FcntlFlock(uintptr(fd), unix.F_OFD_GETLK, &fl) != nil {
		return true
	}
	return fl.Type != unix.F_UNLCK
}

// peerAlive reports whether the holder of end e, named by owner word o,
// still runs.
func (c *Chan) peerAlive(e End, o owner) bool {
	if c.lockFd >= 0 {
		return lockHeld(c.lockFd, ownerOffset(e))
	}
	return pidAlive(o, c.s.u64(nsOffset(e)).Load())
}

func nsOffset(e End) uintptr {
	if e == Producer {
		return offProducerNS
	}
	return offConsumerNS
}
