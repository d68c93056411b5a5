package shmlib

import (
	"io/fs"
	"time"

	"github.com/libshm/libshm/internal/broadcast"
	"github.com/libshm/libshm/internal/notify"
	"github.com/libshm/libshm/internal/segment"
)

// BroadcastEnd is one side of a broadcast channel: [BroadcastProducer] or
// [Subscriber].
type BroadcastEnd = broadcast.End

const (
	// BroadcastProducer is the sending end of a broadcast channel (one).
	BroadcastProducer = broadcast.Producer
	// Subscriber is a receiving end of a broadcast channel (many at once).
	Subscriber = broadcast.Subscriber
)

// BroadcastOptions say how a broadcast channel is made. A nil
// *BroadcastOptions means the defaults: 64 subscriber slots, lossless.
type BroadcastOptions struct {
	Subscribers int         // slots for subscribers, 1..1024; 0 means 64
	Overwrite   bool        // overwrite-oldest instead of lossless
	Mode        fs.FileMode // permission bits; 0 means 0600
	Sparse      bool        // do not reserve the memory at create
}

// CreateBroadcast makes a segment holding an empty broadcast channel with
// a data area of at least capacity bytes and returns its key (POSIX or
// memfd keys only; System V gives [ErrNotSupported]).
//
// A broadcast channel carries messages from one producer to many
// subscribers, each of which receives every message, in order, in place.
// Lossless makes the producer wait for the slowest live subscriber;
// Overwrite lets it overwrite the oldest messages, and a lagging subscriber
// skips ahead ([Broadcast.Lost] says by how many). See include/shmlib.h,
// BROADCAST, for the whole contract; this package keeps it.
func CreateBroadcast(key string, capacity uint64, opt *BroadcastOptions) (string, error) {
	var o segment.CreateOptions
	slots, policy := 0, broadcast.Lossless
	if opt != nil {
		if opt.Mode&^fs.ModePerm != 0 {
			return "", &Error{Op: "bcast_create", Key: key, Code: ErrInvalid, Msg: "mode " + opt.Mode.String() + " has bits beyond the permission bits"}
		}
		if opt.Subscribers < 0 || opt.Subscribers > broadcast.MaxSlots {
			return "", &Error{Op: "bcast_create", Key: key, Code: ErrInvalid, Msg: "subscribers must be 1..1024 (0: 64)"}
		}
		o = segment.CreateOptions{Mode: uint32(opt.Mode), Sparse: opt.Sparse}
		slots = opt.Subscribers
		if opt.Overwrite {
			policy = broadcast.OverwriteOldest
		}
	}
	return broadcast.Create(key, capacity, uint32(slots), policy, o)
}

// Broadcast is one open end of a broadcast channel, used by one goroutine
// at a time (a concurrent call fails with [ErrBusy]). Methods that touch
// the segment turn a memory fault into [ErrFault].
type Broadcast struct{ b *broadcast.Bcast }

// OpenBroadcast takes the producer end of the broadcast channel named by
// key, or joins it as a subscriber, which starts at the next message.
// [ErrBusy] when the producer end, or every subscriber slot, is held by a
// live process.
func OpenBroadcast(key string, end BroadcastEnd) (*Broadcast, error) {
	b, err := broadcast.Open(key, end)
	if err != nil {
		return nil, err
	}
	return &Broadcast{b}, nil
}

// Key is the canonical key of the channel's segment.
func (bc *Broadcast) Key() string { return bc.b.Key() }

// End says which end this is.
func (bc *Broadcast) End() BroadcastEnd { return bc.b.End() }

// MaxMessage is the largest message the channel carries.
func (bc *Broadcast) MaxMessage() uint64 { return bc.b.MaxMessage() }

// Send copies msg into the channel as one message, waiting up to timeout
// (0: not at all; [Forever]) until no live subscriber needs the room it
// takes (lossless), or a subscriber that holds a message releases it.
func (bc *Broadcast) Send(msg []byte, timeout time.Duration) error {
	return guard("chan_send", bc.Key(), func() error { return bc.b.Send(msg, timeout) })
}

// Reserve returns room for a message of n bytes to write in place; nothing
// is visible to subscribers until [Broadcast.Commit].
func (bc *Broadcast) Reserve(n int, timeout time.Duration) ([]byte, error) {
	var b []byte
	err := guard("chan_reserve", bc.Key(), func() (err error) {
		if n < 0 {
			return &Error{Op: "chan_reserve", Key: bc.Key(), Code: ErrInvalid, Msg: "negative length"}
		}
		b, err = bc.b.Reserve(uint64(n), timeout)
		return err
	})
	return b, err
}

// Commit publishes the first n bytes of the reservation to every
// subscriber.
func (bc *Broadcast) Commit(n int) error {
	return guard("chan_commit", bc.Key(), func() error {
		if n < 0 {
			return &Error{Op: "chan_commit", Key: bc.Key(), Code: ErrInvalid, Msg: "negative length"}
		}
		return bc.b.Commit(uint64(n))
	})
}

// Recv waits for the next message and copies it into buf; as
// [Channel.Recv].
func (bc *Broadcast) Recv(buf []byte, timeout time.Duration) (n int, err error) {
	err = guard("chan_recv", bc.Key(), func() (err error) {
		n, err = bc.b.Recv(buf, timeout)
		return err
	})
	return n, err
}

// Peek waits for the next message and returns it in place; it is held
// (never overwritten) until [Broadcast.Release].
func (bc *Broadcast) Peek(timeout time.Duration) ([]byte, error) {
	var msg []byte
	err := guard("chan_peek", bc.Key(), func() (err error) {
		msg, err = bc.b.Peek(timeout)
		return err
	})
	return msg, err
}

// Release lets go of the message Peek returned.
func (bc *Broadcast) Release() error { return guard("chan_release", bc.Key(), bc.b.Release) }

// Lost is how many messages the producer skipped this subscriber past
// (overwrite-oldest) since the last call; it resets the count.
func (bc *Broadcast) Lost() (uint64, error) {
	var n uint64
	err := guard("chan_lost", bc.Key(), func() (err error) {
		n, err = bc.b.Lost()
		return err
	})
	return n, err
}

// Handover leaves a producer end without ending the stream, for another
// process to open; for a subscriber it is Close.
func (bc *Broadcast) Handover() error { return guard("chan_handover", bc.Key(), bc.b.Handover) }

// Close leaves the end. The producer's close ends the stream; a
// subscriber's frees its slot.
func (bc *Broadcast) Close() error { return guard("chan_close", bc.Key(), bc.b.Close) }

// Notifier returns this end's pollable side (see [Notifier]); close it
// before the end.
func (bc *Broadcast) Notifier() (*Notifier, error) {
	n, err := notify.New(bc.b)
	if err != nil {
		return nil, err
	}
	return &Notifier{n}, nil
}
