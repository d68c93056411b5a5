package sysv

import (
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The System V calls, made with RawSyscall: they only touch kernel
// metadata and return at once, and unix.Syscall's scheduler hand-off
// would cost more than they do. shmdt of a large, populated mapping can
// take a while (page tables, TLB shootdowns): that one goes through
// unix.Syscall from bigMapping on, so the Go scheduler may run meanwhile.
const bigMapping = 1 << 20

func shmget(key uint32, size uint64, flags int) (int, error) {
	id, _, e := unix.RawSyscall(unix.SYS_SHMGET, uintptr(int32(key)), uintptr(size), uintptr(flags))
	if e != 0 {
		return -1, os.NewSyscallError("shmget", e)
	}
	return int(id), nil
}

func shmctl(id, cmd int, d *unix.SysvShmDesc) error {
	_, _, e := unix.RawSyscall(unix.SYS_SHMCTL, uintptr(id), uintptr(cmd), uintptr(unsafe.Pointer(d)))
	if e != 0 {
		return os.NewSyscallError("shmctl", e)
	}
	return nil
}

func shmat(id int, addr uintptr, flags int) (unsafe.Pointer, error) {
	p, _, e := unix.RawSyscall(unix.SYS_SHMAT, uintptr(id), addr, uintptr(flags))
	if e != 0 {
		return nil, os.NewSyscallError("shmat", e)
	}
	// The address is of memory the Go runtime does not manage, so turning
	// it into a pointer is sound; doing it through memory, rather than by a
	// direct conversion, says so to go vet's unsafeptr check.
	return *(*unsafe.Pointer)(unsafe.Pointer(&p)), nil
}

func shmdt(addr unsafe.Pointer, size uint64) error {
	call := unix.RawSyscall
	if size >= bigMapping {
		call = unix.Syscall
	}
	if _, _, e := call(unix.SYS_SHMDT, uintptr(addr), 0, 0); e != 0 {
		return os.NewSyscallError("shmdt", e)
	}
	return nil
}
