package channel

import (
	"time"
	"unsafe"

	"github.com/libshm/libshm/internal/errs"
)

// Peek waits for the next message and returns it in place, in the shared
// data area. It stays there, and the view stays valid, until Release.
// After the producer has closed and every message is consumed, Peek gives
// ErrEndOfStream; if the producer died instead, ErrPeerGone.
func (c *Chan) Peek(timeout time.Duration) ([]byte, error) {
	const op = "chan_peek"
	if err := c.lock(op); err != nil {
		return nil, err
	}
	defer c.mu.Unlock()
	return c.peek(op, timeout)
}

func (c *Chan) peek(op string, timeout time.Duration) ([]byte, error) {
	switch {
	case c.end != Consumer:
		return nil, c.errorf(op, errs.ErrInvalid, "only the consumer end receives")
	case c.held:
		return nil, c.errorf(op, errs.ErrInvalid, "a message is held; release it first")
	}
	for {
		var tail uint64
		err := c.wait(op, timeout, c.s.dataSeq(), c.s.consWaiting(), func() (bool, error) {
			// closed is read before tail: the producer sets it after its
			// last commit, so seeing it means seeing every commit.
			closed := c.s.closed().Load() != 0
			tail = c.s.tail().Load()
			switch {
			case tail < c.head || tail-c.head > c.capacity || tail%recordAlign != 0:
				return false, c.errorf(op, errs.ErrCorrupt, "tail %d does not fit head %d", tail, c.head)
			case tail != c.head:
				return true, nil
			case closed:
				return false, c.errorf(op, errs.ErrEndOfStream, "the producer closed the channel and every message has been received")
			}
			return false, nil
		})
		if err != nil {
			return nil, err
		}
		pos := c.head % c.capacity
		toEnd := c.capacity - pos
		h := c.s.data(pos)
		// Read each header field once: the values checked are the values used.
		length := uint64(*(*uint32)(h))
		kind := *(*uint32)(unsafe.Add(h, 4))
		switch {
		case kind == kindPadding && c.head+toEnd <= tail:
			c.advance(toEnd)
			continue
		case kind == kindMessage && length <= c.maxMsg &&
			recordHdr+alignUp(length) <= toEnd && c.head+recordHdr+alignUp(length) <= tail:
			c.held, c.heldSize = true, recordHdr+alignUp(length)
			return c.s.bytes(dataOffset+uintptr(pos+recordHdr), length), nil
		}
		return nil, c.errorf(op, errs.ErrCorrupt, "bad record at offset %d: kind %d, length %d (head %d, tail %d)", pos, kind, length, c.head, tail)
	}
}

// Release frees the message Peek returned; its view must not be used after.
func (c *Chan) Release() error {
	const op = "chan_release"
	if err := c.lock(op); err != nil {
		return err
	}
	defer c.mu.Unlock()
	if c.end != Consumer || !c.held {
		return c.errorf(op, errs.ErrInvalid, "no message is held")
	}
	c.held = false
	c.advance(c.heldSize)
	return nil
}

// Recv waits for the next message and copies it into buf, returning its
// length. A message longer than buf is left in the channel and Recv fails
// with ErrRange, saying how long it is (also returned as n).
func (c *Chan) Recv(buf []byte, timeout time.Duration) (n int, err error) {
	const op = "chan_recv"
	if err := c.lock(op); err != nil {
		return 0, err
	}
	defer c.mu.Unlock()
	msg, err := c.peek(op, timeout)
	if err != nil {
		return 0, err
	}
	// Unless it is copied out, the message stays in the channel for the
	// next call, not held: also when the copy faults (buf is memory the
	// caller cannot write) and the panic unwinds through here.
	defer func() { c.held = false }()
	if len(msg) > len(buf) {
		return len(msg), c.errorf(op, errs.ErrRange, "the message has %d bytes; the buffer holds %d", len(msg), len(buf))
	}
	copy(buf, msg)
	c.advance(c.heldSize)
	return len(msg), nil
}

// advance releases n bytes to the producer and wakes it if it sleeps.
func (c *Chan) advance(n uint64) {
	c.head += n
	c.s.head().Store(c.head)
	c.s.spaceSeq().Add(1)
	wakeIfWaiting(c.s.spaceSeq(), c.s.prodWaiting())
}
