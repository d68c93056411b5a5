// Package broadcast is a one-to-many message ring in a shared memory
// segment: one producer, up to 1024 subscribers, each of which receives
// every message in order, in place (the payload is written once).
// Subscribers join and leave at any time; a late joiner starts at the next
// message. The policy, chosen at create, says what a slow subscriber does
// to the producer: Lossless makes it wait; OverwriteOldest lets it go on,
// and the subscriber skips ahead and is told how many messages it lost.
//
// PROTOCOL.md, beside this file, is the layout and every rule, which this
// package and the C data plane in capi/bcast_*.c both follow. The record
// format, the waiting and the producer's liveness are the channel's
// (internal/channel); a subscriber's liveness is an OFD lock on the byte of
// its slot, so broadcast channels live on POSIX and memfd segments only.
package broadcast

import (
	"sync/atomic"
	"unsafe"
)

// Policy says whether a slow subscriber holds the producer back.
type Policy uint32

const (
	Lossless        Policy = 1 // the producer waits for the slowest live subscriber
	OverwriteOldest Policy = 2 // the producer overwrites; a lagging subscriber skips ahead
)

func (p Policy) String() string {
	if p == OverwriteOldest {
		return "overwrite-oldest"
	}
	return "lossless"
}

const (
	magic       = "LSHMBCST"
	version     = 1
	granule     = 4096
	recordHdr   = 16
	recordAlign = 16
	slotSize    = 64
	slotsOffset = 4096

	// MaxSlots is the most subscribers a broadcast channel has room for.
	MaxSlots = 1024
	// DefaultSlots is what a create that names none gets.
	DefaultSlots = 64

	offMagic    = 0
	offVersion  = 8
	offDataOff  = 12
	offCapacity = 16
	offMaxMsg   = 24
	offSlots    = 32
	offPolicy   = 36
	offJoins    = 40

	offTail        = 64
	offProducer    = 72
	offClosed      = 80
	offDataSeq     = 84
	offSubsWaiting = 88
	offOldest      = 96
	offMessages    = 104
	offSpaceSeq    = 148
	offProdWaiting = 152

	kindMessage = 1
	kindPadding = 2
	heldBit     = 1
	maxCapacity = 1 << 33
	minCapacity = granule
)

// DataOffset is where the data area starts in a channel with n slots.
func DataOffset(slots uint32) uint64 {
	return slotsOffset + (uint64(slots)*slotSize+granule-1)/granule*granule
}

// RoundCapacity rounds a requested capacity up to what the layout uses.
func RoundCapacity(capacity uint64) uint64 {
	if capacity < minCapacity {
		return minCapacity
	}
	return (capacity + granule - 1) / granule * granule
}

// MaxMessage is the largest message a channel of this capacity carries.
func MaxMessage(capacity uint64) uint64 { return capacity/2 - recordHdr }

func alignUp(n uint64) uint64 { return (n + recordAlign - 1) &^ (recordAlign - 1) }

func slotOffset(i uint32) uintptr { return slotsOffset + uintptr(i)*slotSize }

// shared gives typed access to the words of a mapped broadcast channel.
type shared struct {
	base    unsafe.Pointer
	dataOff uintptr
}

func (s shared) u32(off uintptr) *atomic.Uint32 { return (*atomic.Uint32)(unsafe.Add(s.base, off)) }
func (s shared) u64(off uintptr) *atomic.Uint64 { return (*atomic.Uint64)(unsafe.Add(s.base, off)) }

func (s shared) tail() *atomic.Uint64              { return s.u64(offTail) }
func (s shared) closed() *atomic.Uint32            { return s.u32(offClosed) }
func (s shared) dataSeq() *atomic.Uint32           { return s.u32(offDataSeq) }
func (s shared) subsWaiting() *atomic.Uint32       { return s.u32(offSubsWaiting) }
func (s shared) spaceSeq() *atomic.Uint32          { return s.u32(offSpaceSeq) }
func (s shared) prodWaiting() *atomic.Uint32       { return s.u32(offProdWaiting) }
func (s shared) slotOwner(i uint32) *atomic.Uint64 { return s.u64(slotOffset(i)) }
func (s shared) slotHead(i uint32) *atomic.Uint64  { return s.u64(slotOffset(i) + 8) }
func (s shared) slotLost(i uint32) *atomic.Uint64  { return s.u64(slotOffset(i) + 16) }
func (s shared) data(pos uint64) unsafe.Pointer    { return unsafe.Add(s.base, s.dataOff+uintptr(pos)) }
func (s shared) bytes(pos, n uint64) []byte {
	return unsafe.Slice((*byte)(s.data(pos)), n)
}

// header is one record header, read once: the values checked are the
// values used.
type header struct {
	length uint64
	kind   uint32
	number uint64
}

func (s shared) header(pos uint64) header {
	h := s.data(pos)
	return header{
		length: uint64(*(*uint32)(h)),
		kind:   *(*uint32)(unsafe.Add(h, 4)),
		number: *(*uint64)(unsafe.Add(h, 8)),
	}
}

func (s shared) writeHeader(pos uint64, length, kind uint32, number uint64) {
	h := s.data(pos)
	*(*uint32)(h) = length
	*(*uint32)(unsafe.Add(h, 4)) = kind
	*(*uint64)(unsafe.Add(h, 8)) = number
}
