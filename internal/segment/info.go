package segment

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/libshm/libshm/internal/errs"
	"github.com/libshm/libshm/internal/keys"
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
	b := backendOf(k.Backend)
	info, err := b.stat(k)
	if err != nil {
		return Info{}, b.statError(op, k, err)
	}
	return info, nil
}

// List describes every segment the caller can see: POSIX objects, System V
// segments, then the memfds this process holds. See shmlib_list.
func List() ([]Info, error) {
	var infos []Info
	for _, b := range registry {
		some, err := b.list()
		if err != nil {
			return nil, err
		}
		infos = append(infos, some...)
	}
	return infos, nil
}

// Ftok gives the key glibc's ftok(path, projID) gives. See shmlib_ftok.
func Ftok(path string, projID int) (string, error) {
	const op = "ftok"
	switch {
	case path == "":
		return "", errs.New(op, "", errs.ErrInvalid, "the path is empty")
	case projID < 1 || projID > 255:
		return "", errs.New(op, path, errs.ErrInvalid, fmt.Sprintf("proj_id %d is outside 1..255 (ftok uses only its low 8 bits)", projID))
	}
	k, err := sysv.Ftok(path, uint8(projID))
	if err != nil {
		e := errs.OS(op, path, err)
		if e.Code == errs.ErrNotExist || errors.Is(err, unix.ENOTDIR) {
			// ENOTDIR: a component of the path is a file, so no such file.
			e.Code, e.Msg = errs.ErrNotExist, "no such file"
		}
		return "", e
	}
	return keys.ForIPCKey(k).String(), nil
}
