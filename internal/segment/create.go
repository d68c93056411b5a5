// Package segment is the lifecycle of shared memory segments over both
// backends: create, attach, detach, destroy, stat, list and ftok. It is the
// core that the C API (capi/) and the Go binding are thin faces of; it
// knows nothing of C.
package segment

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"os"

	"golang.org/x/sys/unix"

	"github.com/libshm/libshm/internal/keys"
	"github.com/libshm/libshm/internal/memlimit"
	"github.com/libshm/libshm/internal/posix"
	"github.com/libshm/libshm/internal/proc"
	"github.com/libshm/libshm/internal/sysv"
)

// DefaultMode is the mode of segments created with mode 0: owner only.
const DefaultMode = 0o600

// CreateOptions are shmlib_create's mode and flags.
type CreateOptions struct {
	Mode         uint32 // permission bits; 0 means DefaultMode
	OpenExisting bool   // open an existing segment instead of failing
	HugeTLB      bool   // System V: back with huge pages
	Sparse       bool   // POSIX: do not reserve the memory at create
	// DestroyOnExit: DestroyAtExit, which the C library runs as the
	// process exits, destroys it (unless destroyed before).
	DestroyOnExit bool
}

// Created is what Create made (or, with OpenExisting, found).
type Created struct {
	Key    string // canonical key
	Opened bool   // the segment existed and was opened, not created
}

// autoTries bounds the retries when a generated name is taken, which with
// 64 random bits (24 for System V keys) only happens by malice.
const autoTries = 16

// Create makes a new segment. See shmlib_create in include/shmlib.h.
func Create(key string, size uint64, opt CreateOptions) (Created, error) {
	const op = "create"
	k, err := keys.Parse(key)
	if err != nil {
		return Created{}, keyError(op, key, err)
	}
	shown := display(k)
	switch {
	case k.Form == keys.ID:
		return Created{}, NewError(op, shown, ErrInvalid, "a segment cannot be created by id; use sysv:key=K, sysv: or sysv:private")
	case size == 0:
		return Created{}, NewError(op, shown, ErrInvalid, "size is 0; a segment holds at least one byte")
	case size > math.MaxInt64:
		return Created{}, NewError(op, shown, ErrNoMemory, fmt.Sprintf("size %d is over every system limit (shmmax, the size of /dev/shm)", size))
	case opt.Mode > 0o777:
		return Created{}, NewError(op, shown, ErrInvalid, fmt.Sprintf("mode %#o has bits beyond the permission bits 0777", opt.Mode))
	}
	if opt.Mode == 0 {
		opt.Mode = DefaultMode
	}
	var made Created
	switch k.Backend {
	case keys.Posix:
		made, err = createPosix(shown, k, size, opt)
	case keys.Memfd:
		made, err = createMemfd(shown, k, size, opt)
	default:
		made, err = createSysV(shown, k, size, opt)
	}
	// Only what this call made: an existing segment it merely opened is
	// someone else's to destroy.
	if err == nil && opt.DestroyOnExit && !made.Opened {
		destroyAtExit(made.Key)
	}
	return made, err
}

func createPosix(shown string, k keys.Key, size uint64, opt CreateOptions) (Created, error) {
	const op = "create"
	if opt.HugeTLB {
		return Created{}, NewError(op, shown, ErrNotSupported, "huge pages are not available for POSIX segments in /dev/shm (tmpfs); use a System V segment")
	}
	auto := k.Form == keys.Auto
	if !opt.Sparse {
		// What exists already is opened, not reserved again.
		if err := checkBacking(shown, size, true); err != nil && !(opt.OpenExisting && !auto && exists(k.Name)) {
			return Created{}, err
		}
	}
	for try := 0; ; try++ {
		if auto {
			name, err := randomName()
			if err != nil {
				return Created{}, osError(op, shown, err)
			}
			k = keys.ForPosix(name)
		}
		err := posix.Create(k.Name, int64(size), opt.Mode, opt.Sparse)
		switch {
		case err == nil:
			return Created{Key: k.String()}, nil
		case !errors.Is(err, unix.EEXIST):
			return Created{}, createPosixError(shown, size, err)
		case auto && try < autoTries:
			continue
		case opt.OpenExisting && !auto:
			return openExistingPosix(shown, k, size)
		}
		return Created{}, osError(op, shown, err)
	}
}

// devShmFree is the space left in /dev/shm, in bytes.
func devShmFree() (uint64, bool) {
	var fs unix.Statfs_t
	if unix.Statfs(posix.Dir, &fs) != nil {
		return 0, false
	}
	return fs.Bavail * uint64(fs.Bsize), true
}

func exists(name string) bool {
	_, err := posix.Stat(name)
	return err == nil
}

func createPosixError(shown string, size uint64, err error) *Error {
	e := osError("create", shown, err)
	if errors.Is(err, unix.ENOSPC) || errors.Is(err, unix.EFBIG) {
		free := "unknown"
		if n, ok := devShmFree(); ok {
			free = fmt.Sprint(n)
		}
		e.Code = ErrNoMemory
		e.Msg = fmt.Sprintf("not enough space in %s for %d bytes (%s bytes free); nothing was created", posix.Dir, size, free)
	}
	return e
}

func openExistingPosix(shown string, k keys.Key, size uint64) (Created, error) {
	st, err := posix.Stat(k.Name)
	if err == nil {
		// Opening an existing segment promises the caller can use it.
		err = posix.CheckAccess(k.Name)
	}
	if err != nil {
		return Created{}, existingError(shown, err)
	}
	if uint64(st.Size) < size {
		return Created{}, NewError("create", shown, ErrInvalid, fmt.Sprintf("it exists with %d bytes, fewer than the %d asked for", st.Size, size))
	}
	return Created{Key: k.String(), Opened: true}, nil
}

func createSysV(shown string, k keys.Key, size uint64, opt CreateOptions) (Created, error) {
	const op = "create"
	if opt.Sparse {
		return Created{}, NewError(op, shown, ErrNotSupported, "SHMLIB_SPARSE is for POSIX segments; System V segments are always allocated on first touch")
	}
	for try := 0; ; try++ {
		var ipcKey uint32 // stays 0, IPC_PRIVATE, for keys.Private
		switch k.Form {
		case keys.IPCKey:
			ipcKey = k.IPCKey
		case keys.Auto:
			var err error
			if ipcKey, err = randomIPCKey(); err != nil {
				return Created{}, osError(op, shown, err)
			}
		}
		id, err := sysv.Create(ipcKey, size, opt.Mode, opt.HugeTLB)
		switch {
		case err == nil && ipcKey == 0:
			return Created{Key: keys.ForID(int32(id)).String()}, nil
		case err == nil:
			return Created{Key: keys.ForIPCKey(ipcKey).String()}, nil
		case !errors.Is(err, unix.EEXIST):
			return Created{}, createSysVError(shown, size, opt, err)
		case k.Form == keys.Auto && try < autoTries:
			continue
		case opt.OpenExisting && k.Form == keys.IPCKey:
			return openExistingSysV(shown, k, size)
		}
		return Created{}, osError(op, shown, err)
	}
}

func createSysVError(shown string, size uint64, opt CreateOptions, err error) *Error {
	e := osError("create", shown, err)
	switch {
	case opt.HugeTLB && (errors.Is(err, unix.ENOMEM) || errors.Is(err, unix.EINVAL)) && hugePagesTotal() == 0:
		e.Code = ErrNotSupported
		e.Msg = "no huge pages are reserved on this system (HugePages_Total is 0 in /proc/meminfo; see /proc/sys/vm/nr_hugepages)"
	case opt.HugeTLB && errors.Is(err, unix.EPERM):
		e.Msg = "huge pages need CAP_IPC_LOCK or membership of the group in /proc/sys/vm/hugetlb_shm_group"
	case errors.Is(err, unix.EINVAL):
		// With IPC_CREAT|IPC_EXCL, EINVAL can only mean the size.
		e.Code = ErrNoMemory
		e.Msg = fmt.Sprintf("size %d is over the System V limit shmmax (%s bytes, /proc/sys/kernel/shmmax)", size, readProcLimit("shmmax"))
	case errors.Is(err, unix.ENOSPC):
		e.Code = ErrNoMemory
		e.Msg = fmt.Sprintf("over a System V limit: shmmni (%s segments) or shmall (%s pages), see /proc/sys/kernel", readProcLimit("shmmni"), readProcLimit("shmall"))
	case errors.Is(err, unix.ENOMEM):
		// The kernel's overcommit rules refused to account the size.
		e.Msg = fmt.Sprintf("not enough memory for %d bytes (%s)", size, memlimit.Human(size))
		if room, ok := memlimit.Tightest(); ok {
			e.Msg += ": " + room.What
		}
	}
	return e
}

func openExistingSysV(shown string, k keys.Key, size uint64) (Created, error) {
	id, err := sysv.Lookup(k.IPCKey)
	if err != nil {
		return Created{}, existingError(shown, err)
	}
	d, err := sysv.Stat(id)
	if err != nil {
		return Created{}, existingError(shown, err)
	}
	if d.Segsz < size {
		return Created{}, NewError("create", shown, ErrInvalid, fmt.Sprintf("it exists with %d bytes, fewer than the %d asked for", d.Segsz, size))
	}
	return Created{Key: k.String(), Opened: true}, nil
}

// existingError explains a failure to open the segment that a create found
// in its way: it was destroyed in between, or is not ours to read.
func existingError(shown string, err error) *Error {
	e := osError("create", shown, err)
	var no *posix.NotObjectError
	if errors.As(err, &no) {
		e.Code, e.Msg = ErrExist, "the name is taken in /dev/shm by a "+no.Kind+", which is not a shared memory object"
	} else {
		e.Msg = "it exists but cannot be opened: " + e.Msg
	}
	return e
}

// randomName is a new POSIX name that says who made it, for Reap:
// "shmlib-PID-START-RANDOM", START the creator's start time in hex, which
// tells it from a later process with the same pid.
func randomName() (string, error) {
	var b [8]byte
	if err := fillRandom(b[:]); err != nil {
		return "", err
	}
	return fmt.Sprintf("shmlib-%d-%x-%s", os.Getpid(), creatorStart, hex.EncodeToString(b[:])), nil
}

// creatorStart is this process's start time, computed once.
var creatorStart = uint64(max(proc.StartTime(os.Getpid()), 0))

// ownKeyByte is the top byte of every System V key libshm chooses, so that
// Reap can tell them; ftok keys have a project id there, and 0xf5 is an
// unlikely one.
const ownKeyByte = 0xf5

// randomIPCKey is a new System V key in libshm's own range.
func randomIPCKey() (uint32, error) {
	var b [4]byte
	if err := fillRandom(b[:3]); err != nil {
		return 0, err
	}
	b[3] = ownKeyByte
	return binary.LittleEndian.Uint32(b[:]), nil
}

func fillRandom(b []byte) error {
	for len(b) > 0 {
		n, err := unix.Getrandom(b, 0)
		if err != nil && err != unix.EINTR {
			return os.NewSyscallError("getrandom", err)
		}
		b = b[max(n, 0):]
	}
	return nil
}
