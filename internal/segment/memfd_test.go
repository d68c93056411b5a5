package segment

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/libshm/libshm/internal/errs"
)

// otherProcessEnv makes the test binary play another process that attaches
// a memfd by its key, reads it, writes to it, and tries to destroy it.
const otherProcessEnv = "LIBSHM_TEST_MEMFD_PEER"

func init() {
	if key := os.Getenv(otherProcessEnv); key != "" {
		os.Exit(memfdPeer(key))
	}
}

func memfdPeer(key string) int {
	m, err := Attach(key, AttachOptions{})
	if err != nil {
		fmt.Println("attach:", err)
		return 1
	}
	b := unsafe.Slice((*byte)(m.Addr), m.Size)
	fmt.Printf("read %q\n", b[:5])
	copy(b[5:], "+peer")
	err = Destroy(key)
	fmt.Println("destroy:", err)
	return 0
}

func TestMemfdLifecycle(t *testing.T) {
	made, err := Create("memfd:", 8192, CreateOptions{Mode: 0o600})
	if err != nil {
		t.Fatal(err)
	}
	key := made.Key
	want := fmt.Sprintf("memfd:pid=%d,fd=", os.Getpid())
	if !strings.HasPrefix(key, want) {
		t.Fatalf("Create(memfd:) gave %q, want %s...", key, want)
	}
	m := mustAttach(t, key, AttachOptions{})
	copy(bytesOf(m), "hello")

	info, err := Stat(key)
	if err != nil || info.Size != 8192 || info.Mode != 0o600 || info.CPID != int32(os.Getpid()) || info.Backend.String() != "memfd" {
		t.Fatalf("Stat(%q) = %+v, %v", key, info, err)
	}
	if _, ok := listed(t, key, -1); !ok {
		t.Fatalf("List does not show %s", key)
	}

	// Another process reaches it through /proc/PID/fd/FD, writes to the
	// same pages, and may not destroy what it does not hold.
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), otherProcessEnv+"="+key)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), `read "hello"`) ||
		!strings.Contains(string(out), fmt.Sprintf("only process %d, which holds it, can destroy it", os.Getpid())) {
		t.Fatalf("the other process: %v\n%s", err, out)
	}
	if got := string(bytesOf(m)[:10]); got != "hello+peer" {
		t.Fatalf("after the other process wrote: %q", got)
	}

	// Sealed: nobody can shrink it under a mapping (no SIGBUS trap).
	fd := int(m.m.key.FD)
	if err := unix.Ftruncate(fd, 0); !errors.Is(err, unix.EPERM) {
		t.Fatalf("ftruncate of a sealed memfd: %v, want EPERM", err)
	}

	// Destroy closes this process's hold; the mapping lives on, new
	// attaches find nothing.
	if err := Destroy(key); err != nil {
		t.Fatal(err)
	}
	if got := string(bytesOf(m)[:5]); got != "hello" {
		t.Fatalf("the mapping after destroy reads %q", got)
	}
	_, err = Attach(key, AttachOptions{})
	wantCode(t, err, errs.ErrNotExist, "holds no memfd with inode")
	// A new segment that gets the same descriptor is not reached by the
	// old key.
	again, err := Create("memfd:", 4096, CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer Destroy(again.Key)
	if strings.Contains(again.Key, fmt.Sprintf(",fd=%d,", fd)) {
		_, err = Attach(key, AttachOptions{})
		wantCode(t, err, errs.ErrNotExist, "holds no memfd with inode")
	}
	wantCode(t, Destroy(key), errs.ErrNotExist)
	if _, ok := listed(t, key, -1); ok {
		t.Fatalf("List still shows %s after destroy", key)
	}
}

func TestMemfdErrors(t *testing.T) {
	_, err := Create("memfd:pid=1,fd=3,ino=4", 1, CreateOptions{})
	wantCode(t, err, errs.ErrInvalid, "create one with memfd:")
	_, err = Create("memfd:", 1, CreateOptions{HugeTLB: true})
	wantCode(t, err, errs.ErrNotSupported, "huge pages")
	_, err = Attach("memfd:pid=1,fd=0,ino=1", AttachOptions{})
	if !errors.Is(err, errs.ErrInvalid) && !errors.Is(err, errs.ErrPermission) {
		t.Fatalf("init's stdin as a memfd: %v, want errs.ErrInvalid (not a memfd) or errs.ErrPermission", err)
	}
	_, err = Attach(fmt.Sprintf("memfd:pid=%d,fd=0,ino=1", os.Getpid()), AttachOptions{})
	wantCode(t, err, errs.ErrNotExist, "holds no memfd")
	_, err = Attach("memfd:pid=2147483646,fd=3,ino=1", AttachOptions{})
	wantCode(t, err, errs.ErrNotExist, "or has exited")
}

// TestMemfdOverASocket passes a memfd to another holder over a Unix socket
// (SCM_RIGHTS): the received key names the same pages, and the segment
// outlives the sender's destroy while the receiver holds it.
func TestMemfdOverASocket(t *testing.T) {
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(pair[0])
	defer unix.Close(pair[1])
	made, err := Create("memfd:", 4096, CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	m := mustAttach(t, made.Key, AttachOptions{})
	copy(bytesOf(m), "passed")
	if err := SendMemfd(pair[0], made.Key); err != nil {
		t.Fatal(err)
	}
	got, err := ReceiveMemfd(pair[1])
	if err != nil {
		t.Fatal(err)
	}
	if got == made.Key {
		t.Fatalf("the received descriptor has the sender's key %q", got)
	}
	if err := Destroy(made.Key); err != nil {
		t.Fatal(err)
	}
	r := mustAttach(t, got, AttachOptions{ReadOnly: true})
	if string(bytesOf(r)[:6]) != "passed" {
		t.Fatalf("the received memfd reads %q", bytesOf(r)[:6])
	}
	if err := Destroy(got); err != nil {
		t.Fatal(err)
	}
	wantCode(t, SendMemfd(pair[0], "posix:/x"), errs.ErrInvalid, "not a memfd segment this process holds")
	// A plain descriptor is refused on receipt.
	if err := unix.Sendmsg(pair[0], []byte{'m'}, unix.UnixRights(int(os.Stdin.Fd())), nil, 0); err != nil {
		t.Fatal(err)
	}
	_, err = ReceiveMemfd(pair[1])
	wantCode(t, err, errs.ErrInvalid, "not a memfd segment")
}
