package segment

import (
	"encoding/binary"
	"errors"
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/libshm/libshm/internal/errs"
	"github.com/libshm/libshm/internal/keys"
	"github.com/libshm/libshm/internal/memlimit"
	"github.com/libshm/libshm/internal/proc"
	"github.com/libshm/libshm/internal/sysv"
)

// sysvBackend is System V segments, shmget and shmat (internal/sysv).
type sysvBackend struct{}

func (sysvBackend) kind() keys.Backend { return keys.SysV }

func (sysvBackend) create(shown string, k keys.Key, size uint64, opt CreateOptions) (Created, error) {
	const op = "create"
	if opt.Sparse {
		return Created{}, errs.New(op, shown, errs.ErrNotSupported, "SHMLIB_SPARSE is for POSIX segments; System V segments are always allocated on first touch")
	}
	for try := 0; ; try++ {
		var ipcKey uint32 // stays 0, IPC_PRIVATE, for keys.Private
		switch k.Form {
		case keys.IPCKey:
			ipcKey = k.IPCKey
		case keys.Auto:
			var err error
			if ipcKey, err = randomIPCKey(); err != nil {
				return Created{}, errs.OS(op, shown, err)
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
		return Created{}, errs.OS(op, shown, err)
	}
}

func createSysVError(shown string, size uint64, opt CreateOptions, err error) *errs.Error {
	e := errs.OS("create", shown, err)
	switch {
	case opt.HugeTLB && (errors.Is(err, unix.ENOMEM) || errors.Is(err, unix.EINVAL)) && hugePagesTotal() == 0:
		e.Code = errs.ErrNotSupported
		e.Msg = "no huge pages are reserved on this system (HugePages_Total is 0 in /proc/meminfo; see /proc/sys/vm/nr_hugepages)"
	case opt.HugeTLB && errors.Is(err, unix.EPERM):
		e.Msg = "huge pages need CAP_IPC_LOCK or membership of the group in /proc/sys/vm/hugetlb_shm_group"
	case errors.Is(err, unix.EINVAL):
		// With IPC_CREAT|IPC_EXCL, EINVAL can only mean the size.
		e.Code = errs.ErrNoMemory
		e.Msg = fmt.Sprintf("size %d is over the System V limit shmmax (%s bytes, /proc/sys/kernel/shmmax)", size, readProcLimit("shmmax"))
	case errors.Is(err, unix.ENOSPC):
		e.Code = errs.ErrNoMemory
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
		return Created{}, errs.New("create", shown, errs.ErrInvalid, fmt.Sprintf("it exists with %d bytes, fewer than the %d asked for", d.Segsz, size))
	}
	return Created{Key: k.String(), Opened: true}, nil
}

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

func (sysvBackend) attach(shown string, k keys.Key, opt AttachOptions) (*mapping, error) {
	id, err := sysvID(k)
	if err != nil {
		return nil, attachError(shown, k, opt, err)
	}
	addr, size, err := sysv.Attach(id, sysv.AttachOptions{Hint: opt.Hint, Fixed: opt.Fixed, ReadOnly: opt.ReadOnly})
	if err != nil {
		return nil, attachError(shown, k, opt, err)
	}
	m := &mapping{key: k, addr: addr, size: size, readOnly: opt.ReadOnly}
	if opt.Populate {
		if err := populate(shown, m); err != nil {
			sysv.Detach(addr, size)
			return nil, err
		}
	}
	return m, nil
}

// populate pre-faults a System V mapping: shmat has no MAP_POPULATE, and
// madvise does the same since Linux 5.14.
func populate(shown string, m *mapping) error {
	advice := unix.MADV_POPULATE_WRITE
	if m.readOnly {
		advice = unix.MADV_POPULATE_READ
	}
	if err := unix.Madvise(unsafe.Slice((*byte)(m.addr), m.size), advice); err != nil {
		e := errs.OS("attach", shown, err)
		if errors.Is(err, unix.EINVAL) {
			e.Code, e.Msg = errs.ErrNotSupported, "pre-faulting System V segments needs Linux 5.14 or later (MADV_POPULATE)"
		}
		return e
	}
	return nil
}

// sysvID finds the shmid a System V key names. By id, it refuses segments
// marked for removal: Linux would still attach them, but to the caller a
// destroyed segment is gone, whichever way it is named.
func sysvID(k keys.Key) (int, error) {
	if k.Form == keys.IPCKey {
		return sysv.Lookup(k.IPCKey)
	}
	d, err := sysv.Stat(int(k.ID))
	if err != nil {
		return -1, err
	}
	if sysv.Destroyed(&d) {
		return -1, errDestroyed
	}
	return int(k.ID), nil
}

var errDestroyed = errors.New("segment destroyed")

func destroySysV(k keys.Key) error { // the system calls, for destroy
	id, err := sysvID(k)
	if err != nil {
		return err
	}
	return sysv.Remove(id)
}

func statFromProc(id int, statErr error) (Info, error) {
	segs, err := sysv.List()
	if err != nil {
		return Info{}, statErr
	}
	for _, s := range segs {
		if s.ID == id {
			return sysvInfo(id, &s.Desc), nil
		}
	}
	return Info{}, statErr
}

func sysvInfo(id int, d *unix.SysvShmDesc) Info {
	key := keys.ForID(int32(id))
	if d.Perm.Key != 0 {
		key = keys.ForIPCKey(uint32(d.Perm.Key))
	}
	return Info{
		Key:     key.String(),
		Backend: keys.SysV,
		Size:    d.Segsz,
		Nattach: int64(d.Nattch),
		Atime:   d.Atime, Dtime: d.Dtime, Ctime: d.Ctime,
		Mode: d.Perm.Mode & 0o777,
		UID:  d.Perm.Uid, GID: d.Perm.Gid,
		CUID: d.Perm.Cuid, CGID: d.Perm.Cgid,
		CPID: d.Cpid, LPID: d.Lpid,
		ShmID:     int32(id),
		IPCKey:    uint32(d.Perm.Key),
		Destroyed: sysv.Destroyed(d),
		Locked:    sysv.Locked(d),
	}
}

func (sysvBackend) unmap(m *mapping) error { return sysv.Detach(m.addr, m.size) }

func (sysvBackend) destroy(k keys.Key) error {
	err := destroySysV(k)
	if err == nil {
		return nil
	}
	e := errs.OS("destroy", k.String(), err)
	switch {
	case errors.Is(err, errDestroyed):
		e.Code, e.Msg, e.Err = errs.ErrNotExist, "no such segment (destroyed already; it lingers only until its last user detaches)", unix.ENOENT
	case k.Form == keys.ID && errors.Is(err, unix.EINVAL):
		e.Code, e.Msg, e.Err = errs.ErrNotExist, "no such segment", unix.ENOENT
	case e.Code == errs.ErrPermission:
		e.Msg = "permission denied: only the segment's owner, its creator or a privileged process may destroy it"
	}
	return e
}

func (sysvBackend) stat(k keys.Key) (Info, error) {
	id := int(k.ID)
	if k.Form == keys.IPCKey {
		var err error
		if id, err = sysv.Lookup(k.IPCKey); err != nil {
			return Info{}, err
		}
	}
	d, err := sysv.Stat(id)
	if errors.Is(err, unix.EACCES) {
		// IPC_STAT needs read permission; /proc/sysvipc/shm does not.
		return statFromProc(id, err)
	}
	if err != nil {
		return Info{}, err
	}
	return sysvInfo(id, &d), nil
}

func (sysvBackend) statError(op string, k keys.Key, err error) *errs.Error {
	e := errs.OS(op, k.String(), err)
	if k.Form == keys.ID && errors.Is(err, unix.EINVAL) {
		e.Code, e.Msg, e.Err = errs.ErrNotExist, "no such segment", unix.ENOENT
	}
	return e
}

func (sysvBackend) list() ([]Info, error) {
	segs, err := sysv.List()
	if err != nil {
		return nil, &errs.Error{Op: "list", Key: "/proc/sysvipc/shm", Code: errs.ErrOS, Msg: fmt.Sprint(err), Err: err}
	}
	infos := make([]Info, 0, len(segs))
	for i := range segs {
		infos = append(infos, sysvInfo(segs[i].ID, &segs[i].Desc))
	}
	return infos, nil
}

// head can only attach, which the kernel records in atime, dtime and lpid.
func (sysvBackend) head(info *Info, n int) []byte {
	addr, size, err := sysv.Attach(int(info.ShmID), sysv.AttachOptions{ReadOnly: true})
	if err != nil {
		return nil
	}
	defer sysv.Detach(addr, size)
	if size < uint64(n) {
		return nil
	}
	return append([]byte(nil), unsafe.Slice((*byte)(addr), n)...)
}

// orphaned: a key in libshm's range, no attach, and a dead creator, which
// the kernel records. It gives the creator's pid as this pid namespace
// sees it, and 0 for one it cannot see: that one cannot be judged.
func (sysvBackend) orphaned(in *Info, _ *reaping) bool {
	return in.IPCKey>>24 == ownKeyByte && in.Nattach == 0 && !in.Destroyed &&
		in.CPID != 0 && !proc.Alive(int(in.CPID), nil)
}

// openFile: a System V segment has no file.
func (sysvBackend) openFile(Mapping) (int, error) { return -1, nil }
