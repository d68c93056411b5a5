package channel

import (
	"bytes"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
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
	return owner(uint64(pid)<<32 | uint64(uint32(startTime(pid))))
}()

// alive reports whether the process an owner word names still runs. A
// zombie has died, though its parent has not reaped it yet (the parent may
// be the very process waiting on the channel).
func (o owner) alive() bool {
	if o == 0 {
		return false
	}
	if o.pid() == self.pid() {
		return o == self
	}
	if err := unix.Kill(o.pid(), 0); err == unix.ESRCH {
		return false
	}
	state, start, ok := procStat(o.pid())
	if !ok {
		return true // unreadable: assume alive, never steal a live end
	}
	return state != 'Z' && state != 'X' && uint32(start) == uint32(o)
}

// startTime is the start time of pid, or -1 if it cannot be read.
func startTime(pid int) int64 {
	_, start, ok := procStat(pid)
	if !ok {
		return -1
	}
	return start
}

// procStat reads the state (field 3) and the start time (field 22, clock
// ticks since boot) of /proc/PID/stat. The process name in field 2 may hold
// spaces and parentheses, so fields are counted from the last ')'.
func procStat(pid int) (state byte, start int64, ok bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, false
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, false
	}
	fields := bytes.Fields(b[i+1:])
	// After ')': field 3 is fields[0], so field 22 is fields[19].
	if len(fields) < 20 || len(fields[0]) != 1 {
		return 0, 0, false
	}
	start, err = strconv.ParseInt(string(fields[19]), 10, 64)
	if err != nil {
		return 0, 0, false
	}
	return fields[0][0], start, true
}
