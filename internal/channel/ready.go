package channel

import "sync/atomic"

// Ready reports, without changing anything or waiting, whether this end's
// next call would go on at once: a consumer has a record (or the end of
// the stream), a producer room for a message of the largest size. It is
// what the C library's shmlib_chan_wait_any and pollable ends look at, for
// the pure-Go watcher (internal/notify). A scribbled head or tail counts
// as ready: the next call reports it.
func (c *Chan) Ready() bool {
	if c.end == Consumer {
		return c.s.closed().Load() != 0 || c.s.tail().Load() != c.head
	}
	return c.s.head().Load() >= largestFloor(c.tail, c.capacity, c.maxMsg)
}

// WaitWords are the futex word this end sleeps on and its waiting word,
// which makes the peer wake that word (PROTOCOL.md, "Waiting"); count is
// false: a channel's is a flag, which the waker lowers.
func (c *Chan) WaitWords() (seq, waiting *atomic.Uint32, count bool) {
	if c.end == Consumer {
		return c.s.dataSeq(), c.s.consWaiting(), false
	}
	return c.s.spaceSeq(), c.s.prodWaiting(), false
}

// largestFloor is where a message of the largest size sent at tail would
// start overwriting: the bytes before it must have been released.
func largestFloor(tail, capacity, maxMsg uint64) uint64 {
	need, pos := recordHdr+alignUp(maxMsg), tail%capacity
	if need > capacity-pos {
		need += capacity - pos
	}
	if tail+need <= capacity {
		return 0
	}
	return tail + need - capacity
}
