package segment

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/libshm/libshm/internal/errs"
	"github.com/libshm/libshm/internal/posix"
)

// plant makes something that is not a shared memory object under the
// test's own name in /dev/shm and removes it when the test ends. It returns
// the key and the word the library's messages should use for it.
func plant(t *testing.T, kind string) (key, word string) {
	t.Helper()
	key = uniquePosix(t)
	path := posix.Path(strings.TrimPrefix(key, "posix:/"))
	var err error
	switch kind {
	case "fifo":
		err, word = unix.Mkfifo(path, 0o666), "FIFO"
	case "dir":
		err, word = os.Mkdir(path, 0o755), "directory"
	case "symlink":
		err, word = os.Symlink("/dev/null", path), "symbolic link"
	case "device":
		// /dev/null's numbers: opening it does nothing anywhere.
		err, word = unix.Mknod(path, unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))), "device"
		if err == unix.EPERM {
			t.Skip("mknod of a device node needs CAP_MKNOD (CI runs as root)")
		}
	case "socket":
		var l net.Listener
		l, err = net.Listen("unix", path)
		if err == nil {
			t.Cleanup(func() { l.Close() })
		}
		word = "socket"
	}
	if err != nil {
		t.Fatalf("planting a %s at %s: %v", kind, path, err)
	}
	t.Cleanup(func() { os.Remove(path) })
	return key, word
}

// returns runs f and fails the test if it does not return within 5 s.
// unblock is called then, so that the stuck call ends with the test.
func returns(t *testing.T, what string, f func() error, unblock func()) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err
	case <-time.After(5 * time.Second):
		unblock()
		<-done
		t.Fatalf("%s blocked for 5 s", what)
		return nil
	}
}

// TestSpecialFilesInDevShm: /dev/shm is world-writable, so anyone can plant
// a FIFO, a socket, a directory, a symlink (or, as root, a device node)
// under a name someone will use. Every call refuses it with a message that
// says what it is, never blocks on it, and never removes it.
func TestSpecialFilesInDevShm(t *testing.T) {
	for _, kind := range []string{"fifo", "socket", "dir", "symlink", "device"} {
		t.Run(kind, func(t *testing.T) {
			key, word := plant(t, kind)
			path := posix.Path(strings.TrimPrefix(key, "posix:/"))
			// A reader stuck in open(2) of a FIFO is let go by a writer.
			unblock := func() {
				if fd, err := unix.Open(path, unix.O_WRONLY|unix.O_NONBLOCK, 0); err == nil {
					unix.Close(fd)
				}
			}
			calls := []struct {
				name string
				f    func() error
			}{
				{"read-only attach", func() error { _, err := Attach(key, AttachOptions{ReadOnly: true}); return err }},
				{"attach", func() error { _, err := Attach(key, AttachOptions{}); return err }},
				{"stat", func() error { _, err := Stat(key); return err }},
				{"create with OpenExisting", func() error {
					_, err := Create(key, 1, CreateOptions{OpenExisting: true})
					return err
				}},
				{"destroy", func() error { return Destroy(key) }},
			}
			for _, c := range calls {
				err := returns(t, c.name+" of a "+kind, c.f, unblock)
				if err == nil {
					t.Fatalf("%s of a %s succeeded", c.name, kind)
				}
				if msg := err.Error(); !strings.Contains(msg, word) {
					t.Errorf("%s of a %s: message %q does not say it is a %s", c.name, kind, msg, word)
				}
				if _, err := os.Lstat(path); err != nil {
					t.Fatalf("after %s, the planted %s is gone: %v", c.name, kind, err)
				}
			}
			if _, ok := listed(t, key, -1); ok {
				t.Errorf("List shows the planted %s as a segment", kind)
			}
		})
	}
}

// TestMemfdKeyToAFIFO: a memfd key names another process's descriptor,
// which may be a FIFO that nobody writes to; a read-only attach must not
// block opening it through /proc.
func TestMemfdKeyToAFIFO(t *testing.T) {
	path := t.TempDir() + "/fifo"
	if err := unix.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := os.OpenFile(path, os.O_RDONLY|unix.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	child := exec.Command("sleep", "60")
	child.Stdin = r
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	defer child.Wait()
	defer child.Process.Kill()
	r.Close() // the child's stdin is now a FIFO with no writer
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	key := fmt.Sprintf("memfd:pid=%d,fd=0,ino=%d", child.Process.Pid, st.Ino)
	err = returns(t, "read-only attach of a FIFO held as a memfd key", func() error {
		_, err := Attach(key, AttachOptions{ReadOnly: true})
		return err
	}, func() {
		if fd, err := unix.Open(path, unix.O_WRONLY|unix.O_NONBLOCK, 0); err == nil {
			unix.Close(fd)
		}
	})
	wantCode(t, err, errs.ErrInvalid, "not a memfd segment")
}
