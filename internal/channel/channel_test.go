package channel

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/libshm/libshm/internal/errs"
	"github.com/libshm/libshm/internal/segment"
)

func TestCreateRoundsCapacity(t *testing.T) {
	key := newChannel(t, "posix:", 5000)
	info, err := segment.Stat(key)
	if err != nil {
		t.Fatal(err)
	}
	if info.Size != SegmentSize(8192) {
		t.Fatalf("segment of %d bytes, want %d (capacity 5000 rounds to 8192)", info.Size, SegmentSize(8192))
	}
	c := open(t, key, Producer)
	if c.MaxMessage() != 8192/2-16 {
		t.Fatalf("max message %d, want %d", c.MaxMessage(), 8192/2-16)
	}
	_, err = Create("posix:", 0, segment.CreateOptions{})
	wantCode(t, err, errs.ErrInvalid, "capacity 0")
	_, err = Create("posix:", maxCapacity+1, segment.CreateOptions{})
	wantCode(t, err, errs.ErrInvalid, "outside")
}

// TestFIFO streams messages of every length through a small ring, so it
// wraps many times, with the consumer in another goroutine.
func TestFIFO(t *testing.T) {
	for _, backend := range []string{"posix:", "sysv:"} {
		t.Run(backend, func(t *testing.T) {
			key := newChannel(t, backend, 4096)
			p, c := open(t, key, Producer), open(t, key, Consumer)
			const count = 3000
			done := make(chan error, 1)
			go func() {
				buf := make([]byte, c.MaxMessage())
				for i := 0; i < count; i++ {
					n, err := c.Recv(buf, 5*second)
					if err != nil {
						done <- fmt.Errorf("recv %d: %w", i, err)
						return
					}
					if want := pattern(i, c.MaxMessage()); !bytes.Equal(buf[:n], want) {
						done <- fmt.Errorf("message %d: got %d bytes, want %d bytes of its pattern", i, n, len(want))
						return
					}
				}
				done <- nil
			}()
			for i := 0; i < count; i++ {
				if err := p.Send(pattern(i, p.MaxMessage()), 5*second); err != nil {
					t.Fatalf("send %d: %v", i, err)
				}
			}
			if err := <-done; err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestZeroCopy(t *testing.T) {
	key := newChannel(t, "posix:", 4096)
	p, c := open(t, key, Producer), open(t, key, Consumer)
	buf, err := p.Reserve(100, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(buf) != 100 {
		t.Fatalf("reserved %d bytes, want 100", len(buf))
	}
	_, err = c.Peek(0)
	wantCode(t, err, errs.ErrTimeout, "would block")
	copy(buf, "in place")
	_, err = p.Reserve(1, 0)
	wantCode(t, err, errs.ErrInvalid, "reservation is pending")
	wantCode(t, p.Commit(101), errs.ErrInvalid, "more than the 100 reserved")
	if err := p.Commit(8); err != nil {
		t.Fatal(err)
	}
	wantCode(t, p.Commit(8), errs.ErrInvalid, "nothing is reserved")
	msg, err := c.Peek(0)
	if err != nil || string(msg) != "in place" {
		t.Fatalf("Peek = %q, %v; want the 8 committed bytes", msg, err)
	}
	if uintptrOf(msg)%16 != 0 {
		t.Errorf("payload at %#x is not 16-byte aligned", uintptrOf(msg))
	}
	_, err = c.Peek(0)
	wantCode(t, err, errs.ErrInvalid, "release it first")
	if err := c.Release(); err != nil {
		t.Fatal(err)
	}
	wantCode(t, c.Release(), errs.ErrInvalid, "no message is held")
	wantCode(t, p.Release(), errs.ErrInvalid, "no message is held")
	_, err = c.Reserve(1, 0)
	wantCode(t, err, errs.ErrInvalid, "only the producer")
	_, err = p.Peek(0)
	wantCode(t, err, errs.ErrInvalid, "only the consumer")
}

func TestRecvIntoSmallBuffer(t *testing.T) {
	key := newChannel(t, "posix:", 4096)
	p, c := open(t, key, Producer), open(t, key, Consumer)
	if err := p.Send([]byte("twelve bytes"), 0); err != nil {
		t.Fatal(err)
	}
	n, err := c.Recv(make([]byte, 4), 0)
	wantCode(t, err, errs.ErrRange, "has 12 bytes")
	if n != 12 {
		t.Fatalf("n = %d, want the message's length 12", n)
	}
	buf := make([]byte, 12)
	if n, err := c.Recv(buf, 0); err != nil || string(buf[:n]) != "twelve bytes" {
		t.Fatalf("the message was lost after ERANGE: %q, %v", buf[:n], err)
	}
}

func TestEndOfStream(t *testing.T) {
	key := newChannel(t, "sysv:", 4096)
	p, c := open(t, key, Producer), open(t, key, Consumer)
	for _, m := range []string{"a", "b", "c"} {
		if err := p.Send([]byte(m), 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	wantCode(t, p.Send([]byte("x"), 0), errs.ErrInvalid, "closed")
	buf := make([]byte, 8)
	for _, want := range []string{"a", "b", "c"} {
		n, err := c.Recv(buf, 0)
		if err != nil || string(buf[:n]) != want {
			t.Fatalf("draining after close: %q, %v; want %q", buf[:n], err, want)
		}
	}
	_, err := c.Recv(buf, second)
	wantCode(t, err, errs.ErrEndOfStream, "closed")
	_, err = Open(key, Producer)
	wantCode(t, err, errs.ErrEndOfStream, "closed")
}

func TestEndOfStreamWakesASleepingConsumer(t *testing.T) {
	key := newChannel(t, "posix:", 4096)
	p, c := open(t, key, Producer), open(t, key, Consumer)
	go func() {
		time.Sleep(50 * time.Millisecond)
		p.Close()
	}()
	start := time.Now()
	_, err := c.Recv(make([]byte, 8), Forever)
	wantCode(t, err, errs.ErrEndOfStream, "closed")
	if time.Since(start) > 5*second {
		t.Fatal("the close did not wake the consumer")
	}
}

func TestTimeouts(t *testing.T) {
	key := newChannel(t, "posix:", 4096)
	p, c := open(t, key, Producer), open(t, key, Consumer)
	start := time.Now()
	_, err := c.Recv(make([]byte, 8), 30*time.Millisecond)
	wantCode(t, err, errs.ErrTimeout, "timed out after 30ms")
	if waited := time.Since(start); waited < 30*time.Millisecond {
		t.Fatalf("returned after %v, before its 30ms timeout", waited)
	}
	msg := make([]byte, p.MaxMessage())
	for p.Send(msg, 0) == nil {
	}
	wantCode(t, p.Send(msg, 0), errs.ErrTimeout, "would block")
	wantCode(t, p.Send(msg, 20*time.Millisecond), errs.ErrTimeout, "timed out")
	wantCode(t, p.Send(make([]byte, p.MaxMessage()+1), 0), errs.ErrTooLarge, "over this channel's limit")
}

func TestSecondEndIsBusy(t *testing.T) {
	key := newChannel(t, "posix:", 4096)
	p := open(t, key, Producer)
	_, err := Open(key, Producer)
	wantCode(t, err, errs.ErrBusy, fmt.Sprintf("held by pid %d", self.pid()))
	c := open(t, key, Consumer)
	_, err = Open(key, Consumer)
	wantCode(t, err, errs.ErrBusy, "consumer end is held")
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	open(t, key, Consumer) // free again once closed
	wantCode(t, c.Close(), errs.ErrInvalid, "closed")
	_ = p
}

func TestNotAChannel(t *testing.T) {
	made, err := segment.Create("posix:", 8192, segment.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer segment.Destroy(made.Key)
	_, err = Open(made.Key, Consumer)
	wantCode(t, err, errs.ErrInvalid, "not a channel")
	_, err = Open(made.Key, 3)
	wantCode(t, err, errs.ErrInvalid, "neither producer")
	_, err = Open("posix:/libshm-never-made", Consumer)
	wantCode(t, err, errs.ErrNotExist, "chan_open posix:/libshm-never-made: no such segment")
}

// TestConsumerLeaving: a producer waiting for room learns that the consumer
// closed its end, instead of waiting out its timeout; a new consumer makes
// the channel usable again.
func TestConsumerLeaving(t *testing.T) {
	key := newChannel(t, "posix:", 4096)
	p, c := open(t, key, Producer), open(t, key, Consumer)
	msg := make([]byte, p.MaxMessage())
	for p.Send(msg, 0) == nil {
	}
	go func() {
		time.Sleep(50 * time.Millisecond)
		c.Close()
	}()
	start := time.Now()
	wantCode(t, p.Send(msg, 10*second), errs.ErrPeerGone, "the consumer closed its end")
	if time.Since(start) > 5*second {
		t.Fatal("the consumer's close did not wake the producer")
	}
	c2 := open(t, key, Consumer)
	if _, err := c2.Recv(msg, 0); err != nil {
		t.Fatal(err)
	}
	if err := p.Send(msg, second); err != nil {
		t.Fatalf("after a new consumer came: %v", err)
	}
}

// TestHandover: an end left by Handover is free for another holder and the
// stream goes on: no end of stream, no "peer gone".
func TestHandover(t *testing.T) {
	key := newChannel(t, "posix:", 4096)
	c := open(t, key, Consumer)
	p, err := Open(key, Producer)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Send([]byte("one"), 0); err != nil {
		t.Fatal(err)
	}
	if err := p.Handover(); err != nil {
		t.Fatal(err)
	}
	wantCode(t, p.Send([]byte("x"), 0), errs.ErrInvalid, "closed")
	p2 := open(t, key, Producer) // free: no ErrBusy
	if err := p2.Send([]byte("two"), 0); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 8)
	for _, want := range []string{"one", "two"} {
		n, err := c.Recv(buf, second)
		if err != nil || string(buf[:n]) != want {
			t.Fatalf("after a handover: %q, %v; want %q", buf[:n], err, want)
		}
	}
	_, err = c.Recv(buf, 0)
	wantCode(t, err, errs.ErrTimeout, "would block")
}

func TestCreateRefusesOpenExisting(t *testing.T) {
	_, err := Create("posix:", 4096, segment.CreateOptions{OpenExisting: true})
	wantCode(t, err, errs.ErrInvalid, "always created new")
}
