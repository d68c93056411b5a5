package tests

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

// What the kernel shows of a segment, independently of libshm: the tests
// check the library's claims against it.

// posixPath is the file of a POSIX key, e.g. /dev/shm/NAME.
func posixPath(key string) string { return "/dev/shm/" + strings.TrimPrefix(key, "posix:/") }

// sysvID is the shmid of the System V segment with IPC key k
// ("sysv:key=0x..."), from /proc/sysvipc/shm.
func sysvID(t *testing.T, key string) int {
	t.Helper()
	var k uint32
	if _, err := fmt.Sscanf(key, "sysv:key=0x%x", &k); err != nil {
		t.Fatalf("%s: not a System V key by IPC key: %v", key, err)
	}
	segs, err := sysvSegments()
	if err != nil {
		t.Fatal(err)
	}
	for id, seg := range segs {
		if seg.key == k {
			return id
		}
	}
	t.Fatalf("%s: not in /proc/sysvipc/shm", key)
	return -1
}

// mapped tells whether process pid has path mapped, by /proc/PID/maps
// (a file removed while mapped shows as "PATH (deleted)").
func mapped(t *testing.T, pid int, path string) bool {
	t.Helper()
	maps, err := os.ReadFile(fmt.Sprintf("/proc/%d/maps", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(maps), "\n") {
		if strings.HasSuffix(line, " "+path) || strings.HasSuffix(line, " "+path+" (deleted)") {
			return true
		}
	}
	return false
}
