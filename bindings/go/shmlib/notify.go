package shmlib

import (
	"context"

	"github.com/libshm/libshm/internal/notify"
)

// Notifier waits for an end through the Go runtime's poller: the waiting
// goroutine is parked, holding no thread, while a watcher thread of this
// package sleeps on the ring's futex word and marks an eventfd when the
// end is ready (as libshm.so's shmlib_chan_fd; internal/notify says how).
//
//	n, _ := rx.Notifier()
//	defer n.Close()
//	for {
//		if err := n.Wait(ctx); err != nil { ... }          // ctx ended
//		for {
//			k, err := rx.Recv(buf, 0)                    // timeout 0
//			if errors.Is(err, shmlib.ErrTimeout) { break } // wait again
//			...
//		}
//	}
//
// Ready means the end's next call would not wait: a receiving end has a
// message (or the end of the stream), a producer room for a message of
// MaxMessage bytes. Wait may also return every 100 ms without that, so
// that a dead peer is reported by the next call; calls with timeout 0 then
// time out. An end must not be used while a Wait on it is in flight.
// Up to 127 ends may be waited on at once in a process.
type Notifier struct{ n *notify.Notifier }

// Notifier returns this end's pollable side; close it before the end.
func (ch *Channel) Notifier() (*Notifier, error) {
	n, err := notify.New(ch.c)
	if err != nil {
		return nil, err
	}
	return &Notifier{n}, nil
}

// Wait returns once the end is ready (or may be, see [Notifier]), or ctx
// is done (ctx.Err()).
func (n *Notifier) Wait(ctx context.Context) error { return n.n.Wait(ctx) }

// Close releases the notifier's eventfd.
func (n *Notifier) Close() error { return n.n.Close() }
