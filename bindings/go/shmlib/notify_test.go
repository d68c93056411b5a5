package shmlib_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/libshm/libshm/bindings/go/shmlib"
)

// A goroutine waits for a consumer through the runtime poller; it returns
// once another goroutine sends, not before, and the message is there.
// A context that ends ends the wait.
func TestNotifierChannel(t *testing.T) {
	key := newChannel(t, "posix:", 4096)
	tx, rx := openEnd(t, key, shmlib.Producer), openEnd(t, key, shmlib.Consumer)
	n, err := rx.Notifier()
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if err := n.Wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
		// The watcher's 100 ms look may wake it spuriously: then nothing is there.
		if _, rerr := rx.Recv(make([]byte, 8), 0); !errors.Is(rerr, shmlib.ErrTimeout) {
			t.Fatalf("Wait on an idle end: %v, and Recv: %v", err, rerr)
		}
	}
	go func() {
		time.Sleep(20 * time.Millisecond)
		tx.Send([]byte("hello"), 0)
	}()
	buf := make([]byte, 8)
	deadline := time.Now().Add(5 * time.Second)
	for {
		if err := n.Wait(context.Background()); err != nil {
			t.Fatal(err)
		}
		k, err := rx.Recv(buf, 0)
		if err == nil {
			if string(buf[:k]) != "hello" {
				t.Fatalf("got %q", buf[:k])
			}
			break
		}
		if !errors.Is(err, shmlib.ErrTimeout) || time.Now().After(deadline) {
			t.Fatal(err)
		}
	}
}

// A broadcast subscriber and a full producer through notifiers.
func TestNotifierBroadcast(t *testing.T) {
	key, err := shmlib.CreateBroadcast("memfd:", 4096, &shmlib.BroadcastOptions{Subscribers: 2})
	if err != nil {
		t.Fatal(err)
	}
	destroyAtEnd(t, key)
	tx, err := shmlib.OpenBroadcast(key, shmlib.BroadcastProducer)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Close()
	rx, err := shmlib.OpenBroadcast(key, shmlib.Subscriber)
	if err != nil {
		t.Fatal(err)
	}
	defer rx.Close()
	for tx.Send(make([]byte, 500), 0) == nil {
	}
	nt, err := tx.Notifier()
	if err != nil {
		t.Fatal(err)
	}
	defer nt.Close()
	done := make(chan error, 1)
	go func() { done <- nt.Wait(context.Background()) }()
	time.Sleep(20 * time.Millisecond)
	buf := make([]byte, 600)
	for {
		if _, err := rx.Recv(buf, 0); err != nil {
			break
		}
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the producer's notifier did not see the room made")
	}
	if err := tx.Send(make([]byte, 500), 0); err != nil {
		t.Fatalf("ready, but: %v", err)
	}
}
