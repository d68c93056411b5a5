package bridge

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go"
)

// The wire format. One channel message travels as one NATS message whose
// payload is the message's bytes, untouched. In core NATS mode a message
// that fits the server's max_payload carries no header at all, so any NATS
// client can publish to an In bridge or subscribe to an Out bridge's
// subject. Two headers of our own, and JetStream's, are used otherwise:
//
//	Shmlib-Part: SEQ INDEX COUNT SIZE
//	    a message larger than max_payload travels as COUNT parts, in order,
//	    INDEX 0 to COUNT-1, each at most max_payload less partHeadroom; SIZE
//	    is the whole message's length and SEQ the Out bridge's number for
//	    it (0, 1, 2, ... from its start), which ties the parts together.
//	Shmlib-End: producer closed
//	    the local producer of the Out bridge's channel closed it: an In
//	    bridge closes its producer end in turn, so that its consumer sees
//	    the end of the stream. No payload.
//	Nats-Msg-Id: RUN.N, Nats-Expected-Last-Msg-Id: RUN.N-1
//	    JetStream mode: every NATS message the Out bridge publishes has an
//	    id (RUN is random for each start, N counts its NATS messages) that
//	    the server deduplicates on, and names its predecessor, so that the
//	    server refuses it if that one is not the stream's last. A resend
//	    after a failure can thus neither store a message twice nor out of
//	    order.
const (
	hdrPart = "Shmlib-Part"
	hdrEnd  = "Shmlib-End"

	// Room left in every NATS message for the headers above.
	partHeadroom = 1024
	// The smallest max_payload the bridge works with.
	minMaxPayload = 4096
)

// partSize is the payload of each part of a chunked message, for a server
// whose max_payload is maxPayload.
func partSize(maxPayload int64) (int, error) {
	if maxPayload < minMaxPayload {
		return 0, fmt.Errorf("the server's max_payload is %d bytes: the bridge needs at least %d "+
			"(raise max_payload in the server's configuration)", maxPayload, minMaxPayload)
	}
	return int(maxPayload - partHeadroom), nil
}

// partHeader is the value of Shmlib-Part.
type partHeader struct {
	seq          uint64
	index, count int
	size         int
}

func (p partHeader) String() string {
	return fmt.Sprintf("%d %d %d %d", p.seq, p.index, p.count, p.size)
}

// parsePart reads a Shmlib-Part value; the error says what is wrong with it.
func parsePart(v string) (partHeader, error) {
	f := strings.Fields(v)
	if len(f) != 4 {
		return partHeader{}, fmt.Errorf("%s %q: want four numbers, SEQ INDEX COUNT SIZE", hdrPart, v)
	}
	var n [4]uint64
	for i, s := range f {
		x, err := strconv.ParseUint(s, 10, 63)
		if err != nil {
			return partHeader{}, fmt.Errorf("%s %q: %q is not a number", hdrPart, v, s)
		}
		n[i] = x
	}
	const limit = 1 << 40
	if n[2] == 0 || n[1] >= n[2] || n[2] > limit || n[3] > limit {
		return partHeader{}, fmt.Errorf("%s %q: part %d of %d, %d bytes is impossible", hdrPart, v, n[1], n[2], n[3])
	}
	return partHeader{seq: n[0], index: int(n[1]), count: int(n[2]), size: int(n[3])}, nil
}

// parts cuts msg, the channel message numbered seq, into NATS messages to
// subject, each with a payload of at most size bytes. A message that fits
// in one gets no header (headers may still be added for JetStream).
func parts(subject string, seq uint64, msg []byte, size int, whole bool) []*nats.Msg {
	if whole {
		return []*nats.Msg{{Subject: subject, Data: msg}}
	}
	count := (len(msg) + size - 1) / size
	if count == 0 {
		count = 1
	}
	out := make([]*nats.Msg, 0, count)
	for i := 0; i < count; i++ {
		lo, hi := i*size, min((i+1)*size, len(msg))
		m := nats.NewMsg(subject)
		m.Header.Set(hdrPart, partHeader{seq, i, count, len(msg)}.String())
		m.Data = msg[lo:hi]
		out = append(out, m)
	}
	return out
}

// endMarker is the NATS message that tells an In bridge the stream ended.
func endMarker(subject string) *nats.Msg {
	m := nats.NewMsg(subject)
	m.Header.Set(hdrEnd, "producer closed")
	return m
}

// assembly puts the parts of one chunked message back together, in a
// buffer of the bridge's own of at most the channel's largest message.
type assembly struct {
	maxMessage int
	cur        partHeader // the message being assembled; count 0 when none
	next       int        // the index of the part expected next
	buf        []byte
}

// add takes one NATS message's header value and payload. It returns the
// whole message once its last part is in (valid until the next call), or
// nil while parts are missing. A non-nil error reports a message dropped:
// this part is malformed, oversized or out of order, or a first part
// arrived before the message being assembled was complete (then this part
// is kept, and a whole message may come back with the error).
func (a *assembly) add(hdr string, data []byte) (whole []byte, err error) {
	p, err := parsePart(hdr)
	if err != nil {
		a.reset()
		return nil, err
	}
	if p.size > a.maxMessage {
		a.reset()
		return nil, fmt.Errorf("message %d is %d bytes, more than the channel's largest message (%d bytes): dropped",
			p.seq, p.size, a.maxMessage)
	}
	switch {
	case p.index == 0:
		if a.cur.count != 0 {
			err = fmt.Errorf("message %d lost its parts %d to %d of %d: dropped",
				a.cur.seq, a.next, a.cur.count-1, a.cur.count)
		}
		a.start(p)
	case a.cur.count == 0:
		return nil, fmt.Errorf("part %d of %d of message %d came without its first part: dropped",
			p.index, p.count, p.seq)
	case p.seq != a.cur.seq || p.index != a.next || p.count != a.cur.count || p.size != a.cur.size:
		want, next := a.cur, a.next
		a.reset()
		return nil, fmt.Errorf("expected part %d of message %d, got part %d of %d of message %d: message %d dropped",
			next, want.seq, p.index, p.count, p.seq, want.seq)
	}
	if len(a.buf)+len(data) > p.size || (p.index == p.count-1 && len(a.buf)+len(data) != p.size) {
		a.reset()
		return nil, fmt.Errorf("message %d: its parts do not add up to the %d bytes announced: dropped", p.seq, p.size)
	}
	a.buf = append(a.buf, data...)
	a.next++
	if a.next < p.count {
		return nil, err
	}
	a.cur = partHeader{}
	return a.buf, err
}

func (a *assembly) start(p partHeader) {
	a.cur, a.next = p, 0
	if cap(a.buf) < p.size {
		a.buf = make([]byte, 0, p.size)
	}
	a.buf = a.buf[:0]
}

func (a *assembly) reset() {
	a.cur, a.next = partHeader{}, 0
	a.buf = a.buf[:0]
}
