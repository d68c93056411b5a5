package segment

import (
	"fmt"

	"github.com/libshm/libshm/internal/errs"
	"github.com/libshm/libshm/internal/memlimit"
)

// checkFrom is the smallest create whose memory is checked before it is
// reserved: looking costs some 30 µs of reading /proc and cgroup files,
// about what reserving 1 MiB costs, while a smaller create is no more a
// danger than any other allocation of the process.
const checkFrom = 1 << 20

// checkBacking refuses a create whose memory the machine or a memory
// cgroup of this process cannot give, before anything is reserved: past
// those limits the kernel does not fail fallocate, it kills (see
// internal/memlimit). Only creates that reserve their memory ask: sparse
// ones and System V segments take it page by page as it is touched.
//
// A POSIX object (inDevShm) also needs the space of /dev/shm: when that is
// the tighter limit, the kernel refuses the create cleanly (ENOSPC, before
// memory runs out), and its own message names /dev/shm.
func checkBacking(shown string, size uint64, inDevShm bool) error {
	if size < checkFrom {
		return nil
	}
	room, ok := memlimit.Tightest()
	if !ok || size <= room.Bytes {
		return nil
	}
	if free, ok := devShmFree(); inDevShm && ok && free < size && free <= room.Bytes {
		return nil
	}
	return errs.New("create", shown, errs.ErrNoMemory, fmt.Sprintf("%d bytes (%s) cannot be backed: %s; nothing was created",
		size, memlimit.Human(size), room.What))
}
