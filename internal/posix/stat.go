package posix

import (
	"errors"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// Stat returns what the kernel keeps of the object: size, mode, owner, times.
// A name that is not a regular file (a symlink, a FIFO, a directory) is a
// *NotObjectError. It opens nothing, so nothing there can make it block.
func Stat(name string) (unix.Stat_t, error) {
	var st unix.Stat_t
	if err := lstatShm(name, &st); err != nil {
		return st, err
	}
	return st, notObject(st.Mode)
}

// Object is one entry of List.
type Object struct {
	Name string
	Stat unix.Stat_t
}

// List returns the shared memory objects in /dev/shm, sorted by name.
// glibc keeps POSIX semaphores there too, as "sem.NAME": they are not
// shared memory segments, so they are left out, as are non-regular files.
func List() ([]Object, error) {
	entries, err := os.ReadDir(Dir)
	if err != nil {
		return nil, err
	}
	objects := make([]Object, 0, len(entries))
	for _, e := range entries {
		if !e.Type().IsRegular() || strings.HasPrefix(e.Name(), "sem.") {
			continue
		}
		st, err := Stat(e.Name())
		if errors.Is(err, unix.ENOENT) || errors.Is(err, ErrNotObject) {
			continue // removed or replaced since ReadDir: no longer there
		}
		if err != nil {
			return nil, err
		}
		objects = append(objects, Object{Name: e.Name(), Stat: st})
	}
	return objects, nil
}
