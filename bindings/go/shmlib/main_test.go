package shmlib_test

import (
	"bufio"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestMain runs the package's tests between two snapshots of the machine's
// segments and fails the run if one that this process made is still there:
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
	leaked, err := leakedSince(before)
	if err != nil {
		fmt.Fprintln(os.Stderr, "leak check:", err)
		os.Exit(2)
	}
	if len(leaked) > 0 {
		fmt.Fprintln(os.Stderr, "FAIL: segments leaked by the tests of this package:")
		for _, s := range leaked {
			fmt.Fprintln(os.Stderr, "\t"+s)
		}
		code = 1
	}
	os.Exit(code)
}

// segmentsOnMachine names the segments this process may have made, read
// straight from the kernel rather than through the package under test.
//
// Other test suites may run on the machine at the same time, so only what
// can be ours counts: System V segments whose creator pid is this
// process's, and POSIX objects named "shmlib-..." (the library's generated
// names, and the prefix of every name the tests choose). A System V
// segment is identified by its shmid, so that one destroyed and made again
// under the same key still shows as new.
func segmentsOnMachine() (map[string]bool, error) {
	segs := make(map[string]bool)
	entries, err := os.ReadDir("/dev/shm")
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "shmlib-") {
			segs["posix:/"+e.Name()] = true
		}
	}
	f, err := os.Open("/proc/sysvipc/shm")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Scan() // the header
	me := strconv.Itoa(os.Getpid())
	for sc.Scan() {
		// key shmid perms size cpid lpid nattch ...
		fields := strings.Fields(sc.Text())
		if len(fields) > 6 && fields[4] == me {
			segs[fmt.Sprintf("sysv shmid %s (key %s, %s bytes, %s attached)", fields[1], fields[0], fields[3], fields[6])] = true
		}
	}
	return segs, sc.Err()
}

// leakedSince lists the segments that are new since before and stay.
// A POSIX object with a generated name may be another process's, made and
// about to be destroyed by a test suite running alongside: what goes away
// within a few seconds was not ours, for nothing else would destroy ours.
func leakedSince(before map[string]bool) ([]string, error) {
	var fresh []string
	for deadline := time.Now().Add(3 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		after, err := segmentsOnMachine()
		if err != nil {
			return nil, err
		}
		fresh = fresh[:0]
		for s := range after {
			if !before[s] {
				fresh = append(fresh, s)
			}
		}
		if len(fresh) == 0 || time.Now().After(deadline) {
			break
		}
	}
	sort.Strings(fresh)
	return fresh, nil
}
