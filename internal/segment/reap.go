package segment

import "github.com/libshm/libshm/internal/proc"

// Reap finds the segments that libshm made and nobody will ever destroy:
// their creator is dead, and no process has them attached or open. With
// destroy, it destroys them. See shmlib_reap.
//
// It only knows a segment as libshm's by the name or key libshm chose for
// it (a create without a key): POSIX names carry their creator's pid and
// start time, System V keys are in libshm's range and the kernel records
// their creator. Segments named by their users are never touched, nor are
// memfds, which cannot leak.
func Reap(destroy bool) ([]Info, error) {
	infos, err := List()
	if err != nil {
		return nil, err
	}
	var r reaping
	var found []Info
	for _, in := range infos {
		if !backendOf(in.Backend).orphaned(&in, &r) {
			continue
		}
		if destroy {
			if err := Destroy(in.Key); err != nil {
				continue // gone meanwhile, or not ours to destroy: leave it
			}
		}
		found = append(found, in)
	}
	return found, nil
}

// reaping is what the backends' orphaned tests of one Reap share, each
// part read from /proc once, on first use.
type reaping struct {
	inUse  map[string]bool
	nested map[[2]int64]bool
}

// posixInUse is the set of /dev/shm names some process has mapped or open.
func (r *reaping) posixInUse() map[string]bool {
	if r.inUse == nil {
		r.inUse = posixInUse()
	}
	return r.inUse
}

// nestedProcs is the (pid, start time) of every process in a pid namespace
// nested in ours, as that namespace numbers it (proc.Nested).
func (r *reaping) nestedProcs() map[[2]int64]bool {
	if r.nested == nil {
		r.nested = proc.Nested()
	}
	return r.nested
}
