package tests

import (
	"fmt"
	"strings"
	"testing"

	"github.com/libshm/libshm/tests/internal/pattern"
)

// Every language has channels: C, Python and Go (purego) through
// libshm.so, and native Go (bindings/go/shmlib) on the same rings.
var chanLangs = allLangs

// streamCount is the length of the stream of TestChannel: 256 messages of
// 16 KiB on average go round its 64 KiB ring about 60 times.
const streamCount = 256

// TestChannel: for every ordered pair of languages and both backends, a
// producer in one streams messages to a consumer in the other: lengths
// from 0 to the largest the channel carries, sent by copy and written in
// place, received by copy and read in place, first one command each (26
// messages), then a stream of 256 that wraps the ring about 60 times;
// every length and every byte is checked, in order, and the stream ends
// with end of stream.
func TestChannel(t *testing.T) {
	t.Parallel()
	for _, backend := range backends {
		for _, producer := range chanLangs {
			for _, consumer := range chanLangs {
				if producer == consumer {
					continue
				}
				t.Run(fmt.Sprintf("%s/%s-to-%s", backend, producer, consumer), func(t *testing.T) {
					t.Parallel()
					testChannel(t, backend, producer, consumer)
				})
			}
		}
	}
}

func testChannel(t *testing.T, backend string, producer, consumer lang) {
	// The header: a message takes at most half the data area less 16 bytes.
	const capacity = 64 << 10
	const largest = capacity/2 - 16
	const streamSeed = 97
	key := newKey(t, backend)
	lengths := []int{0, largest}
	for i := 1; len(lengths) < 26; i++ {
		lengths = append(lengths, i*7919%largest)
	}

	send := []any{"chan-create", key, capacity, "chan-open", key, "producer", "chan-max"}
	recv := []any{"chan-open", key, "consumer", "chan-max"}
	var sent, received []string
	for i, n := range lengths {
		seed := i + 1
		if i%2 == 0 {
			send = append(send, "chan-send", n, seed)
			sent = append(sent, fmt.Sprint("sent ", n))
		} else {
			send = append(send, "chan-put", n, seed)
			sent = append(sent, fmt.Sprint("put ", n))
		}
		if i%3 == 0 {
			recv = append(recv, "chan-take", seed)
			received = append(received, fmt.Sprint("took ", n))
		} else {
			recv = append(recv, "chan-recv", seed)
			received = append(received, fmt.Sprint("received ", n))
		}
	}
	send = append(send, "chan-stream", streamCount, streamSeed, "chan-close")
	recv = append(recv, "chan-drain", streamCount, streamSeed, "chan-recv", 0, "chan-close", "destroy", key)
	total := pattern.StreamBytes(streamCount, largest)
	if total < 50*capacity {
		t.Fatalf("the stream carries %d bytes: it would not wrap a %d-byte ring 50 times", total, capacity)
	}

	limit := fmt.Sprint("max ", largest)
	p := start(t, producer, send...)
	p.expect("created "+key, "opened producer", limit)
	c := start(t, consumer, recv...)
	c.expect("opened consumer", limit)
	p.expect(sent...).expect(fmt.Sprintf("streamed %d %d", streamCount, total), "closed").end()
	c.expect(received...).expect(fmt.Sprintf("drained %d %d", streamCount, total), "eos", "closed", "destroyed").end()
}

// arrays are the numpy arrays of TestChannelArray: dtype string, shape
// ("-" is the 0-dimensional shape ()).
var arrays = []struct{ dtype, shape string }{
	{"<u2", "3x5x7"},
	{">f8", "4x6"},    // big-endian: the dtype string carries the byte order
	{"|u1", "-"},      // a 0-dimensional array: ndim 0, one element
	{"<i4", "5x0x3"},  // no elements: the message is the header alone
	{"<c16", "2x1x3"}, // 16-byte elements
}

// TestChannelArray: numpy arrays cross languages in the array message
// format that bindings/python/shmlib/framing.py documents. Python's
// Channel.send_array frames them (from Fortran-ordered arrays: the
// elements must arrive in C order), and C and Go, which implement the
// format from its text alone, decode dtype, shape and every element byte;
// the other way round, C and Go frame them and Python's peek_array decodes
// them. Every message must be exactly as long as the format's smallest
// data offset plus the elements.
func TestChannelArray(t *testing.T) {
	t.Parallel()
	for _, backend := range backends {
		for _, other := range []lang{cPeer, goPeer, nativePeer} {
			for _, pair := range [][2]lang{{pyPeer, other}, {other, pyPeer}} {
				t.Run(fmt.Sprintf("%s/%s-to-%s", backend, pair[0], pair[1]), func(t *testing.T) {
					t.Parallel()
					testChannelArray(t, backend, pair[0], pair[1])
				})
			}
		}
	}
}

func testChannelArray(t *testing.T, backend string, producer, consumer lang) {
	key := newKey(t, backend)
	send := []any{"chan-create", key, 64 << 10, "chan-open", key, "producer"}
	recv := []any{"chan-open", key, "consumer"}
	var sent, received []string
	for i, a := range arrays {
		seed := 60 + i
		send = append(send, "chan-send-array", a.dtype, a.shape, seed)
		recv = append(recv, "chan-recv-array", seed)
		n := arrayMessageLen(t, a.dtype, a.shape)
		sent = append(sent, fmt.Sprint("sent-array ", n))
		received = append(received, fmt.Sprintf("received-array %s %s %d", a.dtype, a.shape, n))
	}
	send = append(send, "chan-close")
	recv = append(recv, "chan-recv", 0, "chan-close", "destroy", key)

	p := start(t, producer, send...)
	p.expect("created "+key, "opened producer").expect(sent...).expect("closed").end()
	start(t, consumer, recv...).expect("opened consumer").expect(received...).
		expect("eos", "closed", "destroyed").end()
}

// arrayMessageLen is the length of the array message of dtype and shape by
// the framing doc: the smallest data offset, a multiple of 16 at least
// 16 + 8*ndim + len(dtype), then the elements.
func arrayMessageLen(t *testing.T, dtype, shape string) int {
	t.Helper()
	var item int
	if _, err := fmt.Sscanf(dtype[2:], "%d", &item); err != nil {
		t.Fatalf("dtype %q: %v", dtype, err)
	}
	ndim, nbytes := 0, item
	if shape != "-" {
		for _, f := range strings.Split(shape, "x") {
			var n int
			if _, err := fmt.Sscanf(f, "%d", &n); err != nil {
				t.Fatalf("shape %q: %v", shape, err)
			}
			ndim++
			nbytes *= n
		}
	}
	return (16+8*ndim+len(dtype)+15)/16*16 + nbytes
}
