package broadcast

import (
	"encoding/binary"
	"fmt"
	"os"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/libshm/libshm/internal/errs"
	"github.com/libshm/libshm/internal/keys"
	"github.com/libshm/libshm/internal/proc"
	"github.com/libshm/libshm/internal/ringwait"
	"github.com/libshm/libshm/internal/segment"
)

// End is one side of a broadcast channel. The values are those of the C
// API (SHMLIB_CHAN_PRODUCER, SHMLIB_CHAN_SUBSCRIBER).
type End int

const (
	Producer   End = 1
	Subscriber End = 3
)

func (e End) String() string {
	if e == Producer {
		return "producer"
	}
	return "subscriber"
}

// Bcast is one open end of a broadcast channel in this process, used by
// one thread at a time (a concurrent call gets ErrBusy).
type Bcast struct {
	mu       sync.Mutex
	end      End
	key      string
	mapping  segment.Mapping
	lockFd   int
	s        shared
	capacity uint64 // local copies of the header: never re-read
	maxMsg   uint64
	slots    uint32
	policy   Policy
	spin     time.Duration

	// Producer.
	tail     uint64
	oldest   uint64 // overwrite-oldest: start of the oldest record kept
	messages uint64 // messages committed
	limit    uint64 // every live subscriber's head was at least this when last looked
	reserved bool
	resPad   uint64
	resLen   uint64

	// Subscriber.
	slot     uint32
	held     bool
	heldAt   uint64 // head of the held record
	heldSize uint64

	closed bool
}

// Create makes a segment holding an empty broadcast channel with a data
// area of at least capacity bytes and room for slots subscribers (0:
// DefaultSlots), and returns its canonical key. Only POSIX and memfd keys:
// a subscriber's liveness is a lock on the segment's file.
func Create(key string, capacity uint64, slots uint32, policy Policy, opt segment.CreateOptions) (string, error) {
	const op = "bcast_create"
	shown := segment.DisplayKey(key)
	if slots == 0 {
		slots = DefaultSlots
	}
	switch {
	case opt.OpenExisting:
		return "", errs.New(op, shown, errs.ErrInvalid, "a broadcast channel is always created new: SHMLIB_OPEN_EXISTING does not apply")
	case capacity == 0 || capacity > maxCapacity:
		return "", errs.New(op, shown, errs.ErrInvalid, fmt.Sprintf("capacity %d is outside 1..%d bytes", capacity, uint64(maxCapacity)))
	case slots > MaxSlots:
		return "", errs.New(op, shown, errs.ErrInvalid, fmt.Sprintf("%d subscribers is over the limit of %d", slots, MaxSlots))
	case policy != Lossless && policy != OverwriteOldest:
		return "", errs.New(op, shown, errs.ErrInvalid, fmt.Sprintf("policy %d is neither lossless (1) nor overwrite-oldest (2)", policy))
	}
	if k, err := keys.Parse(key); err == nil && k.Backend == keys.SysV {
		return "", errs.New(op, shown, errs.ErrNotSupported,
			"broadcast channels need a POSIX or memfd segment: a subscriber's liveness is a lock on the segment's file, which System V segments lack")
	}
	capacity = RoundCapacity(capacity)
	made, err := segment.Create(key, DataOffset(slots)+capacity, opt)
	if err != nil {
		return "", relabel(err, op)
	}
	m, err := segment.Map(made.Key, segment.AttachOptions{})
	if err != nil {
		segment.Destroy(made.Key)
		return "", relabel(err, op)
	}
	initialize(m.Addr, capacity, slots, policy)
	segment.Unmap(m)
	return made.Key, nil
}

var magicWord = binary.NativeEndian.Uint64([]byte(magic))

// initialize writes the header of a new, zero-filled segment; the magic
// goes last, so that an early opener sees "not a broadcast channel".
func initialize(base unsafe.Pointer, capacity uint64, slots uint32, policy Policy) {
	s := shared{base: base}
	s.u32(offVersion).Store(version)
	s.u32(offDataOff).Store(uint32(DataOffset(slots)))
	s.u64(offCapacity).Store(capacity)
	s.u64(offMaxMsg).Store(MaxMessage(capacity))
	s.u32(offSlots).Store(slots)
	s.u32(offPolicy).Store(uint32(policy))
	s.u64(offMagic).Store(magicWord)
}

// Probe reports whether the segment info describes holds a broadcast
// channel, by its magic.
func Probe(info *segment.Info) bool {
	if info.Size < DataOffset(1)+minCapacity || info.Backend == keys.SysV {
		return false
	}
	return string(segment.Head(info, len(magic))) == magic
}

// Open attaches the broadcast channel named by key and takes its producer
// end, or joins as a subscriber.
func Open(key string, end End) (*Bcast, error) {
	const op = "chan_open"
	if end != Producer && end != Subscriber {
		return nil, errs.New(op, key, errs.ErrInvalid, fmt.Sprintf("end %d is neither producer (1) nor subscriber (3)", end))
	}
	m, err := segment.Map(key, segment.AttachOptions{})
	if err != nil {
		return nil, relabel(err, op)
	}
	fd, err := segment.OpenFile(m)
	if err != nil {
		segment.Unmap(m)
		return nil, relabel(err, op)
	}
	b := &Bcast{end: end, key: m.Key, mapping: m, lockFd: fd, s: shared{base: m.Addr}, spin: spinStart}
	if err := b.join(); err != nil {
		b.unmap()
		return nil, err
	}
	return b, nil
}

func (b *Bcast) unmap() error {
	if b.lockFd >= 0 {
		unix.Close(b.lockFd)
		b.lockFd = -1
	}
	return segment.Unmap(b.mapping)
}

func (b *Bcast) validateHeader() error {
	const op = "chan_open"
	s := b.s
	if b.mapping.Size < slotsOffset || s.u64(offMagic).Load() != magicWord {
		return b.errorf(op, errs.ErrInvalid, "not a broadcast channel (no broadcast header; was it made by shmlib_bcast_create?)")
	}
	v, off := s.u32(offVersion).Load(), uint64(s.u32(offDataOff).Load())
	capacity, maxMsg := s.u64(offCapacity).Load(), s.u64(offMaxMsg).Load()
	slots, policy := s.u32(offSlots).Load(), Policy(s.u32(offPolicy).Load())
	switch {
	case v != version:
		return b.errorf(op, errs.ErrNotSupported, "broadcast layout version %d; this libshm reads version %d", v, version)
	case slots == 0 || slots > MaxSlots || off != DataOffset(slots) || (policy != Lossless && policy != OverwriteOldest) ||
		capacity < minCapacity || capacity > maxCapacity || capacity%granule != 0 ||
		off+capacity != b.mapping.Size || maxMsg != MaxMessage(capacity):
		return b.errorf(op, errs.ErrCorrupt, "the header does not fit the segment (capacity %d, %d slots, data offset %d, segment %d bytes)",
			capacity, slots, off, b.mapping.Size)
	}
	b.capacity, b.maxMsg, b.slots, b.policy = capacity, maxMsg, slots, policy
	b.s.dataOff = uintptr(off)
	return nil
}

// join checks the header and takes the producer end or a subscriber slot.
func (b *Bcast) join() error {
	const op = "chan_open"
	if err := b.validateHeader(); err != nil {
		return err
	}
	if b.lockFd < 0 {
		return b.errorf(op, errs.ErrNotSupported, "a broadcast channel on a System V segment: subscribers' liveness needs a file")
	}
	if b.end == Producer {
		return b.joinProducer(op)
	}
	return b.joinSubscriber(op)
}

func (b *Bcast) joinProducer(op string) error {
	if b.s.closed().Load() != 0 {
		return b.errorf(op, errs.ErrEndOfStream, "the channel is closed: its producer ended the stream")
	}
	got, err := ringwait.TryLock(b.lockFd, offProducer)
	if err != nil {
		return b.errorf(op, errs.ErrOS, "cannot lock the producer end: %v", err)
	}
	if !got {
		return b.errorf(op, errs.ErrBusy, "its producer end is held by pid %d", b.s.u64(offProducer).Load()>>32)
	}
	tail, oldest := b.s.tail().Load(), b.s.u64(offOldest).Load()
	if tail%recordAlign != 0 || (b.policy == OverwriteOldest && (oldest > tail || tail-oldest > b.capacity || oldest%recordAlign != 0)) {
		return b.errorf(op, errs.ErrCorrupt, "tail %d and oldest %d are inconsistent", tail, oldest)
	}
	b.tail, b.oldest, b.messages = tail, oldest, b.s.u64(offMessages).Load()
	b.s.u64(offProducer).Store(selfWord)
	return nil
}

func (b *Bcast) joinSubscriber(op string) error {
	for i := uint32(0); i < b.slots; i++ {
		got, err := ringwait.TryLock(b.lockFd, slotOffset(i))
		if err != nil {
			return b.errorf(op, errs.ErrOS, "cannot lock subscriber slot %d: %v", i, err)
		}
		if !got {
			continue
		}
		b.slot = i
		head := b.s.slotHead(i)
		head.Store(b.s.tail().Load())
		b.s.slotLost(i).Store(0)
		n := b.s.u32(offJoins).Add(1)
		b.s.slotOwner(i).Store(uint64(os.Getpid())<<32 | uint64(n)) // pid > 0: never 0
		t := b.s.tail().Load()
		for {
			h := head.Load()
			if h&^heldBit >= t || head.CompareAndSwap(h, t) {
				break
			}
		}
		return nil
	}
	return b.errorf(op, errs.ErrBusy, "all %d subscriber slots are taken by live processes", b.slots)
}

// Ring is what the C data plane needs to run this end without Go. After
// it, the C side owns the positions: this Bcast is used only to close or
// hand over.
type Ring struct {
	Base                         unsafe.Pointer
	DataOffset, Capacity, MaxMsg uint64
	Slots, Policy, Slot          uint32
	Tail, Oldest, Messages       uint64
	LockFd                       int
}

// Ring describes this end to the C data plane.
func (b *Bcast) Ring() Ring {
	return Ring{Base: b.s.base, DataOffset: uint64(b.s.dataOff), Capacity: b.capacity, MaxMsg: b.maxMsg,
		Slots: b.slots, Policy: uint32(b.policy), Slot: b.slot,
		Tail: b.tail, Oldest: b.oldest, Messages: b.messages, LockFd: b.lockFd}
}

// Key is the canonical key of the channel's segment.
func (b *Bcast) Key() string { return b.key }

// End says which end this is.
func (b *Bcast) End() End { return b.end }

// Policy is the policy the channel was created with.
func (b *Bcast) Policy() Policy { return b.policy }

// MaxMessage is the largest message this channel carries.
func (b *Bcast) MaxMessage() uint64 { return b.maxMsg }

// Close leaves the end. The producer's close ends the stream: subscribers
// drain what was committed, then get ErrEndOfStream. A subscriber's close
// frees its slot and stops holding the producer back. A pending
// reservation or a held message is dropped.
func (b *Bcast) Close() error { return b.leave("chan_close", true) }

// Handover leaves the end without closing the stream: a producer's end can
// be opened by another process, which continues the stream. For a
// subscriber it is a close (a subscriber is not handed over: a new one
// starts at the next message).
func (b *Bcast) Handover() error { return b.leave("chan_handover", false) }

func (b *Bcast) leave(op string, closing bool) error {
	if err := b.lock(op); err != nil {
		return err
	}
	defer b.mu.Unlock()
	b.closed = true
	b.release(closing)
	return b.unmap()
}

// release gives up the end in the shared state; a fault (a peer truncated
// the segment) is swallowed so that the caller still unmaps.
func (b *Bcast) release(closing bool) {
	defer func() {
		if r := recover(); r != nil {
			if _, fault := r.(interface{ Addr() uintptr }); !fault {
				panic(r)
			}
		}
	}()
	if b.end == Subscriber {
		b.s.slotOwner(b.slot).Store(0)
		ringwait.Bump(b.s.spaceSeq(), b.s.prodWaiting())
		return
	}
	b.s.u64(offProducer).CompareAndSwap(selfWord, 0)
	if closing {
		b.s.closed().Store(1)
		b.s.dataSeq().Add(1)
		ringwait.WakeAll(b.s.dataSeq())
	}
}

func (b *Bcast) lock(op string) error {
	if !b.mu.TryLock() {
		return b.errorf(op, errs.ErrBusy, "another thread is in a call on this %s end; an end is used by one thread at a time", b.end)
	}
	if b.closed {
		b.mu.Unlock()
		return b.errorf(op, errs.ErrInvalid, "this %s end is closed", b.end)
	}
	return nil
}

func (b *Bcast) errorf(op string, code errs.Code, format string, args ...any) *errs.Error {
	return errs.New(op, b.key, code, fmt.Sprintf(format, args...))
}

func relabel(err error, op string) error {
	if e, ok := err.(*errs.Error); ok {
		e2 := *e
		e2.Op = op
		return &e2
	}
	return err
}

// selfWord is the producer's owner word: pid<<32 | start time, as a
// channel's (informative: liveness is the lock).
var selfWord = func() uint64 {
	pid := os.Getpid()
	return uint64(pid)<<32 | uint64(uint32(proc.StartTime(pid)))
}()

// Head is a subscriber's head now (where it reads next).
func (b *Bcast) Head() uint64 { return b.s.slotHead(b.slot).Load() &^ heldBit }
