package channel

import (
	"encoding/binary"
	"testing"
	"unsafe"

	"github.com/libshm/libshm/internal/segment"
)

// FuzzConsumer fills a channel's header and data area with arbitrary bytes,
// as a hostile process attached to the segment could, and drives the
// consumer over it. Whatever it reads, it must neither panic nor touch
// memory outside the segment, and every message it delivers must lie
// inside the data area and within the limit.
func FuzzConsumer(f *testing.F) {
	const capacity = minCapacity
	valid := make([]byte, 256)
	binary.NativeEndian.PutUint64(valid[offTail:], 48)
	f.Add(valid, []byte{5, 0, 0, 0, kindMessage, 0, 0, 0}, uint64(0))
	f.Add(valid, []byte{0, 0, 0, 0, kindPadding, 0, 0, 0}, uint64(0))
	f.Add(valid, []byte{0xff, 0xff, 0xff, 0x7f, kindMessage, 0, 0, 0}, uint64(16))
	f.Fuzz(func(t *testing.T, header, data []byte, head uint64) {
		mem := make([]uint64, SegmentSize(capacity)/8) // 8-byte aligned, like a mapping
		seg := unsafe.Slice((*byte)(unsafe.Pointer(&mem[0])), SegmentSize(capacity))
		initialize(shared{unsafe.Pointer(&seg[0])}, capacity)
		// The fixed header (magic, sizes) is checked at open; fuzz the
		// parts a peer changes while the channel is in use.
		copy(seg[offTail:dataOffset], header)
		copy(seg[dataOffset:], data)
		c := &Chan{
			end: Consumer, key: "fuzz", s: shared{unsafe.Pointer(&seg[0])},
			mapping: segment.Mapping{Addr: unsafe.Pointer(&seg[0]), Size: SegmentSize(capacity)},
			spin:    spinMin, lockFd: -1,
		}
		if err := c.validateHeader(); err != nil {
			t.Fatalf("a fresh header does not validate: %v", err)
		}
		c.head = head &^ (recordAlign - 1)
		lo, hi := uintptr(unsafe.Pointer(&seg[dataOffset])), uintptr(unsafe.Pointer(&seg[0]))+uintptr(len(seg))
		for i := 0; i < 8; i++ {
			msg, err := c.peek("fuzz", 0)
			if err != nil {
				return
			}
			start := uintptrOf(msg)
			if start < lo || start+uintptr(len(msg)) > hi || uint64(len(msg)) > c.maxMsg {
				t.Fatalf("delivered %d bytes at %#x, outside the data area [%#x, %#x)", len(msg), start, lo, hi)
			}
			c.held = false
			c.advance(c.heldSize)
		}
	})
}
