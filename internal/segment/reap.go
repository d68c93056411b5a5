package segment

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/libshm/libshm/internal/keys"
	"github.com/libshm/libshm/internal/posix"
	"github.com/libshm/libshm/internal/proc"
)

// ownName reads a POSIX name libshm chose, shmlib-PID-START-RANDOM (see
// randomName): the creator's pid and start time, and whether it is one.
// (By hand rather than with regexp, which would add half a megabyte to
// libshm.so.)
func ownName(name string) (pid int, start uint64, ok bool) {
	rest, ok := strings.CutPrefix(name, "shmlib-")
	parts := strings.Split(rest, "-")
	if !ok || len(parts) != 3 || len(parts[2]) != 16 || !isHex(parts[2]) {
		return 0, 0, false
	}
	pid, err := strconv.Atoi(parts[0])
	if err != nil || pid <= 0 || parts[0][0] == '+' {
		return 0, 0, false
	}
	start, err = strconv.ParseUint(parts[1], 16, 64)
	if err != nil || !isHex(parts[1]) {
		return 0, 0, false
	}
	return pid, start, true
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return s != ""
}

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
	inUse := posixInUse()
	var nestedSet map[[2]int64]bool
	nested := func() map[[2]int64]bool { // read once, only if needed
		if nestedSet == nil {
			nestedSet = proc.Nested()
		}
		return nestedSet
	}
	var found []Info
	for _, in := range infos {
		if !orphaned(&in, inUse, nested) {
			continue
		}
		if pid, _, ok := ownName(strings.TrimPrefix(in.Key, "posix:/")); ok && in.Backend == keys.Posix {
			in.CPID = int32(pid) // the kernel does not know it; the name does
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

func orphaned(in *Info, inUse map[string]bool, nested func() map[[2]int64]bool) bool {
	switch in.Backend {
	case keys.Posix:
		name := strings.TrimPrefix(in.Key, "posix:/")
		pid, start, ok := ownName(name)
		if !ok || inUse[name] {
			return false
		}
		return !creatorAlive(pid, start, nested)
	case keys.SysV:
		// The kernel gives the creator's pid as this pid namespace sees
		// it, and 0 for one it cannot see: that one cannot be judged.
		return in.IPCKey>>24 == ownKeyByte && in.Nattach == 0 && !in.Destroyed &&
			in.CPID != 0 && !proc.Alive(int(in.CPID), nil)
	}
	return false
}

// creatorAlive reports whether the process that chose a POSIX name still
// runs. The name holds its pid as its own pid namespace saw it, which may
// not be ours (containers sharing /dev/shm): it is found here by pid and
// start time, or in a nested namespace by its pid there and start time.
// Outside the initial pid namespace some processes cannot be seen at all,
// so a creator not found there counts as alive: never reap on a guess.
func creatorAlive(pid int, start uint64, nested func() map[[2]int64]bool) bool {
	if proc.Alive(pid, func(s int64) bool { return uint64(s) == start }) {
		return true
	}
	return !proc.SeesAll() || nested()[[2]int64{int64(pid), int64(start)}]
}

// posixInUse is the set of /dev/shm names that some process has mapped or
// open, from every process's /proc/PID/maps and /proc/PID/fd. A process
// this one may not look into counts as using nothing it cannot see; names
// it cannot see used are only reaped if their creator is dead as well.
func posixInUse() map[string]bool {
	inUse := make(map[string]bool)
	prefix := posix.Dir + "/"
	pids, _ := filepath.Glob("/proc/[0-9]*")
	for _, dir := range pids {
		if maps, err := os.ReadFile(dir + "/maps"); err == nil {
			for _, line := range strings.Split(string(maps), "\n") {
				if i := strings.Index(line, prefix); i >= 0 {
					name, _, _ := strings.Cut(line[i+len(prefix):], " ")
					inUse[name] = true
				}
			}
		}
		fds, _ := os.ReadDir(dir + "/fd")
		for _, fd := range fds {
			if target, err := os.Readlink(dir + "/fd/" + fd.Name()); err == nil && strings.HasPrefix(target, prefix) {
				name, _, _ := strings.Cut(target[len(prefix):], " ")
				inUse[name] = true
			}
		}
	}
	return inUse
}
