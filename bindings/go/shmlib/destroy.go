package shmlib

import "github.com/libshm/libshm/internal/segment"

// Destroy removes the segment named by key. A POSIX segment leaves
// /dev/shm at once; a System V one loses its key at once and goes from
// `ipcs -m` when its last user detaches. Either way new attaches fail with
// [ErrNotExist], and mappings that exist, here or in other processes, keep
// working until they are detached. Any process the mode allows may destroy
// a segment, not only its creator.
//
// Errors: ErrInvalid (malformed key, or one only Create takes), ErrNotExist
// (no such segment, or destroyed already), ErrPermission, ErrOS.
func Destroy(key string) error {
	return segment.Destroy(key)
}
