package peer

import (
	"errors"
	"os"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/libshm/libshm/tests/internal/shmso"
)

// Purego adapts the purego binding of build/libshm.so to Lib.
func Purego(lib *shmso.Lib) Lib { return purego{lib} }

type purego struct{ lib *shmso.Lib }

func (p purego) Create(key string, size uint64) (string, error) {
	made, _, err := p.lib.Create(key, size, 0o600, 0)
	return made, err
}

func (p purego) Attach(key string, readOnly bool) (Mapping, error) {
	var flags uint32
	if readOnly {
		flags = shmso.Rdonly
	}
	addr, size, err := p.lib.Attach(key, flags)
	if err != nil {
		return nil, err
	}
	return puregoMapping{p.lib, addr, size}, nil
}

func (p purego) Destroy(key string) error { return p.lib.Destroy(key) }

func (p purego) Stat(key string) (Stat, error) {
	st, err := p.lib.Stat(key)
	return Stat{Size: st.Size, Nattach: st.Nattach, Backend: backendName(st.Backend)}, err
}

func (p purego) Listed(key string) (bool, error) {
	all, err := p.lib.List()
	for i := range all {
		if all[i].KeyString() == key {
			return true, nil
		}
	}
	return false, err
}

func (p purego) Ftok(path string, projID int) (string, error) { return p.lib.Ftok(path, projID) }
func (p purego) Strerror(code int) string                     { return p.lib.Strerror(code) }
func (p purego) Version() string                              { return p.lib.VersionString() }

func (p purego) MemfdSend(sock int, key string) error { return p.lib.MemfdSend(sock, key) }
func (p purego) MemfdRecv(sock int) (string, error)   { return p.lib.MemfdRecv(sock) }

func backendName(b uint32) string {
	switch b {
	case shmso.BackendPosix:
		return "posix"
	case shmso.BackendSysv:
		return "sysv"
	case shmso.BackendMemfd:
		return "memfd"
	}
	return "unknown"
}

// puregoMapping is memory the library mapped: not Go memory, so an
// unsafe.Pointer to it is safe to keep and to slice.
type puregoMapping struct {
	lib  *shmso.Lib
	addr unsafe.Pointer
	size uint64
}

func (m puregoMapping) Bytes() []byte { return unsafe.Slice((*byte)(m.addr), m.size) }
func (m puregoMapping) Detach() error { return m.lib.Detach(m.addr) }

func (p purego) ChanCreate(key string, capacity uint64) (string, error) {
	return p.lib.ChanCreate(key, capacity, 0o600, 0)
}

func (p purego) ChanOpen(key string, producer bool) (Channel, error) {
	end := shmso.ChanConsumer
	if producer {
		end = shmso.ChanProducer
	}
	return p.open(key, end)
}

func (p purego) open(key string, end int) (Channel, error) {
	ch, err := p.lib.ChanOpen(key, end)
	if err != nil {
		return nil, err
	}
	return puregoChannel{ch}, nil
}

// puregoChannel passes timeouts in nanoseconds, negative ones as
// SHMLIB_WAIT_FOREVER.
type puregoChannel struct{ *shmso.Chan }

func nanoseconds(d time.Duration) int64 {
	if d < 0 {
		return shmso.WaitForever
	}
	return int64(d)
}

func (c puregoChannel) Send(msg []byte, timeout time.Duration) error {
	return c.Chan.Send(msg, nanoseconds(timeout))
}

func (c puregoChannel) Reserve(n int, timeout time.Duration) ([]byte, error) {
	return c.Chan.Reserve(n, nanoseconds(timeout))
}

func (c puregoChannel) Recv(buf []byte, timeout time.Duration) (int, error) {
	return c.Chan.Recv(buf, nanoseconds(timeout))
}

func (c puregoChannel) Peek(timeout time.Duration) ([]byte, error) {
	return c.Chan.Peek(nanoseconds(timeout))
}

func (p purego) BcastCreate(key string, capacity uint64, slots uint32, overwrite bool) (string, error) {
	flags := uint32(0)
	if overwrite {
		flags = shmso.BcastOverwrite
	}
	return p.lib.BcastCreate(key, capacity, slots, 0o600, flags)
}

func (p purego) BcastOpen(key string, producer bool) (Channel, error) {
	end := shmso.ChanSubscriber
	if producer {
		end = shmso.ChanProducer
	}
	return p.open(key, end)
}

// Poll arms the end and waits for its descriptor through the Go runtime's
// poller: an *os.File over a non-blocking descriptor parks the goroutine
// in the netpoller, not a thread in read(). The descriptor is the end's:
// the File is dup'ed from it, so closing the File leaves the end's alone.
func (c puregoChannel) Poll(timeout time.Duration) (bool, error) {
	fd, err := c.Chan.Fd()
	if err != nil {
		return false, err
	}
	dup, err := unix.Dup(fd)
	if err != nil {
		return false, err
	}
	unix.SetNonblock(dup, true)
	f := os.NewFile(uintptr(dup), "chan")
	defer f.Close()
	if err := c.Chan.Arm(); err != nil {
		return false, err
	}
	f.SetReadDeadline(time.Now().Add(timeout))
	var b [8]byte
	_, err = f.Read(b[:])
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return false, nil
	}
	return err == nil, err
}
