// Package proc answers, from /proc, whether a process still runs: the
// question channels ask of a peer and reaping asks of a creator.
package proc

import (
	"bytes"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// Stat reads the state (field 3) and the start time (field 22, clock ticks
// since boot) of /proc/PID/stat; ok is false if the process is gone or the
// file unreadable. The process name in field 2 may hold spaces and
// parentheses, so fields are counted from the last ')'.
func Stat(pid int) (state byte, start int64, ok bool) {
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

// StartTime is the start time of pid, or -1 if it cannot be read.
func StartTime(pid int) int64 {
	_, start, ok := Stat(pid)
	if !ok {
		return -1
	}
	return start
}

// Alive reports whether pid runs and, if match is given, started at a time
// whose low 32 bits are match (a pid reused by another process does not
// count). A zombie has died, though its parent has not reaped it yet. When
// /proc cannot tell, the answer is yes: callers must never act on a live
// process's behalf by mistake.
func Alive(pid int, match func(start int64) bool) bool {
	if pid <= 0 {
		return false
	}
	if err := unix.Kill(pid, 0); err == unix.ESRCH {
		return false
	}
	state, start, ok := Stat(pid)
	if !ok {
		return true
	}
	return state != 'Z' && state != 'X' && (match == nil || match(start))
}

// initialNamespace is the inode of the initial pid namespace
// (PROC_PID_INIT_INO): the one namespace from which every process is
// visible.
const initialNamespace = 0xEFFFFFFC

// SeesAll reports whether this process sits in the initial pid
// namespace, where /proc shows every process of the machine. Anywhere
// else, a process that cannot be found may still run, unseen.
func SeesAll() bool {
	var st unix.Stat_t
	return unix.Stat("/proc/self/ns/pid", &st) == nil && st.Ino == initialNamespace
}

// Nested is the set of processes that run in pid namespaces nested in this
// one, each as its own namespace sees it: its pid there (the last of
// NSpid in /proc/PID/status) and its start time. A pid that a process
// wrote down in such a namespace means nothing here, but with its start
// time it still names that process.
func Nested() map[[2]int64]bool {
	found := make(map[[2]int64]bool)
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		status, err := os.ReadFile("/proc/" + d.Name() + "/status")
		if err != nil {
			continue
		}
		i := bytes.Index(status, []byte("\nNSpid:"))
		if i < 0 {
			continue
		}
		line, _, _ := bytes.Cut(status[i+len("\nNSpid:"):], []byte("\n"))
		ids := bytes.Fields(line)
		if len(ids) < 2 {
			continue // not nested
		}
		inner, err := strconv.ParseInt(string(ids[len(ids)-1]), 10, 64)
		if start := StartTime(pid); err == nil && start >= 0 {
			found[[2]int64{inner, start}] = true
		}
	}
	return found
}
