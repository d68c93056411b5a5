package tests

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// segments is what the machine holds: the names in /dev/shm and the
// System V segments of /proc/sysvipc/shm (the table `ipcs -m` prints).
type segments struct {
	posix map[string]bool
	sysv  map[int]sysvSegment // by shmid
}

type sysvSegment struct {
	key    uint32
	cpid   int
	nattch int
}

func snapshot() (segments, error) {
	s := segments{posix: map[string]bool{}, sysv: map[int]sysvSegment{}}
	names, err := os.ReadDir("/dev/shm")
	if err != nil {
		return s, err
	}
	for _, n := range names {
		s.posix[n.Name()] = true
	}
	s.sysv, err = sysvSegments()
	return s, err
}

// sysvSegments parses /proc/sysvipc/shm:
//
//	key shmid perms size cpid lpid nattch uid gid ...
//
// The key is printed as a signed decimal.
func sysvSegments() (map[int]sysvSegment, error) {
	text, err := os.ReadFile("/proc/sysvipc/shm")
	if err != nil {
		return nil, err
	}
	segs := map[int]sysvSegment{}
	lines := strings.Split(strings.TrimSpace(string(text)), "\n")
	for _, line := range lines[1:] {
		f := strings.Fields(line)
		if len(f) < 7 {
			return nil, fmt.Errorf("/proc/sysvipc/shm: unexpected line %q", line)
		}
		key, err1 := strconv.ParseInt(f[0], 10, 64)
		id, err2 := strconv.Atoi(f[1])
		cpid, err3 := strconv.Atoi(f[4])
		nattch, err4 := strconv.Atoi(f[6])
		if err1 != nil || err2 != nil || err3 != nil || err4 != nil {
			return nil, fmt.Errorf("/proc/sysvipc/shm: unexpected line %q", line)
		}
		segs[id] = sysvSegment{key: uint32(key), cpid: cpid, nattch: nattch}
	}
	return segs, nil
}

// leaks lists the segments that appeared during the run and are ours, by
// key: a POSIX name with this run's prefix, a System V segment with a key
// this run chose or made by a process it started. Other engineers' tests
// may run on the same machine at the same time; what they make is theirs
// to clean, and only noted.
func leaks(before, after segments) []string {
	var left []string
	for name := range after.posix {
		switch {
		case before.posix[name]:
		case strings.HasPrefix(name, posixPrefix):
			left = append(left, "posix:/"+name)
		default:
			fmt.Fprintf(os.Stderr, "tests: note: /dev/shm/%s appeared during the run, not made by it\n", name)
		}
	}
	for id, seg := range after.sysv {
		old, existed := before.sysv[id]
		switch {
		case existed && old.key == seg.key && old.cpid == seg.cpid:
		case registry.ours(seg):
			left = append(left, fmt.Sprintf("sysv:id=%d", id))
		default:
			fmt.Fprintf(os.Stderr, "tests: note: System V shmid %d appeared during the run, not made by it\n", id)
		}
	}
	return left
}
