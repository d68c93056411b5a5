package shmlib_test

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/libshm/libshm/bindings/go/shmlib"
)

// backends are the create-only keys that make one segment of each kind.
var backends = []struct {
	name string
	auto string
}{
	{"posix", "posix:"},
	{"sysv", "sysv:"},
}

var nameSeq atomic.Int64

// uniqueName is a POSIX key no other test, nor another run of this package,
// uses: the pid and a counter, after ourPrefix for the leak check.
func uniqueName() string {
	return fmt.Sprintf("/%s%d", ourPrefix, nameSeq.Add(1))
}

// create makes a segment that the test destroys when it ends.
func create(t testing.TB, key string, size uint64, opt *shmlib.CreateOptions) string {
	t.Helper()
	c, err := shmlib.Create(key, size, opt)
	if err != nil {
		t.Fatalf("Create(%q, %d): %v", key, size, err)
	}
	destroyAtEnd(t, c.Key)
	return c.Key
}

// destroyAtEnd destroys key when the test ends, unless the test did, and
// shows the leak check that the segment is the tests'.
func destroyAtEnd(t testing.TB, key string) {
	record(key)
	t.Cleanup(func() {
		if err := shmlib.Destroy(key); err != nil && !errors.Is(err, shmlib.ErrNotExist) {
			t.Errorf("cleanup: %v", err)
		}
	})
}

// attach maps key for the rest of the test, unless the test detaches it.
func attach(t testing.TB, key string, opt *shmlib.AttachOptions) *shmlib.Mapping {
	t.Helper()
	m, err := shmlib.Attach(key, opt)
	if err != nil {
		t.Fatalf("Attach(%q): %v", key, err)
	}
	t.Cleanup(func() {
		if err := m.Detach(); err != nil && !errors.Is(err, shmlib.ErrNotAttached) {
			t.Errorf("cleanup: %v", err)
		}
	})
	return m
}

func mustBytes(t testing.TB, m *shmlib.Mapping) []byte {
	t.Helper()
	b, err := m.Bytes()
	if err != nil {
		t.Fatalf("Bytes: %v", err)
	}
	return b
}

// addr is where a mapping's memory starts.
func addr(t testing.TB, m *shmlib.Mapping) uintptr {
	return uintptr(unsafe.Pointer(&mustBytes(t, m)[0]))
}

// wantErr checks that err is an *shmlib.Error of the code want, for op,
// that also matches the io/fs sentinel fsErr (when not nil).
func wantErr(t testing.TB, err error, op string, want shmlib.Code, fsErr error) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %v", want)
	}
	var e *shmlib.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not an *shmlib.Error", err, err)
	}
	if e.Op != op || e.Code != want || e.Msg == "" {
		t.Errorf("error %q: Op %q Code %v, want Op %q Code %v", err, e.Op, e.Code, op, want)
	}
	if !errors.Is(err, want) {
		t.Errorf("errors.Is(%q, %v) is false", err, want)
	}
	if fsErr != nil && !errors.Is(err, fsErr) {
		t.Errorf("errors.Is(%q, %v) is false", err, fsErr)
	}
}

// wantErrno checks that err also matches the kernel's errno.
func wantErrno(t testing.TB, err error, errno unix.Errno) {
	t.Helper()
	if !errors.Is(err, errno) {
		t.Errorf("errors.Is(%q, %v) is false", err, errno)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

// record tells the leak check that the tests made key: by its canonical
// form, which is how the check names what it finds.
func record(key string) {
	if strings.HasPrefix(key, "/") {
		key = "posix:" + key
	}
	made.Store(key, true)
}
