package shmlib

import (
	"io/fs"

	"github.com/libshm/libshm/internal/segment"
)

// CreateOptions are the optional settings of [Create]; a nil
// *CreateOptions means all defaults.
type CreateOptions struct {
	// Mode is the segment's permission bits, at most 0777; 0 means 0600
	// (owner read and write). It is applied exactly: the umask does not
	// narrow it.
	Mode fs.FileMode

	// OpenExisting opens a segment that exists already, if it holds at
	// least size bytes, instead of failing with ErrExist; Created.Opened
	// then says so. Its mode is left alone.
	OpenExisting bool

	// HugeTLB backs a System V segment with huge pages (SHM_HUGETLB).
	// ErrNotSupported on POSIX, and where no huge pages are reserved.
	HugeTLB bool

	// Sparse skips reserving a POSIX segment's memory at create, for
	// huge, mostly empty segments. Without it, asking for more than
	// /dev/shm holds fails here with ErrNoMemory; with it, the shortfall
	// shows only when a page that does not fit is first touched, as a
	// SIGBUS in whichever process touches it (see [Mapping.Bytes]).
	// ErrNotSupported on System V, whose pages are always allocated on
	// first touch.
	Sparse bool
}

// Created is what [Create] made, or with OpenExisting found.
type Created struct {
	Key    string // canonical key: hand it to Attach, Destroy or another process
	Opened bool   // the segment existed and was opened, not created
}

// Create makes a new segment of size bytes, zero-filled, and returns its
// canonical key. It does not attach it: call [Attach].
//
// key says where: "posix:/NAME", "/NAME" or "sysv:key=K" name the segment;
// "" or "posix:", "sysv:" and "sysv:private" let the library choose, and
// Created.Key tells the choice. A "sysv:id=N" key cannot be created.
//
// Creation is exclusive: an existing segment gives [ErrExist], unless
// opt.OpenExisting. A create that fails leaves nothing behind.
//
// Errors: ErrInvalid (malformed key, size 0, mode above 0777, or with
// OpenExisting an existing segment smaller than size), ErrExist,
// ErrPermission, ErrNoMemory (over shmmax, shmall, shmmni or the space of
// /dev/shm), ErrNotSupported (see HugeTLB and Sparse), ErrOS.
func Create(key string, size uint64, opt *CreateOptions) (Created, error) {
	var o CreateOptions
	if opt != nil {
		o = *opt
	}
	c, err := segment.Create(key, size, segment.CreateOptions{
		Mode:         uint32(o.Mode),
		OpenExisting: o.OpenExisting,
		HugeTLB:      o.HugeTLB,
		Sparse:       o.Sparse,
	})
	if err != nil {
		return Created{}, err
	}
	return Created{Key: c.Key, Opened: c.Opened}, nil
}
