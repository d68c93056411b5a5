package shmlib_test

import (
	"errors"
	"net"
	"os"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/libshm/libshm/bindings/go/shmlib"
)

// unixPair is a connected pair of Unix stream sockets.
func unixPair(t *testing.T) (*net.UnixConn, *net.UnixConn) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	conns := make([]*net.UnixConn, 2)
	for i, fd := range fds {
		f := os.NewFile(uintptr(fd), "socketpair")
		c, err := net.FileConn(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		conns[i] = c.(*net.UnixConn)
		t.Cleanup(func() { c.Close() })
	}
	return conns[0], conns[1]
}

func TestMemfdPassedOverASocket(t *testing.T) {
	made, err := shmlib.Create("memfd:", 4096, nil)
	if err != nil {
		t.Fatal(err)
	}
	destroyAtEnd(t, made.Key)
	info, err := shmlib.Stat(made.Key)
	if err != nil || info.Backend != shmlib.Memfd || info.CPID != os.Getpid() {
		t.Fatalf("Stat(%q) = %+v, %v", made.Key, info, err)
	}
	m := attach(t, made.Key, nil)
	copy(mustBytes(t, m), "over the socket")

	a, b := unixPair(t)
	if err := shmlib.SendMemfd(a, made.Key); err != nil {
		t.Fatal(err)
	}
	got, err := shmlib.ReceiveMemfd(b)
	if err != nil {
		t.Fatal(err)
	}
	destroyAtEnd(t, got)
	if err := shmlib.Destroy(made.Key); err != nil {
		t.Fatal(err)
	}
	r := attach(t, got, &shmlib.AttachOptions{ReadOnly: true})
	if s := string(mustBytes(t, r)[:15]); s != "over the socket" {
		t.Fatalf("the received memfd reads %q", s)
	}
	if err := shmlib.SendMemfd(a, "posix:/x"); !errors.Is(err, shmlib.ErrInvalid) {
		t.Fatalf("sending a POSIX key: %v, want ErrInvalid", err)
	}
}
