package segment

import (
	"errors"
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/libshm/libshm/internal/errs"
	"github.com/libshm/libshm/internal/keys"
	"github.com/libshm/libshm/internal/posix"
)

// AttachOptions are shmlib_attach's address hint and flags.
type AttachOptions struct {
	Hint     uintptr // address to try first; 0 lets the kernel choose
	Fixed    bool    // map exactly at Hint or fail
	ReadOnly bool
	Populate bool // pre-fault every page
	Lock     bool // mlock the mapping
}

// Mapping is one attach of a segment in this process.
type Mapping struct {
	Key      string // canonical key
	Addr     unsafe.Pointer
	Size     uint64
	ReadOnly bool
	m        *mapping
}

// Attach maps a segment for the caller and records it, so that Detach can
// end it by its address. See shmlib_attach in include/shmlib.h.
func Attach(key string, opt AttachOptions) (Mapping, error) {
	m, err := Map(key, opt)
	if err != nil {
		return Mapping{}, err
	}
	register(m.m)
	return m, nil
}

// Map maps a segment for a layer of libshm itself, such as a channel end,
// which keeps the mapping to itself: it is not recorded, so that Detach
// (shmlib_detach) cannot unmap it under that layer's feet. Unmap ends it.
func Map(key string, opt AttachOptions) (Mapping, error) {
	const op = "attach"
	k, err := parseKey(op, key)
	if err != nil {
		return Mapping{}, err
	}
	shown := k.String()
	if opt.Fixed && (opt.Hint == 0 || opt.Hint%uintptr(unix.Getpagesize()) != 0) {
		return Mapping{}, errs.New(op, shown, errs.ErrInvalid, fmt.Sprintf("SHMLIB_FIXED needs a page-aligned address hint, got %#x", opt.Hint))
	}
	m, err := backendOf(k.Backend).attach(shown, k, opt)
	if err != nil {
		return Mapping{}, err
	}
	if err := prepare(shown, m, opt); err != nil {
		unmap(m)
		return Mapping{}, err
	}
	track(m)
	return Mapping{Key: shown, Addr: m.addr, Size: m.size, ReadOnly: m.readOnly, m: m}, nil
}

// Unmap ends a mapping made by Map.
func Unmap(m Mapping) error {
	if err := unmap(m.m); err != nil {
		return errs.OS("detach", m.Key, err)
	}
	return nil
}

func attachError(shown string, k keys.Key, opt AttachOptions, err error) *errs.Error {
	e := errs.OS("attach", shown, err)
	switch {
	case errors.Is(err, errDestroyed):
		e.Code, e.Msg, e.Err = errs.ErrNotExist, "no such segment (it was destroyed; it lingers only until its last user detaches)", unix.ENOENT
	case k.Form == keys.ID && errors.Is(err, unix.EINVAL) && errs.SyscallOf(err) == "shmctl":
		// IPC_STAT says EINVAL for an id that names nothing. (From shmat,
		// which runs after it, EINVAL is about the address.)
		e.Code, e.Msg, e.Err = errs.ErrNotExist, "no such segment", unix.ENOENT
	case opt.Fixed && (errors.Is(err, unix.EEXIST) || errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOMEM)):
		e.Code, e.Msg = errs.ErrInvalid, fmt.Sprintf("cannot map at %#x: the range is taken or unusable (SHMLIB_FIXED never replaces a mapping)", opt.Hint)
	case errors.Is(err, posix.ErrNotObject), errors.Is(err, posix.ErrEmpty):
		e.Code, e.Msg = errs.ErrInvalid, err.Error()
	case e.Code == errs.ErrPermission && e.Err != nil && !errors.Is(err, unix.ELOOP):
		e.Msg = "permission denied by the segment's mode" + ownerText(k)
		if !opt.ReadOnly {
			e.Msg += "; a read-only attach needs only read permission"
		}
	case errors.Is(err, unix.ENOMEM):
		e.Msg = "no room in this process's address space, or over a memory limit"
	}
	return e
}

// ownerText describes who owns the segment, best effort, for messages.
func ownerText(k keys.Key) string {
	info, err := backendOf(k.Backend).stat(k)
	if err != nil {
		return ""
	}
	return fmt.Sprintf(" (%#o, owner uid %d gid %d)", info.Mode, info.UID, info.GID)
}

// prepare applies the flags that act on a mapping once it exists, and
// act alike on every backend.
func prepare(shown string, m *mapping, opt AttachOptions) error {
	if opt.Lock {
		if err := unix.Mlock(unsafe.Slice((*byte)(m.addr), m.size)); err != nil {
			e := errs.OS("attach", shown, err)
			var lim unix.Rlimit
			unix.Getrlimit(unix.RLIMIT_MEMLOCK, &lim)
			e.Code = errs.ErrNoMemory
			e.Msg = fmt.Sprintf("cannot lock %d bytes in RAM: RLIMIT_MEMLOCK is %d bytes; raise it (ulimit -l) or grant CAP_IPC_LOCK", m.size, lim.Cur)
			return e
		}
	}
	return nil
}

// Detach ends a mapping made by Attach. See shmlib_detach.
func Detach(addr unsafe.Pointer) error {
	const op = "detach"
	if addr == nil {
		return errs.New(op, "", errs.ErrInvalid, "the address is NULL")
	}
	m := unregister(addr)
	if m == nil {
		msg := "not the address of a live mapping made by shmlib_attach (detached already?)"
		if in := containing(addr); in != nil {
			msg = fmt.Sprintf("inside the mapping of %s at %p; detach it by its start address", keys.Display(in.key.String()), in.addr)
		}
		return errs.New(op, fmt.Sprintf("%p", addr), errs.ErrNotAttached, msg)
	}
	if err := unmap(m); err != nil {
		register(m)
		return errs.OS(op, fmt.Sprintf("%p", addr), err)
	}
	return nil
}

func unmap(m *mapping) error {
	// Forgotten first: once unmapped, the range may be mapped again by
	// anyone, and a fault there is no longer this segment's.
	untrack(m)
	err := backendOf(m.key.Backend).unmap(m)
	if err != nil {
		track(m)
	}
	return err
}
