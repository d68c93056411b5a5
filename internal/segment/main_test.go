package segment

import (
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"
)

// TestMain fails the package if any segment that was not there before the
// tests is there after them: every test must destroy what it made. On a
// /dev/shm shared with other programs (not under scripts/isolate.sh), only
// this process's segments count: the names it chose or the library chose
// for it carry its pid ("libshm-test-PID-...", "shmlib-PID-..."), and the
// kernel records the creator of a System V one.
func TestMain(m *testing.M) {
	before := snapshot()
	code := m.Run()
	if leaked := diff(before, snapshot()); len(leaked) > 0 {
		fmt.Fprintf(os.Stderr, "FAIL: the tests leaked segments: %s\n", strings.Join(leaked, " "))
		code = 1
	}
	os.Exit(code)
}

func snapshot() map[string]bool {
	infos, err := List()
	if err != nil {
		panic(err)
	}
	seen := make(map[string]bool, len(infos))
	isolated := os.Getenv("SHMLIB_TEST_ISOLATED") == "1"
	mark := fmt.Sprintf("-%d-", os.Getpid())
	for _, in := range infos {
		if isolated || in.CPID == int32(os.Getpid()) || strings.Contains(in.Key, mark) {
			seen[fmt.Sprintf("%s (shmid %d)", in.Key, in.ShmID)] = true
		}
	}
	return seen
}

func diff(before, after map[string]bool) []string {
	var leaked []string
	for k := range after {
		if !before[k] {
			leaked = append(leaked, k)
		}
	}
	sort.Strings(leaked)
	return leaked
}
