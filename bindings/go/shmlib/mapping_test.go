package shmlib_test

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"runtime/debug"
	"strings"
	"sync"
	"testing"

	"github.com/libshm/libshm/bindings/go/shmlib"
)

// The io interfaces that ReadAt and WriteAt promise.
var (
	_ io.ReaderAt = (*shmlib.Mapping)(nil)
	_ io.WriterAt = (*shmlib.Mapping)(nil)
)

func TestDetachedMapping(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			key := create(t, b.auto, 4096, nil)
			m := attach(t, key, nil)
			copy(mustBytes(t, m), "kept")
			if err := m.Detach(); err != nil {
				t.Fatal(err)
			}

			_, err := m.Bytes()
			wantErr(t, err, "bytes", shmlib.ErrNotAttached, nil)
			if want := "bytes " + key + ": the mapping has been detached"; err.Error() != want {
				t.Errorf("message %q, want %q", err, want)
			}
			wantErr(t, m.Detach(), "detach", shmlib.ErrNotAttached, nil)
			_, err = m.ReadAt(make([]byte, 1), 0)
			wantErr(t, err, "read", shmlib.ErrNotAttached, nil)
			_, err = m.WriteAt([]byte("x"), 0)
			wantErr(t, err, "write", shmlib.ErrNotAttached, nil)

			// What describes the mapping still answers.
			if m.Key() != key || m.Size() != 4096 || m.ReadOnly() {
				t.Errorf("detached mapping: key %q size %d read-only %v", m.Key(), m.Size(), m.ReadOnly())
			}
			// The segment and its contents live on.
			buf := make([]byte, 4)
			if _, err := attach(t, key, nil).ReadAt(buf, 0); err != nil || string(buf) != "kept" {
				t.Errorf("after detach, a new attach reads %q, %v; want %q", buf, err, "kept")
			}
		})
	}
}

func TestConcurrentDetachOnlyOneSucceeds(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			key := create(t, b.auto, 4096, nil)
			for range 20 {
				m := attach(t, key, nil)
				const n = 16
				errs := make(chan error, n)
				var start sync.WaitGroup
				start.Add(1)
				for range n {
					go func() {
						start.Wait()
						errs <- m.Detach()
					}()
				}
				start.Done()
				succeeded := 0
				for range n {
					err := <-errs
					switch {
					case err == nil:
						succeeded++
					case !errors.Is(err, shmlib.ErrNotAttached):
						t.Errorf("concurrent Detach: %v", err)
					}
				}
				if succeeded != 1 {
					t.Fatalf("%d of %d concurrent Detach calls succeeded, want 1", succeeded, n)
				}
			}
		})
	}
}

func TestReadAtWriteAt(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			key := create(t, b.auto, 10, nil)
			m := attach(t, key, nil)
			other := attach(t, key, nil)

			if n, err := m.WriteAt([]byte("0123456789"), 0); n != 10 || err != nil {
				t.Fatalf("WriteAt whole segment = %d, %v", n, err)
			}
			buf := make([]byte, 4)
			if n, err := other.ReadAt(buf, 3); n != 4 || err != nil || string(buf) != "3456" {
				t.Errorf("ReadAt(4 at 3) = %d, %v, %q; want 4, nil, 3456", n, err, buf)
			}
			// At the end: what there is, and io.EOF.
			if n, err := other.ReadAt(buf, 8); n != 2 || err != io.EOF || string(buf[:2]) != "89" {
				t.Errorf("ReadAt(4 at 8) = %d, %v, %q; want 2, EOF, 89", n, err, buf[:n])
			}
			for _, off := range []int64{10, 1 << 40} {
				if n, err := other.ReadAt(buf, off); n != 0 || err != io.EOF {
					t.Errorf("ReadAt(at %d) = %d, %v; want 0, EOF", off, n, err)
				}
			}
			if n, err := other.ReadAt(nil, 10); n != 0 || err != nil {
				t.Errorf("ReadAt(nothing at the end) = %d, %v; want 0, nil", n, err)
			}

			// A segment never grows: a long write writes what fits.
			n, err := m.WriteAt([]byte("abcd"), 8)
			wantErr(t, err, "write", shmlib.ErrRange, nil)
			if n != 2 || !errors.Is(err, io.ErrShortWrite) {
				t.Errorf("WriteAt(4 at 8) = %d, %v; want 2 and io.ErrShortWrite", n, err)
			}
			if got := string(mustBytes(t, other)); got != "01234567ab" {
				t.Errorf("segment holds %q after a short write, want 01234567ab", got)
			}

			_, err = m.ReadAt(buf, -1)
			wantErr(t, err, "read", shmlib.ErrInvalid, fs.ErrInvalid)
			_, err = m.WriteAt(buf, -1)
			wantErr(t, err, "write", shmlib.ErrInvalid, fs.ErrInvalid)
		})
	}
}

// truncate shrinks a POSIX segment behind the library's back, as a careless
// or hostile peer can: its pages past the new end fault (SIGBUS).
func truncate(t *testing.T, key string) {
	t.Helper()
	if err := os.Truncate("/dev/shm/"+strings.TrimPrefix(key, "posix:/"), 0); err != nil {
		t.Fatal(err)
	}
}

func TestReadAtWriteAtFaultOnTruncatedSegment(t *testing.T) {
	key := create(t, "", 2*4096, nil)
	m := attach(t, key, nil)
	truncate(t, key)

	debug.SetPanicOnFault(false)
	_, err := m.ReadAt(make([]byte, 16), 4096)
	wantErr(t, err, "read", shmlib.ErrFault, nil)
	_, err = m.WriteAt([]byte("lost"), 0)
	wantErr(t, err, "write", shmlib.ErrFault, nil)
	if debug.SetPanicOnFault(false) {
		t.Error("ReadAt/WriteAt left SetPanicOnFault on in the calling goroutine")
	}
	// The process survived, and the mapping still detaches.
	if err := m.Detach(); err != nil {
		t.Fatal(err)
	}
}

// TestBytesFaultGuard is the guard the documentation of Bytes shows, for
// code that touches the slice itself: a fault becomes a recoverable panic.
func TestBytesFaultGuard(t *testing.T) {
	for _, tc := range []struct {
		name  string
		touch func(t *testing.T) []byte
	}{
		{"write through a read-only mapping", func(t *testing.T) []byte {
			key := create(t, "sysv:", 4096, nil)
			return mustBytes(t, attach(t, key, &shmlib.AttachOptions{ReadOnly: true}))
		}},
		{"read of a truncated segment", func(t *testing.T) []byte {
			key := create(t, "", 4096, nil)
			b := mustBytes(t, attach(t, key, nil))
			truncate(t, key)
			return b
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.touch(t)
			faulted := func() (addr uintptr) {
				defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
				defer func() {
					if f, ok := recover().(interface{ Addr() uintptr }); ok {
						addr = f.Addr()
					}
				}()
				b[0]++ // reads, then writes
				return 0
			}()
			if faulted == 0 {
				t.Error("no fault recovered")
			}
		})
	}
}
