package channel

import (
	"encoding/binary"
	"fmt"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/libshm/libshm/internal/errs"
	"github.com/libshm/libshm/internal/segment"
)

// End is one side of a channel.
type End int

const (
	Producer End = 1
	Consumer End = 2
)

func (e End) String() string {
	if e == Producer {
		return "producer"
	}
	return "consumer"
}

// Chan is one open end of a channel in this process. An end is used by one
// thread at a time: a call that finds another one in flight on the same end
// fails with ErrBusy instead of corrupting the ring.
type Chan struct {
	mu       sync.Mutex
	end      End
	key      string
	mapping  segment.Mapping
	lockFd   int // the segment's file, OFD-locked at this end's byte; -1 on System V
	s        shared
	capacity uint64 // local copies: never re-read from shared memory
	maxMsg   uint64
	spin     time.Duration // adaptive spin budget before sleeping, see wait

	// Producer: its own copy of tail, and the pending reservation.
	tail     uint64
	reserved bool
	resPad   uint64 // padding record placed before the reserved one
	resLen   uint64

	// Consumer: its own copy of head, and the message being held.
	head     uint64
	held     bool
	heldSize uint64 // bytes to release: record header and padded payload

	closed bool
}

// Create makes a segment holding an empty channel of at least capacity
// bytes of data area and returns its canonical key.
//
// opt is the segment's; a channel is always new, so OpenExisting is refused.
func Create(key string, capacity uint64, opt segment.CreateOptions) (string, error) {
	const op = "chan_create"
	if opt.OpenExisting {
		return "", errs.New(op, segment.DisplayKey(key), errs.ErrInvalid, "a channel is always created new: SHMLIB_OPEN_EXISTING does not apply")
	}
	if capacity == 0 || capacity > maxCapacity {
		return "", errs.New(op, segment.DisplayKey(key), errs.ErrInvalid,
			fmt.Sprintf("capacity %d is outside 1..%d bytes", capacity, uint64(maxCapacity)))
	}
	capacity = RoundCapacity(capacity)
	made, err := segment.Create(key, SegmentSize(capacity), opt)
	if err != nil {
		return "", relabel(err, op)
	}
	m, err := segment.Map(made.Key, segment.AttachOptions{})
	if err != nil {
		segment.Destroy(made.Key)
		return "", relabel(err, op)
	}
	initialize(shared{m.Addr}, capacity)
	segment.Unmap(m)
	return made.Key, nil
}

// initialize writes the header of a new, zero-filled channel segment. The
// magic goes last, so that a process opening the channel early sees "not a
// channel" rather than half a header.
func initialize(s shared, capacity uint64) {
	s.u32(offVersion).Store(version)
	s.u32(offDataOff).Store(dataOffset)
	s.u64(offCapacity).Store(capacity)
	s.u64(offMaxMsg).Store(MaxMessage(capacity))
	s.u64(offMagic).Store(magicWord)
}

// magicWord is the magic as one word in this machine's byte order, so that
// a single atomic store publishes it and the bytes read "LSHMCHAN".
var magicWord = binary.NativeEndian.Uint64([]byte(magic))

// Probe reports whether the segment info describes holds a channel, by its
// magic. Only segments whose size a channel could have are read, which
// spares most others the read-only attach a System V read needs.
func Probe(info *segment.Info) bool {
	size := info.Size
	if size < SegmentSize(minCapacity) || size > SegmentSize(maxCapacity) || size%granule != 0 {
		return false
	}
	return string(segment.Head(info, len(magic))) == magic
}

// Open attaches the channel named by key and takes one of its ends.
func Open(key string, end End) (*Chan, error) {
	const op = "chan_open"
	if end != Producer && end != Consumer {
		return nil, errs.New(op, key, errs.ErrInvalid, fmt.Sprintf("end %d is neither producer (1) nor consumer (2)", end))
	}
	// Map, not Attach: shmlib_detach must not be able to pull the ring
	// from under its end.
	m, err := segment.Map(key, segment.AttachOptions{})
	if err != nil {
		return nil, relabel(err, op)
	}
	fd, err := segment.OpenFile(m)
	if err != nil {
		segment.Unmap(m)
		return nil, relabel(err, op)
	}
	c := &Chan{end: end, key: m.Key, mapping: m, lockFd: fd, s: shared{m.Addr}, spin: spinStart}
	if err := c.join(); err != nil {
		c.unmap()
		return nil, err
	}
	return c, nil
}

// unmap ends the mapping and closes the lock file (dropping the lock).
func (c *Chan) unmap() error {
	if c.lockFd >= 0 {
		unix.Close(c.lockFd)
		c.lockFd = -1
	}
	return segment.Unmap(c.mapping)
}

// join checks the header and takes ownership of the end.
func (c *Chan) join() error {
	const op = "chan_open"
	if err := c.validateHeader(); err != nil {
		return err
	}
	if c.end == Producer && c.s.closed().Load() != 0 {
		return c.errorf(op, errs.ErrEndOfStream, "the channel is closed: its producer ended the stream")
	}
	if err := c.take(op); err != nil {
		return err
	}
	word := c.s.owner(c.end)
	if c.end == Consumer {
		c.s.consLeft().Store(0)
	}
	head, tail := c.s.head().Load(), c.s.tail().Load()
	if tail < head || tail-head > c.capacity || tail%recordAlign != 0 || head%recordAlign != 0 {
		word.CompareAndSwap(uint64(self), 0)
		return c.errorf(op, errs.ErrCorrupt, "head %d and tail %d are inconsistent", head, tail)
	}
	c.head, c.tail = head, tail
	return nil
}

// take makes this process the holder of the end, if its holder is gone:
// by its OFD lock (POSIX, memfd), or by a CAS of its owner word judged by
// pid in this namespace (System V).
func (c *Chan) take(op string) error {
	word := c.s.owner(c.end)
	if c.lockFd >= 0 {
		got, err := tryLock(c.lockFd, ownerOffset(c.end))
		if err != nil {
			return c.errorf(op, errs.ErrOS, "cannot lock the %s end: %v", c.end, err)
		}
		if !got {
			return c.errorf(op, errs.ErrBusy, "its %s end is held by pid %d", c.end, owner(word.Load()).pid())
		}
		word.Store(uint64(self))
		return nil
	}
	for {
		o := owner(word.Load())
		if o != 0 && pidAlive(o, c.s.u64(nsOffset(c.end)).Load()) {
			if c.s.u64(nsOffset(c.end)).Load() != selfNS {
				return c.errorf(op, errs.ErrBusy, "its %s end is held by pid %d of another pid namespace, whose life a System V channel cannot judge from here (use a POSIX or memfd channel across namespaces)", c.end, o.pid())
			}
			return c.errorf(op, errs.ErrBusy, "its %s end is held by pid %d", c.end, o.pid())
		}
		// Free, or its holder died: take it over.
		if word.CompareAndSwap(uint64(o), uint64(self)) {
			c.s.u64(nsOffset(c.end)).Store(selfNS)
			return nil
		}
	}
}

func (c *Chan) validateHeader() error {
	const op = "chan_open"
	s := c.s
	if c.mapping.Size < dataOffset || s.u64(offMagic).Load() != magicWord {
		return c.errorf(op, errs.ErrInvalid, "not a channel (no channel header; was it made by shmlib_chan_create?)")
	}
	v, off := s.u32(offVersion).Load(), s.u32(offDataOff).Load()
	capacity, maxMsg := s.u64(offCapacity).Load(), s.u64(offMaxMsg).Load()
	switch {
	case v != version:
		return c.errorf(op, errs.ErrNotSupported, "channel layout version %d; this libshm reads version %d", v, version)
	case off != dataOffset || capacity < minCapacity || capacity > maxCapacity || capacity%granule != 0 ||
		SegmentSize(capacity) != c.mapping.Size || maxMsg != MaxMessage(capacity):
		return c.errorf(op, errs.ErrCorrupt, "the header does not fit the segment (capacity %d, data offset %d, segment %d bytes)", capacity, off, c.mapping.Size)
	}
	c.capacity, c.maxMsg = capacity, maxMsg
	return nil
}

// Ring is what the C data plane needs to run this end without Go: the
// mapping, the data area's capacity, the largest message, this end's
// position (tail for the producer, head for the consumer), the locked file
// (-1 on System V) and this process's pid namespace. After it, the C side
// owns the position: this Chan is used only to close or hand over.
func (c *Chan) Ring() (base unsafe.Pointer, capacity, maxMsg, pos uint64, lockFd int, pidNS uint64) {
	pos = c.head
	if c.end == Producer {
		pos = c.tail
	}
	return c.s.base, c.capacity, c.maxMsg, pos, c.lockFd, selfNS
}

// Key is the canonical key of the channel's segment.
func (c *Chan) Key() string { return c.key }

// End says which end this is.
func (c *Chan) End() End { return c.end }

// MaxMessage is the largest message this channel carries.
func (c *Chan) MaxMessage() uint64 { return c.maxMsg }

// Close leaves the end. The producer's close ends the stream: the consumer
// drains what was committed, then gets ErrEndOfStream. The consumer's close
// tells a producer waiting for room that nobody will make any
// (ErrPeerGone), until another consumer opens the channel. A pending
// reservation or a held message is dropped (a held message is delivered
// again to the next consumer). The channel's segment lives on until it is
// destroyed.
func (c *Chan) Close() error {
	if err := c.lock("chan_close"); err != nil {
		return err
	}
	defer c.mu.Unlock()
	c.closed = true
	c.leave(true)
	return c.unmap()
}

// Handover leaves the end without closing it: the stream goes on, no peer
// is told anything, and another process may open the end, as it would take
// over from a dead holder. It is how an end passes to another process. A
// pending reservation is dropped, and a held message is delivered again to
// whoever opens the end next.
func (c *Chan) Handover() error {
	if err := c.lock("chan_handover"); err != nil {
		return err
	}
	defer c.mu.Unlock()
	c.closed = true
	c.leave(false)
	return c.unmap()
}

// leave gives up the end in the shared state and, if closing, tells a peer
// that may be waiting on it that nobody is there. If a peer has truncated
// the segment, that memory is gone and so is anyone to tell: the fault is
// swallowed, so that the caller still unmaps what is left. (It can be
// caught only where the caller asked for faults as panics, as the C API and
// the Go binding do.)
func (c *Chan) leave(closing bool) {
	defer func() {
		if r := recover(); r != nil {
			if _, fault := r.(interface{ Addr() uintptr }); !fault {
				panic(r)
			}
		}
	}()
	c.s.owner(c.end).CompareAndSwap(uint64(self), 0)
	// The lock goes before the peer is told: a peer woken by the close
	// may open the end again at once, and must find it free.
	if c.lockFd >= 0 {
		unlock(c.lockFd, ownerOffset(c.end))
	}
	if !closing {
		return
	}
	if c.end == Producer {
		c.s.closed().Store(1)
		c.s.dataSeq().Add(1)
		futexWakeAll(c.s.dataSeq())
	} else {
		c.s.consLeft().Store(1)
		c.s.spaceSeq().Add(1)
		futexWakeAll(c.s.spaceSeq())
	}
}

// lock enters a call on this end, refusing concurrent use and closed ends.
func (c *Chan) lock(op string) error {
	if !c.mu.TryLock() {
		return c.errorf(op, errs.ErrBusy, "another thread is in a call on this %s end; an end is used by one thread at a time", c.end)
	}
	if c.closed {
		c.mu.Unlock()
		return c.errorf(op, errs.ErrInvalid, "this %s end is closed", c.end)
	}
	return nil
}

func (c *Chan) errorf(op string, code errs.Code, format string, args ...any) *errs.Error {
	return errs.New(op, c.key, code, fmt.Sprintf(format, args...))
}

// relabel names the channel operation in an error of the segment layer.
func relabel(err error, op string) error {
	if e, ok := err.(*errs.Error); ok {
		e2 := *e
		e2.Op = op
		return &e2
	}
	return err
}
