package channel

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/libshm/libshm/internal/errs"
	"github.com/libshm/libshm/internal/segment"
)

// TestMain lets the test binary play a child process (see child_test.go),
// and fails the package if a test leaked a segment: any new one under
// scripts/isolate.sh, else only this process's (its pid is in the names it
// makes, and System V keeps its creator), since other programs may share
// /dev/shm.
func TestMain(m *testing.M) {
	if role := os.Getenv(roleEnv); role != "" {
		os.Exit(playRole(role, os.Args[len(os.Args)-1]))
	}
	before := keysNow()
	code := m.Run()
	for k := range keysNow() {
		if !before[k] {
			fmt.Fprintf(os.Stderr, "FAIL: leaked segment %s\n", k)
			code = 1
		}
	}
	os.Exit(code)
}

func keysNow() map[string]bool {
	infos, err := segment.List()
	if err != nil {
		panic(err)
	}
	isolated := os.Getenv("SHMLIB_TEST_ISOLATED") == "1"
	mark := fmt.Sprintf("-%d-", os.Getpid())
	m := map[string]bool{}
	for _, in := range infos {
		if isolated || in.CPID == int32(os.Getpid()) || strings.Contains(in.Key, mark) {
			m[in.Key] = true
		}
	}
	return m
}

// newChannel creates a channel the test destroys when it ends.
func newChannel(t *testing.T, backend string, capacity uint64) string {
	t.Helper()
	key, err := Create(backend, capacity, segment.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { segment.Destroy(key) })
	return key
}

// open opens an end the test closes when it ends, unless it closed it.
func open(t *testing.T, key string, end End) *Chan {
	t.Helper()
	c, err := Open(key, end)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func wantCode(t *testing.T, err error, code errs.Code, fragment string) {
	t.Helper()
	if errs.CodeOf(err) != code || err == nil {
		t.Fatalf("got %v, want code %d (%v)", err, code, code)
	}
	if !strings.Contains(err.Error(), fragment) {
		t.Fatalf("message %q does not mention %q", err, fragment)
	}
}

// pattern is the content of message i: its length and bytes depend on i.
func pattern(i int, max uint64) []byte {
	n := (i * 7919) % int(max+1)
	b := make([]byte, n)
	for j := range b {
		b[j] = byte(i + j*31)
	}
	return b
}

const second = time.Second
