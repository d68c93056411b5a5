// Package posix makes and maps POSIX shared memory objects: the files in
// /dev/shm that glibc's shm_open() and Python's multiprocessing.shared_memory
// use, so that programs which never heard of libshm meet ours there.
//
// Errors are *os.SyscallError values naming the system call, so that the
// caller can both explain them and test them with errors.Is(err, unix.EXXX).
package posix

import (
	"errors"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Dir is where glibc keeps POSIX shared memory objects on Linux.
const Dir = "/dev/shm"

// Path is the file that backs the object called name.
func Path(name string) string { return Dir + "/" + name }

// O_NOFOLLOW: a symlink planted under a segment's name is refused, never
// followed. O_NONBLOCK: /dev/shm is world-writable, so anyone can plant a
// FIFO under a name someone will open, and a read-only open of a FIFO
// waits for a writer; with O_NONBLOCK it returns, and the regular-file
// check that follows every open refuses it (on a regular file the flag
// changes nothing that libshm does: mmap, pread, fstat). O_NOCTTY: a
// terminal device planted there must not become our controlling terminal.
// O_CLOEXEC: no descriptor leaks into programs we exec.
const openFlags = unix.O_NOFOLLOW | unix.O_NONBLOCK | unix.O_NOCTTY | unix.O_CLOEXEC

// Create makes the object exclusively, sized and with exactly the given
// permission bits. Unless sparse, it also reserves the memory (fallocate),
// so that a full /dev/shm is a clean ENOSPC here and not a SIGBUS on first
// touch. A failure removes what was made: a half-created object is worse
// than none, because a retry would then find it "existing".
func Create(name string, size int64, mode uint32, sparse bool) (err error) {
	fd, err := openShm(name, unix.O_RDWR|unix.O_CREAT|unix.O_EXCL|openFlags, mode)
	if err != nil {
		return err
	}
	defer func() {
		closeFd(fd)
		if err != nil {
			unlinkShm(name)
		}
	}()
	// open() applied the umask; the caller asked for this exact mode.
	if err := fchmod(fd, mode); err != nil {
		return err
	}
	if err := ftruncate(fd, size); err != nil {
		return err
	}
	if !sparse {
		if err := unix.Fallocate(fd, 0, 0, size); err != nil {
			return os.NewSyscallError("fallocate", err)
		}
	}
	return nil
}

// CheckAccess opens the object for reading and writing and closes it again:
// whether this process may use it, asked of the kernel itself.
func CheckAccess(name string) error {
	var st unix.Stat_t
	fd, err := openObject(name, unix.O_RDWR, &st)
	if err != nil {
		return err
	}
	closeFd(fd)
	return nil
}

// ReadHead reads the first n bytes of the object, without mapping it.
func ReadHead(name string, n int) ([]byte, error) {
	var st unix.Stat_t
	fd, err := openObject(name, unix.O_RDONLY, &st)
	if err != nil {
		return nil, err
	}
	defer closeFd(fd)
	b := make([]byte, n)
	got, err := unix.Pread(fd, b, 0)
	if err != nil {
		return nil, os.NewSyscallError("pread", err)
	}
	return b[:got], nil
}

// Unlink removes the name, if it is a shared memory object: a FIFO, a
// socket, a device, a directory or a symlink planted there is refused
// (*NotObjectError). Mappings of the object keep working; its memory goes
// when the last of them ends.
func Unlink(name string) error {
	var st unix.Stat_t
	if err := lstatShm(name, &st); err != nil {
		return err
	}
	if err := notObject(st.Mode); err != nil {
		return err
	}
	return unlinkShm(name)
}

// openObject opens the object for Map, CheckAccess and ReadHead, and
// fstats it into st: it never blocks (openFlags), and refuses whatever is
// not a regular file before anything else is done with the descriptor.
func openObject(name string, oflag int, st *unix.Stat_t) (int, error) {
	fd, err := openShm(name, oflag|openFlags, 0)
	if errors.Is(err, unix.ENXIO) {
		// A socket cannot be opened at all; say what it is.
		if lstatShm(name, st) == nil && notObject(st.Mode) != nil {
			return -1, notObject(st.Mode)
		}
	}
	if err != nil {
		return -1, err
	}
	if err := fstat(fd, st); err != nil {
		closeFd(fd)
		return -1, err
	}
	if err := notObject(st.Mode); err != nil {
		closeFd(fd)
		return -1, err
	}
	return fd, nil
}

// MapOptions are the ways a mapping can be made.
type MapOptions struct {
	Hint     uintptr // address to try first; 0 lets the kernel choose
	Fixed    bool    // map exactly at Hint or fail (never replacing a mapping)
	ReadOnly bool
	Populate bool // pre-fault every page (MAP_POPULATE)
}

// Map maps the whole object and returns its address and size.
// The descriptor is closed before Map returns: the mapping holds the object.
func Map(name string, opt MapOptions) (unsafe.Pointer, int64, error) {
	oflag := unix.O_RDWR
	if opt.ReadOnly {
		oflag = unix.O_RDONLY
	}
	var st unix.Stat_t
	fd, err := openObject(name, oflag, &st)
	if err != nil {
		return nil, 0, err
	}
	defer closeFd(fd)
	return mapFile(fd, &st, opt)
}

// MapFd maps the whole shared memory file fd refers to (a /dev/shm object
// or a memfd) and returns its address and size. fd stays open.
func MapFd(fd int, opt MapOptions) (unsafe.Pointer, int64, error) {
	var st unix.Stat_t
	if err := fstat(fd, &st); err != nil {
		return nil, 0, err
	}
	if err := notObject(st.Mode); err != nil {
		return nil, 0, err
	}
	return mapFile(fd, &st, opt)
}

// mapFile maps the regular file fd, which st describes.
func mapFile(fd int, st *unix.Stat_t, opt MapOptions) (unsafe.Pointer, int64, error) {
	if st.Size == 0 {
		return nil, 0, ErrEmpty
	}
	prot := unix.PROT_READ | unix.PROT_WRITE
	if opt.ReadOnly {
		prot = unix.PROT_READ
	}
	flags := unix.MAP_SHARED
	if opt.Populate {
		flags |= unix.MAP_POPULATE
	}
	addr, err := mmap(fd, st.Size, prot, flags, opt)
	if err != nil {
		return nil, 0, err
	}
	return addr, st.Size, nil
}

func mmap(fd int, size int64, prot, flags int, opt MapOptions) (unsafe.Pointer, error) {
	if opt.Fixed {
		// MAP_FIXED_NOREPLACE, unlike MAP_FIXED, fails with EEXIST
		// instead of silently unmapping whatever is there.
		flags |= unix.MAP_FIXED_NOREPLACE
	}
	addr, err := mmapFd(opt.Hint, size, prot, flags, fd)
	if err != nil {
		return nil, err
	}
	if opt.Fixed && uintptr(addr) != opt.Hint {
		// Kernels before 4.17 ignore MAP_FIXED_NOREPLACE and treat the
		// address as a hint; honour the promise ourselves.
		munmap(addr, size)
		return nil, os.NewSyscallError("mmap", unix.EEXIST)
	}
	return addr, nil
}

// Unmap ends a mapping made by Map.
func Unmap(addr unsafe.Pointer, size int64) error {
	return munmap(addr, size)
}
