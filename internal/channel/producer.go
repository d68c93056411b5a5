package channel

import (
	"time"
	"unsafe"

	"github.com/libshm/libshm/internal/errs"
)

// Reserve waits for room for a message of n bytes and returns the place to
// write it, in the shared data area. It stays reserved, invisible to the
// consumer, until Commit; only one reservation is pending at a time.
func (c *Chan) Reserve(n uint64, timeout time.Duration) ([]byte, error) {
	const op = "chan_reserve"
	if err := c.lock(op); err != nil {
		return nil, err
	}
	defer c.mu.Unlock()
	return c.reserve(op, n, timeout)
}

func (c *Chan) reserve(op string, n uint64, timeout time.Duration) ([]byte, error) {
	switch {
	case c.end != Producer:
		return nil, c.errorf(op, errs.ErrInvalid, "only the producer end sends")
	case c.reserved:
		return nil, c.errorf(op, errs.ErrInvalid, "a reservation is pending; commit it first")
	case n > c.maxMsg:
		return nil, c.errorf(op, errs.ErrTooLarge, "%d bytes is over this channel's limit of %d (half its capacity, less 16)", n, c.maxMsg)
	}
	need := recordHdr + alignUp(n)
	pos := c.tail % c.capacity
	pad := uint64(0)
	if toEnd := c.capacity - pos; need > toEnd {
		pad = toEnd // a padding record fills the rest; the message starts over
	}
	total := pad + need
	err := c.wait(op, timeout, c.s.spaceSeq(), c.s.prodWaiting(), func() (bool, error) {
		head := c.s.head().Load()
		if head > c.tail || c.tail-head > c.capacity {
			return false, c.errorf(op, errs.ErrCorrupt, "head %d does not fit tail %d", head, c.tail)
		}
		return c.capacity-(c.tail-head) >= total, nil
	})
	if err != nil {
		return nil, err
	}
	if pad > 0 {
		c.writeHeader(pos, 0, kindPadding) // it always runs to the end

	}
	c.reserved, c.resPad, c.resLen = true, pad, n
	payload := (c.tail + pad) % c.capacity
	return c.s.bytes(dataOffset+uintptr(payload+recordHdr), n), nil
}

// Commit publishes the first n bytes of the pending reservation as one
// message and wakes the consumer if it sleeps.
func (c *Chan) Commit(n uint64) error {
	const op = "chan_commit"
	if err := c.lock(op); err != nil {
		return err
	}
	defer c.mu.Unlock()
	return c.commit(op, n)
}

func (c *Chan) commit(op string, n uint64) error {
	switch {
	case c.end != Producer:
		return c.errorf(op, errs.ErrInvalid, "only the producer end sends")
	case !c.reserved:
		return c.errorf(op, errs.ErrInvalid, "nothing is reserved")
	case n > c.resLen:
		return c.errorf(op, errs.ErrInvalid, "%d bytes is more than the %d reserved", n, c.resLen)
	}
	c.writeHeader((c.tail+c.resPad)%c.capacity, uint32(n), kindMessage)
	c.tail += c.resPad + recordHdr + alignUp(n)
	c.reserved = false
	c.s.tail().Store(c.tail)
	c.s.dataSeq().Add(1)
	wakeIfWaiting(c.s.dataSeq(), c.s.consWaiting())
	return nil
}

// Send copies msg into the channel as one message, waiting for room.
func (c *Chan) Send(msg []byte, timeout time.Duration) error {
	return c.SendFunc(uint64(len(msg)), timeout, func(dst []byte) error {
		copy(dst, msg)
		return nil
	})
}

// SendFunc waits for room for a message of n bytes, lets fill write it in
// place, and commits it. If fill fails, or faults (it reads memory that
// cannot be read) and the panic unwinds through here, nothing is sent and
// no reservation stays pending to refuse every later send.
func (c *Chan) SendFunc(n uint64, timeout time.Duration, fill func(dst []byte) error) error {
	const op = "chan_send"
	if err := c.lock(op); err != nil {
		return err
	}
	defer c.mu.Unlock()
	buf, err := c.reserve(op, n, timeout)
	if err != nil {
		return err
	}
	defer func() { c.reserved = false }()
	if err := fill(buf); err != nil {
		return err
	}
	return c.commit(op, n)
}

// writeHeader writes a record header. Lengths fit 32 bits: the capacity is
// at most 8 GiB, so a message is under 4 GiB.
func (c *Chan) writeHeader(pos uint64, length, kind uint32) {
	h := c.s.data(pos)
	*(*uint32)(h) = length
	*(*uint32)(unsafe.Add(h, 4)) = kind
	*(*uint64)(unsafe.Add(h, 8)) = 0
}
