package segment

import (
	"errors"

	"golang.org/x/sys/unix"

	"github.com/libshm/libshm/internal/keys"
	"github.com/libshm/libshm/internal/posix"
	"github.com/libshm/libshm/internal/sysv"
)

// Destroy removes a segment. See shmlib_destroy in include/shmlib.h.
func Destroy(key string) error {
	const op = "destroy"
	k, err := parseKey(op, key)
	if err != nil {
		return err
	}
	forgetAtExit(k.String())
	switch k.Backend {
	case keys.Posix:
		err = posix.Unlink(k.Name)
	case keys.SysV:
		err = destroySysV(k)
	case keys.Memfd:
		return destroyMemfd(k.String(), k)
	}
	if err == nil {
		return nil
	}
	e := osError(op, k.String(), err)
	switch {
	case errors.Is(err, posix.ErrNotObject):
		e.Code, e.Msg = ErrInvalid, err.Error()+"; destroy removes only shared memory objects, so it is left alone"
	case errors.Is(err, errDestroyed):
		e.Code, e.Msg, e.Err = ErrNotExist, "no such segment (destroyed already; it lingers only until its last user detaches)", unix.ENOENT
	case k.Form == keys.ID && errors.Is(err, unix.EINVAL):
		e.Code, e.Msg, e.Err = ErrNotExist, "no such segment", unix.ENOENT
	case e.Code == ErrPermission && k.Backend == keys.SysV:
		e.Msg = "permission denied: only the segment's owner, its creator or a privileged process may destroy it"
	case e.Code == ErrPermission:
		e.Msg = "permission denied: /dev/shm is sticky, so only the segment's owner or a privileged process may remove it"
	}
	return e
}

func destroySysV(k keys.Key) error {
	id, err := sysvID(k)
	if err != nil {
		return err
	}
	return sysv.Remove(id)
}
