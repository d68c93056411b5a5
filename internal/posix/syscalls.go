package posix

import (
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The system calls of the lifecycle, made without x/sys/unix's conveniences,
// which cost more than the calls themselves on a 4 KiB segment: a heap copy
// of every path, and the scheduler hand-off of unix.Syscall. Calls that only
// touch metadata use RawSyscall; those whose time grows with the size of
// the segment (fallocate, populating or unmapping large mappings) go through
// unix.Syscall, so that a long one lets the Go scheduler run other work.

// bigMapping is the size from which mapping and unmapping take long enough
// (page tables, TLB shootdowns) to hand the scheduler a chance.
const bigMapping = 1 << 20

// atFDCWD is AT_FDCWD (-100) as a system call argument.
var atFDCWD = func() uintptr { fd := unix.AT_FDCWD; return uintptr(fd) }()

// pathBuf holds "/dev/shm/NAME\0" on the stack.
type pathBuf [len(Dir) + 1 + 255 + 1]byte

// cpath fills buf with the NUL-terminated path of name; name has already
// been checked to be at most 255 bytes with no NUL.
func cpath(buf *pathBuf, name string) *byte {
	n := copy(buf[:], Dir)
	buf[n] = '/'
	n += 1 + copy(buf[n+1:len(buf)-1], name)
	buf[n] = 0
	return &buf[0]
}

func openShm(name string, flags int, mode uint32) (int, error) {
	var buf pathBuf
	fd, _, e := unix.RawSyscall6(unix.SYS_OPENAT, atFDCWD,
		uintptr(unsafe.Pointer(cpath(&buf, name))), uintptr(flags|unix.O_LARGEFILE), uintptr(mode), 0, 0)
	if e != 0 {
		return -1, os.NewSyscallError("open", e)
	}
	return int(fd), nil
}

func unlinkShm(name string) error {
	var buf pathBuf
	_, _, e := unix.RawSyscall(unix.SYS_UNLINKAT, atFDCWD, uintptr(unsafe.Pointer(cpath(&buf, name))), 0)
	if e != 0 {
		return os.NewSyscallError("unlink", e)
	}
	return nil
}

// lstatShm is fstatat(AT_SYMLINK_NOFOLLOW): what the name is, a symlink
// itself rather than what it points to. (Through x/sys/unix: the system
// call's number differs between architectures.)
func lstatShm(name string, st *unix.Stat_t) error {
	if err := unix.Fstatat(unix.AT_FDCWD, Path(name), st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return os.NewSyscallError("stat", err)
	}
	return nil
}

func fstat(fd int, st *unix.Stat_t) error {
	_, _, e := unix.RawSyscall(unix.SYS_FSTAT, uintptr(fd), uintptr(unsafe.Pointer(st)), 0)
	if e != 0 {
		return os.NewSyscallError("fstat", e)
	}
	return nil
}

func fchmod(fd int, mode uint32) error {
	_, _, e := unix.RawSyscall(unix.SYS_FCHMOD, uintptr(fd), uintptr(mode), 0)
	if e != 0 {
		return os.NewSyscallError("fchmod", e)
	}
	return nil
}

func ftruncate(fd int, size int64) error {
	_, _, e := unix.RawSyscall(unix.SYS_FTRUNCATE, uintptr(fd), uintptr(size), 0)
	if e != 0 {
		return os.NewSyscallError("ftruncate", e)
	}
	return nil
}

func closeFd(fd int) { unix.RawSyscall(unix.SYS_CLOSE, uintptr(fd), 0, 0) }

func mmapFd(hint uintptr, size int64, prot, flags, fd int) (unsafe.Pointer, error) {
	call := unix.RawSyscall6
	if size >= bigMapping || flags&unix.MAP_POPULATE != 0 {
		call = unix.Syscall6
	}
	addr, _, e := call(unix.SYS_MMAP, hint, uintptr(size), uintptr(prot), uintptr(flags), uintptr(fd), 0)
	if e != 0 {
		return nil, os.NewSyscallError("mmap", e)
	}
	// The address is of memory the Go runtime does not manage, so turning
	// it into a pointer is sound; doing it through memory, rather than by a
	// direct conversion, says so to go vet's unsafeptr check.
	return *(*unsafe.Pointer)(unsafe.Pointer(&addr)), nil
}

func munmap(addr unsafe.Pointer, size int64) error {
	call := unix.RawSyscall
	if size >= bigMapping {
		call = unix.Syscall
	}
	if _, _, e := call(unix.SYS_MUNMAP, uintptr(addr), uintptr(size), 0); e != 0 {
		return os.NewSyscallError("munmap", e)
	}
	return nil
}
