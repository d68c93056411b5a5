package segment

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"unsafe"

	"github.com/libshm/libshm/internal/errs"
)

// backends are the automatic create keys of each backend; most tests run
// once per backend.
var backends = []string{"posix:", "sysv:"}

// uniquePosix is a POSIX key no other test or process uses.
func uniquePosix(t *testing.T) string {
	return fmt.Sprintf("posix:/libshm-test-%d-%s", os.Getpid(), sanitize(t.Name()))
}

func sanitize(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c == '/' {
			b[i] = '_'
		}
	}
	return string(b)
}

// mustCreate creates a segment that the test destroys when it ends.
func mustCreate(t *testing.T, key string, size uint64, opt CreateOptions) string {
	t.Helper()
	c, err := Create(key, size, opt)
	if err != nil {
		t.Fatalf("Create(%q, %d): %v", key, size, err)
	}
	t.Cleanup(func() {
		if err := Destroy(c.Key); err != nil && !errors.Is(err, errs.ErrNotExist) {
			t.Errorf("cleanup: Destroy(%q): %v", c.Key, err)
		}
	})
	return c.Key
}

// mustAttach attaches a segment that the test detaches when it ends, unless
// the test detached it itself.
func mustAttach(t *testing.T, key string, opt AttachOptions) Mapping {
	t.Helper()
	m, err := Attach(key, opt)
	if err != nil {
		t.Fatalf("Attach(%q): %v", key, err)
	}
	t.Cleanup(func() {
		if err := Detach(m.Addr); err != nil && !errors.Is(err, errs.ErrNotAttached) {
			t.Errorf("cleanup: Detach(%q): %v", key, err)
		}
	})
	return m
}

func bytesOf(m Mapping) []byte { return unsafe.Slice((*byte)(m.Addr), m.Size) }

// wantCode fails the test unless err is an *errs.Error with the given code whose
// message mentions every one of the given fragments.
func wantCode(t *testing.T, err error, code errs.Code, fragments ...string) {
	t.Helper()
	var e *errs.Error
	if !errors.As(err, &e) {
		t.Fatalf("got error %v (%T), want an *errs.Error with code %d (%v)", err, err, code, code)
	}
	if e.Code != code || !errors.Is(err, code) {
		t.Fatalf("got %q with code %d (%v), want code %d (%v)", err, e.Code, e.Code, code, code)
	}
	for _, f := range fragments {
		if !strings.Contains(err.Error(), f) {
			t.Errorf("message %q does not mention %q", err, f)
		}
	}
}
