package broadcast

import (
	"time"

	"github.com/libshm/libshm/internal/errs"
	"github.com/libshm/libshm/internal/ringwait"
)

// Reserve waits until a message of n bytes may be written and returns the
// place to write it; it stays invisible to subscribers until Commit.
func (b *Bcast) Reserve(n uint64, timeout time.Duration) ([]byte, error) {
	const op = "chan_reserve"
	if err := b.lock(op); err != nil {
		return nil, err
	}
	defer b.mu.Unlock()
	return b.reserve(op, n, timeout)
}

func (b *Bcast) reserve(op string, n uint64, timeout time.Duration) ([]byte, error) {
	switch {
	case b.end != Producer:
		return nil, b.errorf(op, errs.ErrInvalid, "only the producer end sends")
	case b.reserved:
		return nil, b.errorf(op, errs.ErrInvalid, "a reservation is pending; commit it first")
	case n > b.maxMsg:
		return nil, b.errorf(op, errs.ErrTooLarge, "%d bytes is over this channel's limit of %d (half its capacity, less 16)", n, b.maxMsg)
	}
	need := recordHdr + alignUp(n)
	pos := b.tail % b.capacity
	pad := uint64(0)
	if toEnd := b.capacity - pos; need > toEnd {
		pad = toEnd
	}
	floor := uint64(0)
	if b.tail+pad+need > b.capacity {
		floor = b.tail + pad + need - b.capacity
	}
	err := b.wait(op, timeout, b.s.spaceSeq(), b.s.prodWaiting(),
		func() (bool, error) { return b.room(op, floor) },
		func() error { b.reapSlots(floor); return nil })
	if err != nil {
		return nil, err
	}
	if pad > 0 {
		b.s.writeHeader(pos, 0, kindPadding, 0)
	}
	b.reserved, b.resPad, b.resLen = true, pad, n
	return b.s.bytes((b.tail+pad)%b.capacity+recordHdr, n), nil
}

// room reports whether no live subscriber needs a byte before floor, and
// under overwrite-oldest moves the heads of those that lag and hold
// nothing to the oldest record kept.
func (b *Bcast) room(op string, floor uint64) (bool, error) {
	// oldest first, also when no subscriber needs looking at: the records
	// about to be overwritten must not stay counted as kept.
	if b.policy == OverwriteOldest {
		if err := b.advanceOldest(op, floor); err != nil {
			return false, err
		}
	}
	if floor <= b.limit {
		return true, nil
	}
	least := b.tail
	for i := uint32(0); i < b.slots; i++ {
		if b.s.slotOwner(i).Load() == 0 {
			continue
		}
		head := b.s.slotHead(i)
		for {
			h := head.Load()
			hp := h &^ heldBit
			if hp > b.tail || b.tail-hp > b.capacity || hp%recordAlign != 0 {
				return false, b.errorf(op, errs.ErrCorrupt, "subscriber %d's head %d does not fit tail %d", i, hp, b.tail)
			}
			if hp >= floor || b.policy == Lossless || h&heldBit != 0 {
				if hp < floor {
					return false, nil
				}
				least = min(least, hp)
				break
			}
			skipped, err := b.messagesBetween(op, hp)
			if err != nil {
				return false, err
			}
			if head.CompareAndSwap(h, b.oldest) {
				b.s.slotLost(i).Add(skipped)
				least = min(least, b.oldest)
				break
			}
		}
	}
	b.limit = least
	return true, nil
}

// advanceOldest walks records from oldest until it reaches floor, checking
// each as a subscriber would.
func (b *Bcast) advanceOldest(op string, floor uint64) error {
	for b.oldest < floor {
		pos := b.oldest % b.capacity
		toEnd := b.capacity - pos
		h := b.s.header(pos)
		switch {
		case h.kind == kindPadding && b.oldest+toEnd <= b.tail:
			b.oldest += toEnd
		case h.kind == kindMessage && h.length <= b.maxMsg && recordHdr+alignUp(h.length) <= toEnd &&
			b.oldest+recordHdr+alignUp(h.length) <= b.tail:
			b.oldest += recordHdr + alignUp(h.length)
		default:
			return b.errorf(op, errs.ErrCorrupt, "bad record at offset %d: kind %d, length %d (oldest %d, tail %d)", pos, h.kind, h.length, b.oldest, b.tail)
		}
	}
	return nil
}

// messagesBetween counts the messages from pos, a record boundary no
// older than the oldest record kept, up to oldest: what a subscriber at
// pos loses when moved to oldest.
func (b *Bcast) messagesBetween(op string, pos uint64) (uint64, error) {
	from, err := b.numberAt(op, pos)
	if err != nil {
		return 0, err
	}
	to, err := b.numberAt(op, b.oldest)
	if err != nil || to < from {
		return 0, b.errorf(op, errs.ErrCorrupt, "message numbers at %d and %d out of order", pos, b.oldest)
	}
	return to - from, nil
}

// numberAt is the number of the first message at or after the record
// boundary pos (pos <= tail, its records not yet overwritten).
func (b *Bcast) numberAt(op string, pos uint64) (uint64, error) {
	for i := 0; i < 2 && pos < b.tail; i++ {
		at := pos % b.capacity
		h := b.s.header(at)
		switch {
		case h.kind == kindMessage && h.number != 0 && h.number <= b.messages:
			return h.number, nil
		case h.kind == kindPadding && i == 0:
			pos += b.capacity - at
		default:
			return 0, b.errorf(op, errs.ErrCorrupt, "bad record at offset %d: kind %d, number %d", at, h.kind, h.number)
		}
	}
	if pos != b.tail {
		return 0, b.errorf(op, errs.ErrCorrupt, "no message after padding at %d (tail %d)", pos, b.tail)
	}
	return b.messages + 1, nil
}

// reapSlots frees the slots of dead subscribers that hold the producer
// back: their lock is free but their owner word is not. The word names the
// join, so a subscriber that took the slot meanwhile keeps it.
func (b *Bcast) reapSlots(floor uint64) {
	for i := uint32(0); i < b.slots; i++ {
		o := b.s.slotOwner(i).Load()
		if o == 0 || b.s.slotHead(i).Load()&^heldBit >= floor || ringwait.LockHeld(b.lockFd, slotOffset(i)) {
			continue
		}
		b.s.slotOwner(i).CompareAndSwap(o, 0)
	}
}

// Commit publishes the first n bytes of the reservation as one message and
// wakes sleeping subscribers.
func (b *Bcast) Commit(n uint64) error {
	const op = "chan_commit"
	if err := b.lock(op); err != nil {
		return err
	}
	defer b.mu.Unlock()
	return b.commit(op, n)
}

func (b *Bcast) commit(op string, n uint64) error {
	switch {
	case b.end != Producer:
		return b.errorf(op, errs.ErrInvalid, "only the producer end sends")
	case !b.reserved:
		return b.errorf(op, errs.ErrInvalid, "nothing is reserved")
	case n > b.resLen:
		return b.errorf(op, errs.ErrInvalid, "%d bytes is more than the %d reserved", n, b.resLen)
	}
	b.messages++
	b.s.writeHeader((b.tail+b.resPad)%b.capacity, uint32(n), kindMessage, b.messages)
	b.tail += b.resPad + recordHdr + alignUp(n)
	b.reserved = false
	b.s.tail().Store(b.tail)
	b.s.u64(offMessages).Store(b.messages)
	if b.policy == OverwriteOldest {
		b.s.u64(offOldest).Store(b.oldest)
	}
	ringwait.Bump(b.s.dataSeq(), b.s.subsWaiting())
	return nil
}

// Send copies msg into the channel as one message.
func (b *Bcast) Send(msg []byte, timeout time.Duration) error {
	return b.SendFunc(uint64(len(msg)), timeout, func(dst []byte) error {
		copy(dst, msg)
		return nil
	})
}

// SendFunc reserves n bytes, lets fill write them in place, and commits.
// If fill fails or faults, nothing is sent and no reservation stays.
func (b *Bcast) SendFunc(n uint64, timeout time.Duration, fill func(dst []byte) error) error {
	const op = "chan_send"
	if err := b.lock(op); err != nil {
		return err
	}
	defer b.mu.Unlock()
	buf, err := b.reserve(op, n, timeout)
	if err != nil {
		return err
	}
	defer func() { b.reserved = false }()
	if err := fill(buf); err != nil {
		return err
	}
	return b.commit(op, n)
}
