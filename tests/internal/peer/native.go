package peer

import (
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/libshm/libshm/bindings/go/shmlib"
	"github.com/libshm/libshm/tests/internal/shmso"
)

// Native adapts the pure-Go package bindings/go/shmlib to Lib: a Go peer
// with no libshm.so in it, on the same kernel segments. Its errors are
// turned into the *shmso.Error the protocol prints, code and message
// unchanged.
func Native() Lib { return native{} }

type native struct{}

func (native) Create(key string, size uint64) (string, error) {
	made, err := shmlib.Create(key, size, nil)
	return made.Key, coded(err)
}

func (native) Attach(key string, readOnly bool) (Mapping, error) {
	m, err := shmlib.Attach(key, &shmlib.AttachOptions{ReadOnly: readOnly})
	if err != nil {
		return nil, coded(err)
	}
	mem, err := m.Bytes()
	if err != nil {
		return nil, coded(err)
	}
	return nativeMapping{m, mem}, nil
}

func (native) Destroy(key string) error { return coded(shmlib.Destroy(key)) }

func (native) Stat(key string) (Stat, error) {
	info, err := shmlib.Stat(key)
	return Stat{Size: info.Size, Nattach: info.Nattach, Backend: string(info.Backend)}, coded(err)
}

func (native) Listed(key string) (bool, error) {
	all, err := shmlib.List()
	for _, info := range all {
		if info.Key == key {
			return true, nil
		}
	}
	return false, coded(err)
}

func (native) Ftok(path string, projID int) (string, error) {
	key, err := shmlib.Ftok(path, projID)
	return key, coded(err)
}

// MemfdSend and MemfdRecv take the socket as a descriptor, as the other
// peers do; the package takes a *net.UnixConn, made here of a duplicate.
func (native) MemfdSend(sock int, key string) error {
	conn, err := unixConn(sock)
	if err != nil {
		return err
	}
	defer conn.Close()
	return coded(shmlib.SendMemfd(conn, key))
}

func (native) MemfdRecv(sock int) (string, error) {
	conn, err := unixConn(sock)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	key, err := shmlib.ReceiveMemfd(conn)
	return key, coded(err)
}

// unixConn is a connection on a duplicate of the Unix socket sock: sock
// itself stays open, as in the peers that call libshm with it.
func unixConn(sock int) (*net.UnixConn, error) {
	f := os.NewFile(uintptr(sock), "socket")
	conn, err := net.FileConn(f) // dups it
	if err != nil {
		return nil, err
	}
	uc, ok := conn.(*net.UnixConn)
	if !ok {
		conn.Close()
		return nil, fmt.Errorf("descriptor %d is not a Unix socket", sock)
	}
	return uc, nil
}

func (native) Strerror(code int) string { return shmlib.Code(code).Error() }
func (native) Version() string          { return shmlib.Version }

// nativeMapping keeps the memory it got at attach: Bytes fails once
// detached, but the protocol's commands act on the last attach's memory.
type nativeMapping struct {
	m   *shmlib.Mapping
	mem []byte
}

func (n nativeMapping) Bytes() []byte { return n.mem }
func (n nativeMapping) Detach() error { return coded(n.m.Detach()) }

func coded(err error) error {
	var e *shmlib.Error
	if errors.As(err, &e) {
		return &shmso.Error{Code: int(e.Code), Msg: e.Error()}
	}
	return err
}

func (native) ChanCreate(key string, capacity uint64) (string, error) {
	made, err := shmlib.CreateChannel(key, capacity, nil)
	return made, coded(err)
}

func (native) ChanOpen(key string, producer bool) (Channel, error) {
	end := shmlib.Consumer
	if producer {
		end = shmlib.Producer
	}
	ch, err := shmlib.OpenChannel(key, end)
	if err != nil {
		return nil, coded(err)
	}
	return nativeChannel{ch}, nil
}

// nativeEnd is what *shmlib.Channel and *shmlib.Broadcast share.
type nativeEnd interface {
	MaxMessage() uint64
	Send(msg []byte, timeout time.Duration) error
	Reserve(n int, timeout time.Duration) ([]byte, error)
	Commit(n int) error
	Recv(buf []byte, timeout time.Duration) (int, error)
	Peek(timeout time.Duration) ([]byte, error)
	Release() error
	Close() error
}

// nativeChannel turns the package's errors into *shmso.Error; a negative
// timeout is shmlib.Forever.
type nativeChannel struct{ ch nativeEnd }

func forever(d time.Duration) time.Duration {
	if d < 0 {
		return shmlib.Forever
	}
	return d
}

func (c nativeChannel) MaxMessage() (uint64, error) { return c.ch.MaxMessage(), nil }
func (c nativeChannel) Commit(n int) error          { return coded(c.ch.Commit(n)) }
func (c nativeChannel) Release() error              { return coded(c.ch.Release()) }
func (c nativeChannel) Close() error                { return coded(c.ch.Close()) }

func (c nativeChannel) Send(msg []byte, timeout time.Duration) error {
	return coded(c.ch.Send(msg, forever(timeout)))
}

func (c nativeChannel) Reserve(n int, timeout time.Duration) ([]byte, error) {
	b, err := c.ch.Reserve(n, forever(timeout))
	return b, coded(err)
}

func (c nativeChannel) Recv(buf []byte, timeout time.Duration) (int, error) {
	n, err := c.ch.Recv(buf, forever(timeout))
	return n, coded(err)
}

func (c nativeChannel) Peek(timeout time.Duration) ([]byte, error) {
	msg, err := c.ch.Peek(forever(timeout))
	return msg, coded(err)
}

func (native) BcastCreate(key string, capacity uint64, slots uint32, overwrite bool) (string, error) {
	made, err := shmlib.CreateBroadcast(key, capacity, &shmlib.BroadcastOptions{Subscribers: int(slots), Overwrite: overwrite})
	return made, coded(err)
}

func (native) BcastOpen(key string, producer bool) (Channel, error) {
	end := shmlib.Subscriber
	if producer {
		end = shmlib.BroadcastProducer
	}
	b, err := shmlib.OpenBroadcast(key, end)
	if err != nil {
		return nil, coded(err)
	}
	return nativeBroadcast{nativeChannel{b}, b}, nil
}

// nativeBroadcast is a broadcast end as a peer's Channel, with Lost.
type nativeBroadcast struct {
	nativeChannel
	b *shmlib.Broadcast
}

func (c nativeBroadcast) Lost() (uint64, error) {
	n, err := c.b.Lost()
	return n, coded(err)
}
