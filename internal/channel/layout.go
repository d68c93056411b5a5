// Package channel is a bounded, blocking, zero-copy message ring in a shared
// memory segment: one producer, one consumer, variable-length messages in
// FIFO order, usable from any process that can attach the segment.
//
// The layout in the segment is a contract between processes that may run
// different builds of libshm, so it is versioned and every offset is fixed:
//
//	offset    size  field
//	     0       8  magic "LSHMCHAN"
//	     8       4  layout version (2)
//	    12       4  data offset (4096)
//	    16       8  capacity of the data area in bytes (a multiple of 4096, at most 8 GiB)
//	    24       8  largest message in bytes (capacity/2 - 16)
//	  --- producer cache line ---
//	    64       8  tail: bytes committed since create (only grows)
//	    72       8  producer owner: pid<<32 | start time (0: none); on POSIX
//	                and memfd also the byte its holder OFD-locks (liveness.go)
//	    80       4  closed: 1 once the producer has closed (end of stream)
//	    84       4  data sequence: futex word bumped by every commit and close
//	    88       4  consumer waiting: 1 while the consumer sleeps on it
//	    96       8  producer's pid namespace (inode), System V liveness
//	  --- consumer cache line ---
//	   128       8  head: bytes released since create (only grows)
//	   136       8  consumer owner: pid<<32 | start time (0: none); the
//	                consumer's lock byte on POSIX and memfd
//	   144       4  consumer left: 1 once a consumer has closed its end, 0
//	                again when another opens it
//	   148       4  space sequence: futex word bumped by every release
//	   152       4  producer waiting: 1 while the producer sleeps on it
//	   160       8  consumer's pid namespace (inode), System V liveness
//	  4096  capacity  data area: records
//
// A record is a 16-byte header (length u32, kind u32, 8 reserved bytes)
// followed by the payload, padded to 16 bytes so every payload is 16-byte
// aligned. A message that would not fit before the end of the data area is
// preceded by a padding record (kind 2, length 0) that fills the rest, so no message is ever
// split by the wrap-around; that is why a message may take at most half
// the capacity (less a header): it then always fits once the ring drains.
//
// PROTOCOL.md, beside this file, is the full protocol (memory ordering,
// waiting, liveness, every check that gives ErrCorrupt) that this package
// and the C data plane in capi/ both follow.
//
// The producer and the consumer each write only their own cache line (and
// the records between them, before they are published); any attached
// process may scribble anywhere, so every value read back from shared
// memory is checked before it is used as a length or an offset.
package channel

import (
	"sync/atomic"
	"unsafe"
)

const (
	magic       = "LSHMCHAN"
	version     = 2 // 2: liveness by OFD locks (1 judged pids, wrong across pid namespaces)
	dataOffset  = 4096
	granule     = 4096 // the capacity is rounded up to a multiple of this
	recordHdr   = 16
	recordAlign = 16

	offMagic    = 0
	offVersion  = 8
	offDataOff  = 12
	offCapacity = 16
	offMaxMsg   = 24

	offTail         = 64
	offProducer     = 72
	offClosed       = 80
	offDataSeq      = 84
	offConsWaiting  = 88
	offHead         = 128
	offConsumer     = 136
	offConsLeft     = 144
	offSpaceSeq     = 148
	offProdWaiting  = 152
	offProducerNS   = 96
	offConsumerNS   = 160
	kindMessage     = 1
	kindPadding     = 2
	maxCapacity     = 1 << 33 // 8 GiB: keeps every message length within 32 bits
	minCapacity     = granule
	defaultCapacity = 1 << 20
)

// SegmentSize is the size of the segment that holds a channel of the given
// (already rounded) capacity.
func SegmentSize(capacity uint64) uint64 { return dataOffset + capacity }

// RoundCapacity rounds a requested capacity up to what the layout uses.
func RoundCapacity(capacity uint64) uint64 {
	if capacity < minCapacity {
		return minCapacity
	}
	return (capacity + granule - 1) / granule * granule
}

// MaxMessage is the largest message a channel of this capacity carries.
func MaxMessage(capacity uint64) uint64 { return capacity/2 - recordHdr }

// alignUp rounds n up to the record alignment.
func alignUp(n uint64) uint64 { return (n + recordAlign - 1) &^ (recordAlign - 1) }

// shared gives typed access to the words of a mapped channel.
type shared struct{ base unsafe.Pointer }

func (s shared) u32(off uintptr) *atomic.Uint32 { return (*atomic.Uint32)(unsafe.Add(s.base, off)) }
func (s shared) u64(off uintptr) *atomic.Uint64 { return (*atomic.Uint64)(unsafe.Add(s.base, off)) }

func (s shared) tail() *atomic.Uint64           { return s.u64(offTail) }
func (s shared) head() *atomic.Uint64           { return s.u64(offHead) }
func (s shared) owner(e End) *atomic.Uint64     { return s.u64(ownerOffset(e)) }
func (s shared) closed() *atomic.Uint32         { return s.u32(offClosed) }
func (s shared) dataSeq() *atomic.Uint32        { return s.u32(offDataSeq) }
func (s shared) consWaiting() *atomic.Uint32    { return s.u32(offConsWaiting) }
func (s shared) consLeft() *atomic.Uint32       { return s.u32(offConsLeft) }
func (s shared) spaceSeq() *atomic.Uint32       { return s.u32(offSpaceSeq) }
func (s shared) prodWaiting() *atomic.Uint32    { return s.u32(offProdWaiting) }
func (s shared) data(pos uint64) unsafe.Pointer { return unsafe.Add(s.base, dataOffset+uintptr(pos)) }

func ownerOffset(e End) uintptr {
	if e == Producer {
		return offProducer
	}
	return offConsumer
}

// bytes is the raw view of n bytes at off, for the header fields that are
// written once and for copying payloads.
func (s shared) bytes(off uintptr, n uint64) []byte {
	return unsafe.Slice((*byte)(unsafe.Add(s.base, off)), n)
}
