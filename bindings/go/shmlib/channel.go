package shmlib

import (
	"io/fs"
	"time"

	"github.com/libshm/libshm/internal/channel"
	"github.com/libshm/libshm/internal/segment"
)

// End is one side of a channel.
type End = channel.End

const (
	Producer = channel.Producer
	Consumer = channel.Consumer
)

// Forever, as a timeout, waits as long as it takes; 0 does not wait.
const Forever = channel.Forever

// ChannelOptions are the options of the segment a channel lives in.
// A nil *ChannelOptions means the defaults.
type ChannelOptions struct {
	Mode    fs.FileMode // permission bits; 0 means 0600
	HugeTLB bool        // System V only: back with huge pages
	Sparse  bool        // POSIX only: do not reserve the memory at create
}

// CreateChannel makes a segment holding an empty channel with a data area
// of at least capacity bytes (rounded up to a multiple of 4096, at most
// 8 GiB), and returns its key. Keys work as for [Create]; destroy the
// channel with [Destroy] when every process is done with it.
//
// A channel carries messages from one producer process to one consumer
// process: variable-length, in order, none lost, through a ring in the
// segment itself, so that C, Python and Go processes can pass buffers along
// a pipeline without pipes or sockets. See include/shmlib.h, CHANNELS, for
// the whole contract; this package keeps it.
func CreateChannel(key string, capacity uint64, opt *ChannelOptions) (string, error) {
	var o segment.CreateOptions
	if opt != nil {
		if opt.Mode&^fs.ModePerm != 0 {
			return "", &Error{Op: "chan_create", Key: key, Code: ErrInvalid, Msg: "mode " + opt.Mode.String() + " has bits beyond the permission bits"}
		}
		o = segment.CreateOptions{Mode: uint32(opt.Mode), HugeTLB: opt.HugeTLB, Sparse: opt.Sparse}
	}
	return channel.Create(key, capacity, o)
}

// Channel is one open end of a channel. An end is used by one goroutine
// at a time: a call made while another is in flight on the same Channel
// fails with [ErrBusy]. Every method that touches the shared segment turns
// a memory fault (a peer truncated it) into [ErrFault].
type Channel struct{ c *channel.Chan }

// OpenChannel attaches the channel named by key and takes one end of it.
// Each end is held by one process at a time: a second one gets [ErrBusy],
// unless the holder has died, in which case the end is taken over.
func OpenChannel(key string, end End) (*Channel, error) {
	c, err := channel.Open(key, end)
	if err != nil {
		return nil, err
	}
	return &Channel{c}, nil
}

// Key is the canonical key of the channel's segment.
func (ch *Channel) Key() string { return ch.c.Key() }

// End says which end this is.
func (ch *Channel) End() End { return ch.c.End() }

// MaxMessage is the largest message the channel carries: half its
// capacity, less 16 bytes, so that no message is split by the wrap-around.
func (ch *Channel) MaxMessage() uint64 { return ch.c.MaxMessage() }

// Send copies msg into the channel as one message, waiting up to timeout
// for room (0: not at all; [Forever]).
//
// Errors: ErrInvalid (not the producer, a reservation pending),
// ErrTooLarge, ErrTimeout, ErrPeerGone (the consumer died while the ring
// was full), ErrCorrupt, ErrBusy, ErrFault.
func (ch *Channel) Send(msg []byte, timeout time.Duration) error {
	return guard("chan_send", ch.Key(), func() error { return ch.c.Send(msg, timeout) })
}

// Reserve waits up to timeout for room for a message of n bytes and
// returns the place to write it, in the shared segment, 16-byte aligned.
// Nothing is visible to the consumer until [Channel.Commit]; the slice must
// not be used after it.
func (ch *Channel) Reserve(n int, timeout time.Duration) ([]byte, error) {
	var b []byte
	err := guard("chan_reserve", ch.Key(), func() (err error) {
		if n < 0 {
			return &Error{Op: "chan_reserve", Key: ch.Key(), Code: ErrInvalid, Msg: "negative length"}
		}
		b, err = ch.c.Reserve(uint64(n), timeout)
		return err
	})
	return b, err
}

// Commit publishes the first n bytes of the pending reservation as one
// message and wakes the consumer.
func (ch *Channel) Commit(n int) error {
	return guard("chan_commit", ch.Key(), func() error {
		if n < 0 {
			return &Error{Op: "chan_commit", Key: ch.Key(), Code: ErrInvalid, Msg: "negative length"}
		}
		return ch.c.Commit(uint64(n))
	})
}

// Recv waits up to timeout for the next message and copies it into buf,
// returning its length. A message longer than buf stays in the channel:
// the error matches [ErrRange] and n is the message's length.
//
// Errors: ErrInvalid (not the consumer, a message held by Peek), ErrRange,
// ErrTimeout, ErrEndOfStream (the producer closed and everything was
// received), ErrPeerGone (the producer died; what it committed was
// received first), ErrCorrupt, ErrBusy, ErrFault.
func (ch *Channel) Recv(buf []byte, timeout time.Duration) (n int, err error) {
	err = guard("chan_recv", ch.Key(), func() (err error) {
		n, err = ch.c.Recv(buf, timeout)
		return err
	})
	return n, err
}

// Peek waits up to timeout for the next message and returns it in place,
// in the shared segment, 16-byte aligned. It is held, and the slice valid,
// until [Channel.Release].
func (ch *Channel) Peek(timeout time.Duration) ([]byte, error) {
	var msg []byte
	err := guard("chan_peek", ch.Key(), func() (err error) {
		msg, err = ch.c.Peek(timeout)
		return err
	})
	return msg, err
}

// Release gives the message Peek returned back to the producer; its slice
// must not be used after.
func (ch *Channel) Release() error {
	return guard("chan_release", ch.Key(), ch.c.Release)
}

// Unreserve gives back the pending reservation without sending it: the
// consumer never sees it, and the next Reserve or Send starts afresh. The
// slice Reserve returned must not be used after.
func (ch *Channel) Unreserve() error {
	return guard("chan_unreserve", ch.Key(), ch.c.Unreserve)
}

// Unpeek gives back the message Peek returned without consuming it: the
// next Peek or Recv returns it again. Its slice must not be used after.
func (ch *Channel) Unpeek() error {
	return guard("chan_unpeek", ch.Key(), ch.c.Unpeek)
}

// Handover leaves the end without closing it, to pass it to another
// process: the stream goes on, the peer is told nothing, and the end is
// free for another process to open. The Channel is unusable after.
func (ch *Channel) Handover() error {
	return guard("chan_handover", ch.Key(), ch.c.Handover)
}

// Close leaves the end and detaches the channel. Closing the producer ends
// the stream: the consumer receives what was committed, then
// [ErrEndOfStream]. The segment lives on until [Destroy].
func (ch *Channel) Close() error {
	return guard("chan_close", ch.Key(), ch.c.Close)
}
