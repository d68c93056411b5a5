package shmlib_test

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"syscall"
	"testing"

	"github.com/libshm/libshm/bindings/go/shmlib"
)

// Some tests need a process of their own: one that is meant to crash, or
// one that runs as another user. They re-execute the test binary with
// roleEnv set; TestMain then plays the role instead of running tests.
const (
	roleEnv = "SHMLIB_GOTEST_ROLE"
	keyEnv  = "SHMLIB_GOTEST_KEY"
)

// nobody is the uid and gid a root test run drops to in a child, to meet
// permission checks that root bypasses.
const nobody = 65534

func playRole(role string) int {
	key := os.Getenv(keyEnv)
	switch role {
	case "write-readonly":
		return writeReadOnly(key)
	case "foreign-user":
		return foreignUser(key)
	}
	fmt.Fprintf(os.Stderr, "unknown role %q\n", role)
	return 2
}

// runRole runs the test binary as a child in role, on the segment key, and
// returns its stderr and its exit error (nil if it exited 0).
func runRole(t *testing.T, role, key string) (string, error) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	// The race detector sleeps a second at exit unless told not to.
	cmd.Env = append(os.Environ(), roleEnv+"="+role, keyEnv+"="+key,
		"GORACE="+os.Getenv("GORACE")+" atexit_sleep_ms=0")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	return stderr.String(), err
}

// writeReadOnly writes through Bytes of a read-only mapping, unguarded, as
// careless code would. It must not come back.
func writeReadOnly(key string) int {
	m, err := shmlib.Attach(key, &shmlib.AttachOptions{ReadOnly: true})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	b, err := m.Bytes()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	b[0] = 1
	fmt.Fprintln(os.Stderr, "the write through a read-only mapping did not fault")
	return 3
}

// foreignUser checks what a user other than the owner may do with a
// segment of mode 0444: read it, but neither write nor destroy it.
// Run as root, it first becomes nobody, to whom the mode applies.
func foreignUser(key string) int {
	dropped := os.Getuid() == 0
	if dropped {
		if err := syscall.Setgid(nobody); err != nil {
			fmt.Fprintln(os.Stderr, "setgid:", err)
			return 2
		}
		if err := syscall.Setuid(nobody); err != nil {
			fmt.Fprintln(os.Stderr, "setuid:", err)
			return 2
		}
	}
	var failed []string
	check := func(what string, ok bool) {
		if !ok {
			failed = append(failed, what)
		}
	}
	isPermission := func(err error) bool {
		var e *shmlib.Error
		return errors.As(err, &e) && errors.Is(err, shmlib.ErrPermission) && errors.Is(err, fs.ErrPermission)
	}

	_, err := shmlib.Attach(key, nil)
	check(fmt.Sprintf("read-write attach: want ErrPermission, got %v", err), isPermission(err))

	m, err := shmlib.Attach(key, &shmlib.AttachOptions{ReadOnly: true})
	check(fmt.Sprintf("read-only attach: want success, got %v", err), err == nil)
	if err == nil {
		buf := make([]byte, 5)
		_, err := m.ReadAt(buf, 0)
		check(fmt.Sprintf("read: want what the owner wrote, got %q, %v", buf, err), err == nil && (!dropped || string(buf) == "owner"))
		err = m.Detach()
		check(fmt.Sprintf("detach: %v", err), err == nil)
	}

	info, err := shmlib.Stat(key)
	check(fmt.Sprintf("stat: want mode 0444, got %v, %v", info.Mode, err), err == nil && info.Mode == 0o444)

	if dropped {
		err = shmlib.Destroy(key)
		check(fmt.Sprintf("destroy by another user: want ErrPermission, got %v", err), isPermission(err))
	}
	for _, f := range failed {
		fmt.Fprintln(os.Stderr, f)
	}
	if len(failed) > 0 {
		return 1
	}
	return 0
}
