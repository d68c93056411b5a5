package broadcast

import (
	"encoding/binary"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/libshm/libshm/internal/errs"
	"github.com/libshm/libshm/internal/segment"
)

func msg(i int, n int) []byte {
	b := make([]byte, n)
	binary.LittleEndian.PutUint64(b, uint64(i))
	for j := 8; j < n; j++ {
		b[j] = byte(i + j)
	}
	return b
}

// Every one of 64 subscribers, each on its own goroutine and its own open
// file description, reads every message in order while the ring wraps
// many times over.
func TestLosslessEverySubscriberEveryMessage(t *testing.T) {
	for _, backend := range []string{"posix:", "memfd:"} {
		t.Run(backend, func(t *testing.T) {
			key := newBcast(t, backend, 4096, 64, Lossless)
			p := open(t, key, Producer)
			subs := make([]*Bcast, 64)
			for i := range subs {
				subs[i] = open(t, key, Subscriber)
			}
			const count = 2000
			var wg sync.WaitGroup
			failures := make(chan error, len(subs))
			for _, s := range subs {
				wg.Add(1)
				go func(s *Bcast) {
					defer wg.Done()
					buf := make([]byte, 512)
					for i := 0; i < count; i++ {
						n, err := s.Recv(buf, 10*time.Second)
						if err != nil {
							failures <- err
							return
						}
						want := msg(i, 8+i%200)
						if string(buf[:n]) != string(want) {
							failures <- errors.New("message out of order or damaged")
							return
						}
					}
					if _, err := s.Recv(buf, 10*time.Second); !errors.Is(err, errs.ErrEndOfStream) {
						failures <- err
					}
				}(s)
			}
			for i := 0; i < count; i++ {
				if err := p.Send(msg(i, 8+i%200), 10*time.Second); err != nil {
					t.Fatal(err)
				}
			}
			p.Close()
			wg.Wait()
			close(failures)
			for err := range failures {
				t.Fatal(err)
			}
		})
	}
}

func TestLateJoinerStartsAtNextMessage(t *testing.T) {
	key := newBcast(t, "posix:", 8192, 4, Lossless)
	p := open(t, key, Producer)
	if err := p.Send(msg(0, 16), 0); err != nil {
		t.Fatal(err)
	}
	s := open(t, key, Subscriber)
	if _, err := s.Peek(0); !errors.Is(err, errs.ErrTimeout) {
		t.Fatalf("a late joiner saw an old message: %v", err)
	}
	p.Send(msg(1, 16), 0)
	got, err := s.Peek(0)
	if err != nil || binary.LittleEndian.Uint64(got) != 1 {
		t.Fatalf("got %v, %v; want message 1", got, err)
	}
	s.Release()
}

func TestLosslessProducerWaitsForSlowest(t *testing.T) {
	key := newBcast(t, "posix:", 4096, 2, Lossless)
	p := open(t, key, Producer)
	fast, slow := open(t, key, Subscriber), open(t, key, Subscriber)
	buf := make([]byte, 2048)
	sent := 0
	for ; ; sent++ {
		if err := p.Send(msg(sent, 1000), 0); err != nil {
			if !errors.Is(err, errs.ErrTimeout) {
				t.Fatal(err)
			}
			break
		}
		if _, err := fast.Recv(buf, 0); err != nil {
			t.Fatal(err)
		}
	}
	if sent == 0 || sent > 4 {
		t.Fatalf("sent %d messages of 1000 bytes into 4096 before the slow subscriber held it back", sent)
	}
	for i := 0; i < sent; i++ {
		n, err := slow.Recv(buf, 0)
		if err != nil || binary.LittleEndian.Uint64(buf[:n]) != uint64(i) {
			t.Fatalf("slow subscriber: message %d: %v", i, err)
		}
	}
	if err := p.Send(msg(sent, 1000), 0); err != nil {
		t.Fatalf("room made by the slow subscriber not seen: %v", err)
	}
	if n, _ := slow.Lost(); n != 0 {
		t.Fatalf("lossless lost %d", n)
	}
}

func TestOverwriteOldestSkipsAndCounts(t *testing.T) {
	key := newBcast(t, "memfd:", 4096, 2, OverwriteOldest)
	p := open(t, key, Producer)
	s := open(t, key, Subscriber)
	const sent = 40
	for i := 0; i < sent; i++ {
		if err := p.Send(msg(i, 200), 0); err != nil {
			t.Fatalf("overwrite-oldest producer blocked on a lagging subscriber: %v", err)
		}
	}
	buf := make([]byte, 256)
	got, last := 0, -1
	for {
		n, err := s.Recv(buf, 0)
		if errors.Is(err, errs.ErrTimeout) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		i := int(binary.LittleEndian.Uint64(buf[:n]))
		if i <= last {
			t.Fatalf("message %d after %d", i, last)
		}
		last = i
		got++
	}
	lost, _ := s.Lost()
	if last != sent-1 || got+int(lost) != sent {
		t.Fatalf("received %d, lost %d, last %d of %d", got, lost, last, sent)
	}
	if lost == 0 {
		t.Fatal("nothing counted as lost after the ring wrapped past the subscriber")
	}
}

// A held message is never overwritten: the producer waits instead.
func TestOverwriteOldestHonoursHeld(t *testing.T) {
	key := newBcast(t, "posix:", 4096, 1, OverwriteOldest)
	p := open(t, key, Producer)
	s := open(t, key, Subscriber)
	p.Send(msg(7, 1000), 0)
	view, err := s.Peek(0)
	if err != nil {
		t.Fatal(err)
	}
	var blocked bool
	for i := 0; i < 10; i++ {
		if err := p.Send(msg(100+i, 1000), 0); errors.Is(err, errs.ErrTimeout) {
			blocked = true
			break
		}
	}
	if !blocked {
		t.Fatal("the producer overwrote a held message")
	}
	if binary.LittleEndian.Uint64(view) != 7 {
		t.Fatal("held message changed")
	}
	s.Release()
	if err := p.Send(msg(200, 1000), 0); err != nil {
		t.Fatal(err)
	}
}

// A subscriber whose holder is gone (its lock's descriptor closed, as at
// death, owner word left behind) stops holding back the producer within
// one liveness check.
func TestDeadSubscriberReleasesProducer(t *testing.T) {
	key := newBcast(t, "posix:", 4096, 2, Lossless)
	p := open(t, key, Producer)
	dead, err := Open(key, Subscriber)
	if err != nil {
		t.Fatal(err)
	}
	dead.unmap() // dies: the kernel drops its lock; nobody clears its word
	for i := 0; i < 3; i++ {
		p.Send(msg(i, 1000), 0)
	}
	start := time.Now()
	for i := 3; i < 10; i++ {
		if err := p.Send(msg(i, 1000), time.Second); err != nil {
			t.Fatalf("producer still held back by a dead subscriber: %v", err)
		}
	}
	if d := time.Since(start); d > 400*time.Millisecond {
		t.Fatalf("took %v to let go of a dead subscriber", d)
	}
	// Its slot is free again for a newcomer.
	open(t, key, Subscriber)
	open(t, key, Subscriber)
}

func TestSlotsRunOut(t *testing.T) {
	key := newBcast(t, "posix:", 4096, 2, Lossless)
	open(t, key, Subscriber)
	open(t, key, Subscriber)
	if _, err := Open(key, Subscriber); !errors.Is(err, errs.ErrBusy) {
		t.Fatalf("third subscriber of two slots: %v", err)
	}
}

func TestCreateRefuses(t *testing.T) {
	for _, c := range []struct {
		key      string
		capacity uint64
		slots    uint32
		p        Policy
		code     errs.Code
	}{
		{"sysv:", 4096, 4, Lossless, errs.ErrNotSupported},
		{"posix:", 0, 4, Lossless, errs.ErrInvalid},
		{"posix:", 4096, MaxSlots + 1, Lossless, errs.ErrInvalid},
		{"posix:", 4096, 4, 3, errs.ErrInvalid},
	} {
		if _, err := Create(c.key, c.capacity, c.slots, c.p, segment.CreateOptions{}); !errors.Is(err, c.code) {
			t.Errorf("Create(%q, %d, %d, %d): %v, want %v", c.key, c.capacity, c.slots, c.p, err, c.code)
		}
	}
}
