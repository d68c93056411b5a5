package segment

import (
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"
)

// TestMain fails the package if any segment that was not there before the
// tests is there after them: every test must destroy what it made.
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
	for _, in := range infos {
		seen[fmt.Sprintf("%s (shmid %d)", in.Key, in.ShmID)] = true
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
