package segment

import (
	"strings"
	"testing"
	"unsafe"

	"github.com/libshm/libshm/internal/errs"
)

// oneLine fails the test unless msg is a single line of printable text.
func oneLine(t *testing.T, msg string) {
	t.Helper()
	for _, c := range []byte(msg) {
		if c < 0x20 || c == 0x7f {
			t.Fatalf("message %q holds control byte %#x", msg, c)
		}
	}
}

// TestControlBytesInNames: a POSIX name may hold \n, \r, an escape or
// invalid UTF-8. Such segments work, and every message about them stays
// one line, quoting the name.
func TestControlBytesInNames(t *testing.T) {
	for _, bad := range []string{"\n", "\r", "\x1b[2J", "\xff", "\u2028"} {
		key := uniquePosix(t) + "-" + bad + "-x"
		quoted := `"` + uniquePosix(t) // the key opens the quoted text
		if _, err := Attach(key, AttachOptions{}); err == nil {
			t.Fatal("attach of a name never made succeeded")
		} else {
			oneLine(t, err.Error())
			if !strings.Contains(err.Error(), quoted) {
				t.Errorf("message %q does not quote the key", err)
			}
		}
		made := mustCreate(t, key, 4096, CreateOptions{})
		if made != key {
			t.Fatalf("created %q, want the key %q itself", made, key)
		}
		_, err := Create(key, 4096, CreateOptions{})
		wantCode(t, err, errs.ErrExist, quoted)
		oneLine(t, err.Error())
		m := mustAttach(t, key, AttachOptions{})
		if m.Key != key {
			t.Fatalf("attach gave key %q, want %q", m.Key, key)
		}
		err = Detach(unsafe.Add(m.Addr, 1))
		wantCode(t, err, errs.ErrNotAttached, quoted)
		oneLine(t, err.Error())
		if info, err := Stat(key); err != nil || info.Key != key {
			t.Fatalf("Stat(%q) = %q, %v", key, info.Key, err)
		}
		if err := Destroy(key); err != nil {
			t.Fatal(err)
		}
		err = Destroy(key)
		wantCode(t, err, errs.ErrNotExist, quoted)
		oneLine(t, err.Error())
	}
}
