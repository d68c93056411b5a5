package shmlib_test

import (
	"bufio"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// TestMain runs the package's tests between two snapshots of the machine's
// segments and fails the run if a segment the tests made is still there:
// every test and example must destroy what it creates. When the test binary
// is re-executed as a child (see roles_test.go), it plays its role instead.
func TestMain(m *testing.M) {
	if role := os.Getenv(roleEnv); role != "" {
		os.Exit(playRole(role))
	}
	before, err := segmentsOnMachine()
	if err != nil {
		fmt.Fprintln(os.Stderr, "leak check:", err)
		os.Exit(2)
	}
	code := m.Run()
	after, err := segmentsOnMachine()
	if err != nil {
		fmt.Fprintln(os.Stderr, "leak check:", err)
		os.Exit(2)
	}
	ours, others := newSince(before, after)
	for _, s := range others {
		fmt.Fprintf(os.Stderr, "leak check: note: %s appeared during the run, not made by it\n", s)
	}
	if len(ours) > 0 {
		fmt.Fprintln(os.Stderr, "FAIL: segments leaked by the tests of this package:")
		for _, s := range ours {
			fmt.Fprintln(os.Stderr, "\t"+s)
		}
		code = 1
	}
	os.Exit(code)
}

// made holds the canonical keys of the segments the tests made (see
// destroyAtEnd), so that the leak check can tell them from the segments of
// other test suites and benchmarks that may run on the machine meanwhile:
// both make "shmlib-..." names, the library's generated ones.
var made sync.Map

// ourPrefix starts every POSIX name the tests choose (see uniqueName); a
// create that fails must not leave one behind, and such a name was never
// recorded in made.
var ourPrefix = fmt.Sprintf("shmlib-gotest-%d-", os.Getpid())

// A segment as the kernel lists it, read straight from /dev/shm and
// /proc/sysvipc/shm rather than through the package under test.
type listed struct {
	name string // how the report names it
	ours bool   // made by this process or by the tests' own peers
}

// segmentsOnMachine lists every segment, by an identity that a segment
// destroyed and made again does not keep: its name for POSIX, its shmid
// for System V.
func segmentsOnMachine() (map[string]listed, error) {
	segs := make(map[string]listed)
	entries, err := os.ReadDir("/dev/shm")
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		key := "posix:/" + e.Name()
		_, recorded := made.Load(key)
		segs[key] = listed{key, recorded || strings.HasPrefix(e.Name(), ourPrefix)}
	}
	f, err := os.Open("/proc/sysvipc/shm")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Scan() // the header
	for sc.Scan() {
		// key shmid perms size cpid lpid nattch ...; the key in signed decimal
		f := strings.Fields(sc.Text())
		if len(f) < 7 {
			return nil, fmt.Errorf("/proc/sysvipc/shm: unexpected line %q", sc.Text())
		}
		ipcKey, _ := strconv.ParseInt(f[0], 10, 64)
		byKey := fmt.Sprintf("sysv:key=0x%08x", uint32(ipcKey))
		byID := "sysv:id=" + f[1]
		_, recordedByKey := made.Load(byKey)
		_, recordedByID := made.Load(byID)
		segs[byID] = listed{
			name: fmt.Sprintf("%s (%s, %s bytes, creator pid %s, %s attached)", byID, byKey, f[3], f[4], f[6]),
			ours: f[4] == strconv.Itoa(os.Getpid()) || recordedByKey || recordedByID,
		}
	}
	return segs, sc.Err()
}

// newSince splits the segments that appeared since before into the tests'
// and other processes'.
func newSince(before, after map[string]listed) (ours, others []string) {
	for id, s := range after {
		switch {
		case before[id] != (listed{}):
		case s.ours:
			ours = append(ours, s.name)
		default:
			others = append(others, s.name)
		}
	}
	sort.Strings(ours)
	sort.Strings(others)
	return ours, others
}
