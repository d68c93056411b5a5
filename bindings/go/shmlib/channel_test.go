package shmlib_test

import (
	"errors"
	"io/fs"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/libshm/libshm/bindings/go/shmlib"
)

// newChannel creates a channel that the test destroys when it ends.
func newChannel(t *testing.T, key string, capacity uint64) string {
	t.Helper()
	k, err := shmlib.CreateChannel(key, capacity, nil)
	if err != nil {
		t.Fatalf("CreateChannel(%q): %v", key, err)
	}
	destroyAtEnd(t, k)
	return k
}

func openEnd(t *testing.T, key string, end shmlib.End) *shmlib.Channel {
	t.Helper()
	ch, err := shmlib.OpenChannel(key, end)
	if err != nil {
		t.Fatalf("OpenChannel(%q, %v): %v", key, end, err)
	}
	t.Cleanup(func() { ch.Close() })
	return ch
}

func TestChannelSendRecv(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			key := newChannel(t, b.auto, 1<<16)
			tx, rx := openEnd(t, key, shmlib.Producer), openEnd(t, key, shmlib.Consumer)
			if tx.MaxMessage() != 1<<15-16 || tx.Key() != key || rx.End() != shmlib.Consumer {
				t.Fatalf("max %d key %q end %v", tx.MaxMessage(), tx.Key(), rx.End())
			}
			info, err := shmlib.Stat(key)
			if err != nil || !info.Channel {
				t.Fatalf("Stat(%q) = %+v, %v; want Channel set", key, info, err)
			}
			if err := tx.Send([]byte("copied"), 0); err != nil {
				t.Fatal(err)
			}
			w, err := tx.Reserve(100, shmlib.Forever)
			if err != nil {
				t.Fatal(err)
			}
			copy(w, "in place")
			if err := tx.Commit(8); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 64)
			n, err := rx.Recv(buf, time.Second)
			if err != nil || string(buf[:n]) != "copied" {
				t.Fatalf("Recv = %q, %v", buf[:n], err)
			}
			msg, err := rx.Peek(time.Second)
			if err != nil || string(msg) != "in place" {
				t.Fatalf("Peek = %q, %v", msg, err)
			}
			if err := rx.Release(); err != nil {
				t.Fatal(err)
			}
			if _, err := rx.Recv(buf, 0); !errors.Is(err, shmlib.ErrTimeout) {
				t.Fatalf("Recv on an empty channel with timeout 0: %v, want ErrTimeout", err)
			}
			if err := tx.Close(); err != nil {
				t.Fatal(err)
			}
			if _, err := rx.Recv(buf, shmlib.Forever); !errors.Is(err, shmlib.ErrEndOfStream) {
				t.Fatalf("Recv after the producer closed: %v, want ErrEndOfStream", err)
			}
		})
	}
}

func TestChannelErrors(t *testing.T) {
	key := newChannel(t, "posix:", 4096)
	openEnd(t, key, shmlib.Producer)
	_, err := shmlib.OpenChannel(key, shmlib.Producer)
	var e *shmlib.Error
	if !errors.Is(err, shmlib.ErrBusy) || !errors.As(err, &e) || e.Op != "chan_open" ||
		!strings.Contains(err.Error(), "held by pid "+itoa(os.Getpid())) {
		t.Fatalf("second producer: %v, want ErrBusy naming this pid", err)
	}
	_, err = shmlib.OpenChannel("posix:/libshm-go-never-made", shmlib.Consumer)
	if !errors.Is(err, shmlib.ErrNotExist) || !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing channel: %v, want ErrNotExist and fs.ErrNotExist", err)
	}
	plain := create(t, "posix:", 8192, nil)
	if _, err := shmlib.OpenChannel(plain, shmlib.Consumer); !errors.Is(err, shmlib.ErrInvalid) {
		t.Fatalf("a plain segment opened as a channel: %v, want ErrInvalid", err)
	}
	if _, err := shmlib.CreateChannel("posix:", 0, nil); !errors.Is(err, shmlib.ErrInvalid) {
		t.Fatalf("capacity 0: %v, want ErrInvalid", err)
	}
	rx := openEnd(t, key, shmlib.Consumer)
	if _, err := rx.Reserve(-1, 0); !errors.Is(err, shmlib.ErrInvalid) {
		t.Fatalf("Reserve(-1): %v, want ErrInvalid", err)
	}
	if err := rx.Send(make([]byte, 1<<20), 0); !errors.Is(err, shmlib.ErrInvalid) {
		t.Fatalf("Send on the consumer: %v, want ErrInvalid", err)
	}
}

// TestChannelFaultIsAnError: a peer that truncates a POSIX channel's
// segment under us must not kill this process.
func TestChannelFaultIsAnError(t *testing.T) {
	key := newChannel(t, "posix:", 4096)
	tx := openEnd(t, key, shmlib.Producer)
	if err := os.Truncate("/dev/shm/"+strings.TrimPrefix(key, "posix:/"), 0); err != nil {
		t.Fatal(err)
	}
	if err := tx.Send([]byte("x"), 0); !errors.Is(err, shmlib.ErrFault) {
		t.Fatalf("Send into a truncated segment: %v, want ErrFault", err)
	}
}
