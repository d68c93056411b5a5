package segment

import (
	"os"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/libshm/libshm/internal/keys"
	"github.com/libshm/libshm/internal/memfd"
	"github.com/libshm/libshm/internal/posix"
)

// OpenFile opens the file behind m as a new open file description of its
// own (close-on-exec), for a layer that locks part of it with OFD locks:
// channel ends prove they are alive that way (internal/channel). System V
// segments have no file: -1, and no error.
func OpenFile(m Mapping) (int, error) {
	k := m.m.key
	switch k.Backend {
	case keys.Posix:
		fd, err := unix.Open(posix.Path(k.Name), unix.O_RDWR|unix.O_CLOEXEC, 0)
		if err != nil {
			return -1, osError("attach", m.Key, os.NewSyscallError("open", err))
		}
		return fd, nil
	case keys.Memfd:
		// Reopened through /proc, not dup'ed: a dup would share the
		// description, and with it the locks, with the holder.
		if own(k) {
			fd, err := unix.Open("/proc/self/fd/"+strconv.Itoa(int(k.FD)), unix.O_RDWR|unix.O_CLOEXEC, 0)
			if err != nil {
				return -1, osError("attach", m.Key, os.NewSyscallError("open", err))
			}
			return fd, nil
		}
		fd, err := memfd.OpenHeld(int(k.PID), int(k.FD), false)
		if err != nil {
			return -1, memfdError("attach", m.Key, k, err)
		}
		return fd, nil
	}
	return -1, nil
}
