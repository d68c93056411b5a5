package tests

import (
	"fmt"
	"testing"
)

// chanLangs are the peers that have channels. The Python package declares
// the shmlib_chan_* prototypes but has no public channel API yet, and the
// native Go package has no channels.
var chanLangs = []lang{goPeer, cPeer}

// TestChannel: a producer in one language streams messages to a consumer
// in another through a channel: lengths from 0 to the largest the channel
// carries, sent by copy and written in place, received by copy and read in
// place, many times round a ring smaller than the stream, every byte
// checked, in order, then the end of the stream.
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
	send = append(send, "chan-close")
	recv = append(recv, "chan-recv", 0, "chan-close", "destroy", key)

	limit := fmt.Sprint("max ", largest)
	p := start(t, producer, send...)
	p.expect("created "+key, "opened producer", limit)
	c := start(t, consumer, recv...)
	c.expect("opened consumer", limit)
	p.expect(sent...).expect("closed").end()
	c.expect(received...).expect("eos", "closed", "destroyed").end()
}
