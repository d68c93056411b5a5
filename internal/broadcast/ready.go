package broadcast

import "sync/atomic"

// Ready reports, without changing anything or waiting, whether this end's
// next call would go on at once: a subscriber has a record (or the end of
// the stream), the producer room for a message of the largest size (no
// live subscriber it would have to wait for). For the pure-Go watcher
// (internal/notify), as the C library's pollable ends.
func (b *Bcast) Ready() bool {
	if b.end == Subscriber {
		return b.s.closed().Load() != 0 || b.s.tail().Load() != b.s.slotHead(b.slot).Load()&^heldBit
	}
	need, pos := recordHdr+alignUp(b.maxMsg), b.tail%b.capacity
	if need > b.capacity-pos {
		need += b.capacity - pos
	}
	if b.tail+need <= b.capacity {
		return true
	}
	floor := b.tail + need - b.capacity
	for i := uint32(0); i < b.slots; i++ {
		if b.s.slotOwner(i).Load() == 0 {
			continue
		}
		h := b.s.slotHead(i).Load()
		if h&^heldBit < floor && (b.policy == Lossless || h&heldBit != 0) {
			return false
		}
	}
	return true
}

// WaitWords are the futex word this end sleeps on and its waiting word,
// which makes the other side wake that word; count is true: sleepers
// count themselves in it, and wakers never lower it.
func (b *Bcast) WaitWords() (seq, waiting *atomic.Uint32, count bool) {
	if b.end == Subscriber {
		return b.s.dataSeq(), b.s.subsWaiting(), true
	}
	return b.s.spaceSeq(), b.s.prodWaiting(), true
}
