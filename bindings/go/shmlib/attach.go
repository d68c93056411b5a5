package shmlib

import "github.com/libshm/libshm/internal/segment"

// AttachOptions are the optional settings of [Attach]; a nil
// *AttachOptions means all defaults: read-write, anywhere the kernel likes.
type AttachOptions struct {
	// ReadOnly maps the segment read-only (PROT_READ, SHM_RDONLY); it needs
	// only read permission. Writing through such a mapping faults: see
	// [Mapping.Bytes].
	ReadOnly bool

	// Populate pre-faults every page now (MAP_POPULATE, MADV_POPULATE_*),
	// so that first touches later cost nothing.
	Populate bool

	// Lock locks the mapping's pages in RAM (mlock). It needs room under
	// RLIMIT_MEMLOCK, or CAP_IPC_LOCK; ErrNoMemory otherwise.
	Lock bool

	// Hint is a page-aligned address to try first; 0 lets the kernel
	// choose. If the range is taken the segment goes elsewhere, unless
	// Fixed.
	Hint uintptr

	// Fixed maps exactly at Hint or fails with ErrInvalid. It never
	// replaces an existing mapping.
	Fixed bool
}

// Attach maps the segment named by key into this process and returns the
// mapping. The mapping covers the whole segment, [Mapping.Size] bytes.
//
// Every Attach is a new, independent mapping, also when this process has
// the segment attached already, and each must be detached on its own with
// [Mapping.Detach]. The memory stays valid until then, even after the
// segment is destroyed.
//
// Errors: ErrInvalid (malformed key, one only Create takes, or Fixed
// without a usable Hint), ErrNotExist (no such segment, or destroyed),
// ErrPermission (a ReadOnly attach may still work), ErrNoMemory (no
// address space, or Lock over RLIMIT_MEMLOCK), ErrNotSupported, ErrOS.
func Attach(key string, opt *AttachOptions) (*Mapping, error) {
	var o AttachOptions
	if opt != nil {
		o = *opt
	}
	m, err := segment.Attach(key, segment.AttachOptions{
		Hint:     o.Hint,
		Fixed:    o.Fixed,
		ReadOnly: o.ReadOnly,
		Populate: o.Populate,
		Lock:     o.Lock,
	})
	if err != nil {
		return nil, err
	}
	return &Mapping{key: m.Key, size: m.Size, readOnly: m.ReadOnly, addr: m.Addr}, nil
}
