package broadcast

import (
	"time"

	"github.com/libshm/libshm/internal/errs"
	"github.com/libshm/libshm/internal/ringwait"
)

// Peek waits for the next message and returns it in place. It stays held,
// and the view valid, until Release: meanwhile not even an
// overwrite-oldest producer overwrites it (it waits instead). After the
// producer closed and every message is read, ErrEndOfStream; if it died,
// ErrPeerGone.
func (b *Bcast) Peek(timeout time.Duration) ([]byte, error) {
	const op = "chan_peek"
	if err := b.lock(op); err != nil {
		return nil, err
	}
	defer b.mu.Unlock()
	return b.peek(op, timeout)
}

func (b *Bcast) peek(op string, timeout time.Duration) ([]byte, error) {
	switch {
	case b.end != Subscriber:
		return nil, b.errorf(op, errs.ErrInvalid, "only a subscriber receives")
	case b.held:
		return nil, b.errorf(op, errs.ErrInvalid, "a message is held; release it first")
	}
	head := b.s.slotHead(b.slot)
	for {
		var tail, h uint64
		err := b.wait(op, timeout, b.s.dataSeq(), b.s.subsWaiting(), func() (bool, error) {
			closed := b.s.closed().Load() != 0
			tail = b.s.tail().Load()
			h = head.Load()
			switch {
			case h&heldBit != 0 || tail < h || tail-h > b.capacity || tail%recordAlign != 0 || h%recordAlign != 0:
				return false, b.errorf(op, errs.ErrCorrupt, "tail %d does not fit this subscriber's head %d", tail, h)
			case tail != h:
				return true, nil
			case closed:
				return false, b.errorf(op, errs.ErrEndOfStream, "the producer closed the channel and every message has been received")
			}
			return false, nil
		}, func() error { return b.producerGone(op) })
		if err != nil {
			return nil, err
		}
		// Claim the record: from here the producer cannot overwrite it.
		if !head.CompareAndSwap(h, h|heldBit) {
			continue // the producer moved the head past what it overwrote
		}
		pos := h % b.capacity
		toEnd := b.capacity - pos
		r := b.s.header(pos)
		switch {
		case r.kind == kindPadding && h+toEnd <= tail:
			b.advance(h + toEnd)
			continue
		case r.kind == kindMessage && r.length <= b.maxMsg && recordHdr+alignUp(r.length) <= toEnd &&
			h+recordHdr+alignUp(r.length) <= tail:
			b.held, b.heldAt, b.heldSize = true, h, recordHdr+alignUp(r.length)
			return b.s.bytes(pos+recordHdr, r.length), nil
		}
		head.Store(h)
		return nil, b.errorf(op, errs.ErrCorrupt, "bad record at offset %d: kind %d, length %d (head %d, tail %d)",
			pos, r.kind, r.length, h, tail)
	}
}

// Release frees the message Peek returned; its view must not be used after.
func (b *Bcast) Release() error {
	const op = "chan_release"
	if err := b.lock(op); err != nil {
		return err
	}
	defer b.mu.Unlock()
	if b.end != Subscriber || !b.held {
		return b.errorf(op, errs.ErrInvalid, "no message is held")
	}
	b.held = false
	b.advance(b.heldAt + b.heldSize)
	return nil
}

// Recv waits for the next message and copies it into buf. A message longer
// than buf stays in the channel: ErrRange, and n is its length.
func (b *Bcast) Recv(buf []byte, timeout time.Duration) (n int, err error) {
	const op = "chan_recv"
	if err := b.lock(op); err != nil {
		return 0, err
	}
	defer b.mu.Unlock()
	msg, err := b.peek(op, timeout)
	if err != nil {
		return 0, err
	}
	// Unless copied out, the message stays for the next call, not held
	// (also when the copy faults and the panic unwinds through here).
	defer func() {
		if b.held {
			b.held = false
			b.s.slotHead(b.slot).Store(b.heldAt)
		}
	}()
	if len(msg) > len(buf) {
		return len(msg), b.errorf(op, errs.ErrRange, "the message has %d bytes; the buffer holds %d", len(msg), len(buf))
	}
	copy(buf, msg)
	b.held = false
	b.advance(b.heldAt + b.heldSize)
	return len(msg), nil
}

// Lost is how many messages this subscriber skipped, under
// overwrite-oldest, since the last call; it resets the count.
func (b *Bcast) Lost() (uint64, error) {
	if err := b.lock("chan_lost"); err != nil {
		return 0, err
	}
	defer b.mu.Unlock()
	if b.end != Subscriber {
		return 0, b.errorf("chan_lost", errs.ErrInvalid, "only a subscriber loses messages")
	}
	return b.s.slotLost(b.slot).Swap(0), nil
}

// advance moves this subscriber's head to pos (clearing the held bit) and
// wakes the producer if it waits.
func (b *Bcast) advance(pos uint64) {
	b.s.slotHead(b.slot).Store(pos)
	ringwait.Bump(b.s.spaceSeq(), b.s.prodWaiting())
}

// producerGone is ErrPeerGone when the producer's holder died (its lock is
// free while its owner word is not), after what it committed is read.
func (b *Bcast) producerGone(op string) error {
	word := b.s.u64(offProducer)
	o := word.Load()
	if o == 0 || ringwait.LockHeld(b.lockFd, offProducer) {
		return nil
	}
	if b.s.tail().Load() != b.s.slotHead(b.slot).Load()&^heldBit || word.Load() != o {
		return nil // more to read first, or a new producer
	}
	return b.errorf(op, errs.ErrPeerGone, "the producer (pid %d) died", o>>32)
}
