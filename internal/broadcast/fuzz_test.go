package broadcast

import (
	"encoding/binary"
	"testing"
	"unsafe"

	"github.com/libshm/libshm/internal/segment"
)

// fuzzSegment lays out a fresh broadcast channel in Go memory, then
// overwrites what a hostile process could change while it is in use: the
// producer's words, one slot, the data area.
func fuzzSegment(header, slot, data []byte, policy Policy) (*Bcast, []byte) {
	const capacity, slots = minCapacity, 2
	size := DataOffset(slots) + capacity
	mem := make([]uint64, size/8) // 8-byte aligned, like a mapping
	seg := unsafe.Slice((*byte)(unsafe.Pointer(&mem[0])), size)
	initialize(unsafe.Pointer(&seg[0]), capacity, slots, policy)
	copy(seg[offTail:offSpaceSeq], header)
	copy(seg[slotsOffset:slotsOffset+slotSize], slot)
	copy(seg[DataOffset(slots):], data)
	b := &Bcast{key: "fuzz", s: shared{base: unsafe.Pointer(&seg[0])}, lockFd: -1, spin: spinMin,
		mapping: segment.Mapping{Addr: unsafe.Pointer(&seg[0]), Size: size}}
	return b, seg
}

func fuzzSeeds(f *testing.F) {
	valid := make([]byte, 64)
	binary.NativeEndian.PutUint64(valid[0:], 48) // tail
	binary.NativeEndian.PutUint64(valid[40:], 2) // messages
	slot := make([]byte, 24)
	binary.NativeEndian.PutUint64(slot[0:], 1<<32|1) // an owner
	rec := []byte{5, 0, 0, 0, kindMessage, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0}
	f.Add(valid, slot, rec, uint8(1))
	f.Add(valid, slot, []byte{0, 0, 0, 0, kindPadding, 0, 0, 0}, uint8(2))
	f.Add(valid, slot, []byte{0xff, 0xff, 0xff, 0x7f, kindMessage, 0, 0, 0}, uint8(2))
	held := append([]byte(nil), slot...)
	held[8] = 1
	f.Add(valid, held, rec, uint8(2))
}

// FuzzSubscriber drives a subscriber over arbitrary shared state: it must
// neither panic nor deliver a message outside the data area or over the
// limit.
func FuzzSubscriber(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, header, slot, data []byte, policy uint8) {
		b, seg := fuzzSegment(header, slot, data, Policy(policy%2+1))
		if err := b.validateHeader(); err != nil {
			t.Fatalf("a fresh header does not validate: %v", err)
		}
		b.end, b.slot = Subscriber, 0
		lo := uintptr(unsafe.Pointer(&seg[b.s.dataOff]))
		hi := uintptr(unsafe.Pointer(&seg[0])) + uintptr(len(seg))
		for i := 0; i < 8; i++ {
			msg, err := b.peek("fuzz", 0)
			if err != nil {
				return
			}
			start := uintptr(unsafe.Pointer(unsafe.SliceData(msg)))
			if len(msg) > 0 && (start < lo || start+uintptr(len(msg)) > hi) || uint64(len(msg)) > b.maxMsg {
				t.Fatalf("delivered %d bytes at %#x, outside the data area [%#x, %#x)", len(msg), start, lo, hi)
			}
			b.held = false
			b.advance(b.heldAt + b.heldSize)
		}
	})
}

// FuzzProducer drives a producer that has taken over arbitrary shared
// state (as a new producer does, from the words it checks at open): every
// send either fails with a code or writes inside the data area, and never
// panics, under both policies.
func FuzzProducer(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, header, slot, data []byte, policy uint8) {
		b, _ := fuzzSegment(header, slot, data, Policy(policy%2+1))
		if err := b.validateHeader(); err != nil {
			t.Fatalf("a fresh header does not validate: %v", err)
		}
		b.end = Producer
		tail, oldest := b.s.tail().Load(), b.s.u64(offOldest).Load()
		if tail%recordAlign != 0 || (b.policy == OverwriteOldest && (oldest > tail || tail-oldest > b.capacity || oldest%recordAlign != 0)) {
			return // refused at open
		}
		b.tail, b.oldest, b.messages = tail, oldest, b.s.u64(offMessages).Load()
		for i := 0; i < 8; i++ {
			if err := b.Send(make([]byte, 300*i), 0); err != nil {
				return
			}
		}
	})
}
