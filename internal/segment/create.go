// Package segment is the lifecycle of shared memory segments over both
// backends: create, attach, detach, destroy, stat, list and ftok. It is the
// core that the C API (capi/) and the Go binding are thin faces of; it
// knows nothing of C.
package segment

import (
	"errors"
	"fmt"
	"math"
	"os"

	"golang.org/x/sys/unix"

	"github.com/libshm/libshm/internal/errs"
	"github.com/libshm/libshm/internal/keys"
	"github.com/libshm/libshm/internal/posix"
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
		return Created{}, errs.New(op, shown, errs.ErrInvalid, "a segment cannot be created by id; use sysv:key=K, sysv: or sysv:private")
	case size == 0:
		return Created{}, errs.New(op, shown, errs.ErrInvalid, "size is 0; a segment holds at least one byte")
	case size > math.MaxInt64:
		return Created{}, errs.New(op, shown, errs.ErrNoMemory, fmt.Sprintf("size %d is over every system limit (shmmax, the size of /dev/shm)", size))
	case opt.Mode > 0o777:
		return Created{}, errs.New(op, shown, errs.ErrInvalid, fmt.Sprintf("mode %#o has bits beyond the permission bits 0777", opt.Mode))
	}
	if opt.Mode == 0 {
		opt.Mode = DefaultMode
	}
	made, err := backendOf(k.Backend).create(shown, k, size, opt)
	// Only what this call made: an existing segment it merely opened is
	// someone else's to destroy.
	if err == nil && opt.DestroyOnExit && !made.Opened {
		destroyAtExit(made.Key)
	}
	return made, err
}

// existingError explains a failure to open the segment that a create found
// in its way: it was destroyed in between, or is not ours to read.
func existingError(shown string, err error) *errs.Error {
	e := errs.OS("create", shown, err)
	var no *posix.NotObjectError
	if errors.As(err, &no) {
		e.Code, e.Msg = errs.ErrExist, "the name is taken in /dev/shm by a "+no.Kind+", which is not a shared memory object"
	} else {
		e.Msg = "it exists but cannot be opened: " + e.Msg
	}
	return e
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
