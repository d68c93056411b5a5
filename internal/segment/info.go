package segment

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/libshm/libshm/internal/keys"
	"github.com/libshm/libshm/internal/posix"
	"github.com/libshm/libshm/internal/sysv"
)

// Info is what the kernel knows of a segment; see shmlib_stat_t.
type Info struct {
	Key                 string // canonical key
	Backend             keys.Backend
	Size                uint64
	Nattach             int64 // -1 for POSIX: the kernel does not count
	Atime, Dtime, Ctime int64 // seconds since the epoch; 0 if never or unknown
	Mode                uint32
	UID, GID            uint32
	CUID, CGID          uint32
	CPID, LPID          int32 // 0 for POSIX
	ShmID               int32 // -1 for POSIX
	IPCKey              uint32
	Destroyed, Locked   bool // System V only
}

// Stat describes a segment. See shmlib_stat.
func Stat(key string) (Info, error) {
	const op = "stat"
	k, err := parseKey(op, key)
	if err != nil {
		return Info{}, err
	}
	info, err := stat(k)
	if err == nil {
		return info, nil
	}
	if k.Backend == keys.Memfd {
		return Info{}, memfdError(op, k.String(), k, err)
	}
	e := osError(op, k.String(), err)
	switch {
	case errors.Is(err, posix.ErrNotObject):
		e.Code, e.Msg = ErrInvalid, err.Error()
	case k.Form == keys.ID && errors.Is(err, unix.EINVAL):
		e.Code, e.Msg, e.Err = ErrNotExist, "no such segment", unix.ENOENT
	}
	return Info{}, e
}

func stat(k keys.Key) (Info, error) {
	if k.Backend == keys.Memfd {
		return statMemfd(k)
	}
	if k.Backend == keys.Posix {
		st, err := posix.Stat(k.Name)
		if err != nil {
			return Info{}, err
		}
		return posixInfo(k.Name, &st), nil
	}
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

// List describes every segment the caller can see: POSIX objects, System V
// segments, then the memfds this process holds. See shmlib_list.
func List() ([]Info, error) {
	objects, err := posix.List()
	if err != nil {
		return nil, &Error{Op: "list", Key: posix.Dir, Code: ErrOS, Msg: fmt.Sprint(err), Err: err}
	}
	segs, err := sysv.List()
	if err != nil {
		return nil, &Error{Op: "list", Key: "/proc/sysvipc/shm", Code: ErrOS, Msg: fmt.Sprint(err), Err: err}
	}
	infos := make([]Info, 0, len(objects)+len(segs))
	for i := range objects {
		infos = append(infos, posixInfo(objects[i].Name, &objects[i].Stat))
	}
	for i := range segs {
		infos = append(infos, sysvInfo(segs[i].ID, &segs[i].Desc))
	}
	return append(infos, listMemfds()...), nil
}

func posixInfo(name string, st *unix.Stat_t) Info {
	return Info{
		Key:     keys.ForPosix(name).String(),
		Backend: keys.Posix,
		Size:    uint64(st.Size),
		Nattach: -1,
		Atime:   st.Atim.Sec,
		Ctime:   st.Ctim.Sec,
		Mode:    st.Mode & 0o777,
		UID:     st.Uid, GID: st.Gid,
		CUID: st.Uid, CGID: st.Gid,
		ShmID: -1,
	}
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

// Ftok gives the key glibc's ftok(path, projID) gives. See shmlib_ftok.
func Ftok(path string, projID int) (string, error) {
	const op = "ftok"
	switch {
	case path == "":
		return "", NewError(op, "", ErrInvalid, "the path is empty")
	case projID < 1 || projID > 255:
		return "", NewError(op, path, ErrInvalid, fmt.Sprintf("proj_id %d is outside 1..255 (ftok uses only its low 8 bits)", projID))
	}
	k, err := sysv.Ftok(path, uint8(projID))
	if err != nil {
		e := osError(op, path, err)
		if e.Code == ErrNotExist || errors.Is(err, unix.ENOTDIR) {
			// ENOTDIR: a component of the path is a file, so no such file.
			e.Code, e.Msg = ErrNotExist, "no such file"
		}
		return "", e
	}
	return keys.ForIPCKey(k).String(), nil
}
