package channel

import (
	"os"

	"github.com/libshm/libshm/internal/proc"
)

// An owner word names the process holding one end of a channel: its pid in
// the high 32 bits and the low 32 bits of its start time (clock ticks since
// boot, from /proc/PID/stat) in the low ones. The start time tells a live
// holder from an unrelated process that got the same pid after the holder
// died. One 64-bit word, so that taking over an end is a single CAS.
type owner uint64

func (o owner) pid() int { return int(o >> 32) }

// self is this process's owner word, computed once: neither part changes.
var self = func() owner {
	pid := os.Getpid()
	return owner(uint64(pid)<<32 | uint64(uint32(proc.StartTime(pid))))
}()

// alive reports whether the process an owner word names still runs.
func (o owner) alive() bool {
	if o == 0 {
		return false
	}
	if o.pid() == self.pid() {
		return o == self
	}
	return proc.Alive(o.pid(), func(start int64) bool { return uint32(start) == uint32(o) })
}
