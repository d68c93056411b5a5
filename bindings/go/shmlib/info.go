package shmlib

import (
	"io/fs"
	"time"

	"github.com/libshm/libshm/internal/broadcast"
	"github.com/libshm/libshm/internal/channel"
	"github.com/libshm/libshm/internal/segment"
)

// Backend is the kind of shared memory a segment is.
type Backend string

const (
	POSIX Backend = "posix" // a file in /dev/shm (shm_open)
	SysV  Backend = "sysv"  // a System V segment (shmget)
	Memfd Backend = "memfd" // a memfd held by a process (memfd_create); see SendMemfd
)

// Info is what the kernel knows of a segment. Fields a backend does not
// record are zero, or -1 where zero would be a valid value; each says which.
type Info struct {
	Key     string // canonical key; sysv:id=N for System V segments without a key (IPC_PRIVATE or destroyed)
	Backend Backend
	Size    uint64 // bytes

	// Nattach is the number of attaches in all processes (System V).
	// It is -1 for POSIX, where the kernel does not count them.
	Nattach int64

	Atime time.Time // System V: last attach; POSIX: last access. Zero if never
	Dtime time.Time // System V: last detach. Zero if never, always zero for POSIX
	Ctime time.Time // last change of size, mode or owner

	Mode       fs.FileMode // permission bits only, e.g. 0600
	UID, GID   uint32      // owner
	CUID, CGID uint32      // creator (System V); the same as the owner for POSIX
	CPID       int         // pid of the creator (System V); 0 for POSIX
	LPID       int         // pid of the last attach or detach (System V); 0 for POSIX
	ShmID      int         // System V id; -1 for POSIX
	IPCKey     uint32      // System V IPC key; 0 for IPC_PRIVATE and for POSIX

	Destroyed bool // System V: destroyed, but still attached somewhere
	Locked    bool // System V: locked in RAM with SHM_LOCK
	Channel   bool // holds a channel made by CreateChannel (or any libshm binding)
	Broadcast bool // holds a broadcast channel made by CreateBroadcast (or any binding)
}

// Stat describes the segment named by key. It needs no attach, and no
// permission on the segment itself. To tell whether the segment holds a
// channel, its first bytes are read if the caller may read them: for a
// System V segment whose size fits a channel, by attaching it read-only for
// an instant, which the kernel records in its atime, dtime and lpid.
//
// Errors: ErrInvalid (malformed key, or one only Create takes),
// ErrNotExist, ErrOS.
func Stat(key string) (Info, error) {
	info, err := segment.Stat(key)
	if err != nil {
		return Info{}, err
	}
	return infoOf(&info), nil
}

// List describes every segment the caller can see: POSIX objects first,
// sorted by name, then System V segments, sorted by shmid. Segments come
// and go at any time; the list is a snapshot. POSIX semaphores, which glibc
// also keeps in /dev/shm as sem.NAME, are left out.
//
// Errors: ErrOS, if /dev/shm or /proc/sysvipc/shm cannot be read.
func List() ([]Info, error) {
	infos, err := segment.List()
	if err != nil {
		return nil, err
	}
	return infosOf(infos), nil
}

func infosOf(infos []segment.Info) []Info {
	out := make([]Info, len(infos))
	for i := range infos {
		out[i] = infoOf(&infos[i])
	}
	return out
}

func infoOf(in *segment.Info) Info {
	return Info{
		Key:       in.Key,
		Backend:   Backend(in.Backend.String()),
		Size:      in.Size,
		Nattach:   in.Nattach,
		Atime:     unixTime(in.Atime),
		Dtime:     unixTime(in.Dtime),
		Ctime:     unixTime(in.Ctime),
		Mode:      fs.FileMode(in.Mode),
		UID:       in.UID,
		GID:       in.GID,
		CUID:      in.CUID,
		CGID:      in.CGID,
		CPID:      int(in.CPID),
		LPID:      int(in.LPID),
		ShmID:     int(in.ShmID),
		IPCKey:    in.IPCKey,
		Destroyed: in.Destroyed,
		Locked:    in.Locked,
		Channel:   channel.Probe(in),
		Broadcast: broadcast.Probe(in),
	}
}

// unixTime keeps "never" (0 in the kernel's records) the zero time.Time,
// so that IsZero tells it, rather than 1970-01-01.
func unixTime(sec int64) time.Time {
	if sec == 0 {
		return time.Time{}
	}
	return time.Unix(sec, 0)
}

// Reap finds the segments libshm made that nobody will ever destroy: their
// creator is dead and no process has them attached or open. With destroy,
// it destroys them; without, it only lists them. It knows a segment as
// libshm's only by the name or key libshm chose (a Create with key "",
// "posix:" or "sysv:"), so segments named by their users are never
// touched, nor memfds, which cannot leak. See include/shmlib.h, shmlib_reap.
//
// Errors: ErrOS, if /dev/shm or /proc/sysvipc/shm cannot be read.
func Reap(destroy bool) ([]Info, error) {
	infos, err := segment.Reap(destroy)
	if err != nil {
		return nil, err
	}
	return infosOf(infos), nil
}
