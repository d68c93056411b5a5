package tests

import (
	"fmt"
	"testing"

	"github.com/libshm/libshm/tests/internal/pattern"
)

// TestBroadcast: a producer in each language streams to four subscribers
// at once, one in each language (C, Python and Go through libshm.so, and
// native Go), each in a process of its own, over one lossless broadcast
// channel whose ring the stream wraps about 60 times. Every subscriber
// checks every length and every byte of every message, in order, read in
// place, then the end of the stream.
func TestBroadcast(t *testing.T) {
	t.Parallel()
	for _, producer := range allLangs {
		t.Run(fmt.Sprintf("%s-to-all", producer), func(t *testing.T) {
			t.Parallel()
			testBroadcast(t, producer)
		})
	}
}

func testBroadcast(t *testing.T, producer lang) {
	const capacity = 64 << 10
	const largest = capacity/2 - 16
	const seed = 31
	key := newKey(t, "posix")
	total := pattern.StreamBytes(streamCount, largest)
	p := start(t, producer, "bcast-create", key, capacity, 8, "lossless", "bcast-open", key, "producer",
		"wait", "chan-stream", streamCount, seed, "chan-close")
	p.expect("created "+key, "opened producer", "waiting")
	var subs []*proc
	for _, l := range allLangs {
		s := start(t, l, "bcast-open", key, "subscriber", "chan-drain", streamCount, seed, "chan-recv", 0, "chan-close")
		s.expect("opened subscriber")
		subs = append(subs, s)
	}
	p.release()
	p.expect(fmt.Sprintf("streamed %d %d", streamCount, total), "closed").end()
	for _, s := range subs {
		s.expect(fmt.Sprintf("drained %d %d", streamCount, total), "eos", "closed").end()
	}
}

// TestBroadcastOverwrite: overwrite-oldest across every ordered pair of
// languages. Ten messages of 1000 bytes (1024 with their header) go into
// a 4096-byte ring that a subscriber does not read until the producer has
// closed: the producer never waits, the subscriber gets the last four, in
// order, and each language reports the six it lost.
func TestBroadcastOverwrite(t *testing.T) {
	t.Parallel()
	for _, producer := range allLangs {
		for _, subscriber := range allLangs {
			if producer == subscriber {
				continue
			}
			t.Run(fmt.Sprintf("%s-to-%s", producer, subscriber), func(t *testing.T) {
				t.Parallel()
				key := newKey(t, "posix")
				send := []any{"bcast-create", key, 4096, 2, "overwrite", "bcast-open", key, "producer", "chan-timeout", 0, "wait"}
				recv := []any{"bcast-open", key, "subscriber", "chan-timeout", 0, "wait"}
				var sent, received []string
				for i := 0; i < 10; i++ {
					send = append(send, "chan-send", 1000, 100+i)
					sent = append(sent, "sent 1000")
					if i >= 6 {
						recv = append(recv, "chan-recv", 100+i)
						received = append(received, "received 1000")
					}
				}
				send = append(send, "chan-close")
				recv = append(recv, "chan-lost", "chan-recv", 0, "chan-close")
				p := start(t, producer, send...)
				p.expect("created "+key, "opened producer", "timeout 0", "waiting")
				s := start(t, subscriber, recv...)
				s.expect("opened subscriber", "timeout 0", "waiting")
				p.release()
				p.expect(sent...).expect("closed").end()
				s.release()
				s.expect(received...).expect("lost 6", "eos", "closed").end()
			})
		}
	}
}

// TestPollableEnd: each language waits for a consumer's or subscriber's
// descriptor in its own event machinery (C poll, Python asyncio's
// add_reader, Go's runtime poller through an *os.File) while a producer
// in another language sends only after it was told to: not ready before,
// readable after, and the message is there.
func TestPollableEnd(t *testing.T) {
	t.Parallel()
	for _, waiter := range langs {
		for _, kind := range []string{"chan", "bcast"} {
			producer := cPeer
			if waiter == cPeer {
				producer = pyPeer
			}
			t.Run(fmt.Sprintf("%s/%s-waits-for-%s", kind, waiter, producer), func(t *testing.T) {
				t.Parallel()
				key := newKey(t, "posix")
				create := []any{"chan-create", key, 4096}
				open, end := "chan-open", "consumer"
				if kind == "bcast" {
					create = []any{"bcast-create", key, 4096, 2, "lossless"}
					open, end = "bcast-open", "subscriber"
				}
				p := start(t, producer, append(create, open, key, "producer", "wait", "chan-send", 64, 7, "wait", "chan-close")...)
				p.expect("created "+key, "opened producer", "waiting")
				w := start(t, waiter, open, key, end, "chan-poll", 50, "wait", "chan-poll", 5000, "chan-recv", 7, "chan-close")
				w.expect("opened "+end, "not ready", "waiting")
				p.release()
				p.expect("sent 64", "waiting")
				w.release()
				w.expect("polled", "received 64", "closed").end()
				p.release()
				p.expect("closed").end()
			})
		}
	}
}
