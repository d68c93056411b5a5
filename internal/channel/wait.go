package channel

import (
	"sync/atomic"
	"time"

	"github.com/libshm/libshm/internal/errs"
)

// Forever, as a timeout, waits as long as it takes; 0 does not wait.
const Forever time.Duration = -1

// Spinning briefly before sleeping saves two system calls and a context
// switch per message when the peer is about to act. The budget is time, not
// iterations, so that it means the same on any machine, and it adapts: it
// doubles when spinning paid off and halves when it did not, between a
// floor that still catches a peer answering from another core and a cap
// that keeps an idle waiter from burning CPU before it sleeps.
const (
	spinMin   = 5 * time.Microsecond
	spinStart = 20 * time.Microsecond
	spinMax   = 100 * time.Microsecond
)

// peerCheck is how often a sleeping waiter wakes to see whether its peer
// died: a dead process never bumps the futex word, so only a timeout can
// notice. Ten wakeups a second cost nothing measurable.
const peerCheck = 100 * time.Millisecond

// wait blocks until ready reports true or an error, the timeout passes
// (ErrTimeout), or the peer end's holder is found dead (ErrPeerGone). seq is
// the futex word the peer bumps when it makes progress, and waiting the
// flag that tells the peer someone sleeps on it and must be woken.
func (c *Chan) wait(op string, timeout time.Duration, seq, waiting *atomic.Uint32, ready func() (bool, error)) error {
	if ok, err := ready(); ok || err != nil {
		return err
	}
	if timeout == 0 {
		if err := c.peerGone(op, ready); err != nil {
			return err
		}
		return c.errorf(op, errs.ErrTimeout, "would block (timeout 0)")
	}
	if c.spinFor(ready) {
		_, err := ready()
		return err
	}

	var deadline time.Time
	if timeout > 0 {
		deadline = time.Now().Add(timeout)
	}
	for {
		slice := peerCheck
		if timeout > 0 {
			left := time.Until(deadline)
			if left <= 0 {
				return c.errorf(op, errs.ErrTimeout, "timed out after %v", timeout)
			}
			slice = min(slice, left)
		}
		// Raise the flag before the last look: a peer that makes progress
		// after that look sees the flag and wakes us; one that made it
		// before is seen by the look. seq is read before both, so a wake
		// in between makes futexSleep return at once.
		v := seq.Load()
		waiting.Store(1)
		ok, err := ready()
		if !ok && err == nil {
			futexSleep(seq, v, slice)
			ok, err = ready()
		}
		waiting.Store(0)
		if ok || err != nil {
			return err
		}
		if err := c.peerGone(op, ready); err != nil {
			return err
		}
	}
}

// spinFor polls ready for up to the spin budget and reports whether it
// turned true (or failed) meanwhile, adapting the budget.
func (c *Chan) spinFor(ready func() (bool, error)) bool {
	start := time.Now()
	for i := 1; ; i++ {
		if ok, err := ready(); ok || err != nil {
			c.spin = min(c.spin*2, spinMax)
			return true
		}
		// Reading the clock costs more than a look at the ring: not every time.
		if i%32 == 0 && time.Since(start) > c.spin {
			c.spin = max(c.spin/2, spinMin)
			return false
		}
	}
}

// peerGone reports ErrPeerGone if the other end was held by a process that
// has died, or, for the producer, if the consumer closed its end: nobody
// will make room then. An end nobody has taken yet is not gone: a peer may
// still come. (A producer's close is not "gone" but the end of the stream,
// which the consumer's wait reports itself.)
//
// A peer that commits, or closes, and then exits has done its part: if
// ready turns true meanwhile, that answer wins, and an owner word that
// changed since it was read names a new holder, not a dead one.
func (c *Chan) peerGone(op string, ready func() (bool, error)) error {
	peer := Producer
	if c.end == Producer {
		peer = Consumer
	}
	word := c.s.owner(peer)
	o := owner(word.Load())
	var gone *errs.Error
	switch {
	case o == 0 && peer == Consumer && c.s.consLeft().Load() != 0:
		gone = c.errorf(op, errs.ErrPeerGone, "the consumer closed its end; nobody is receiving")
	case o == 0 || c.peerAlive(peer, o):
		return nil
	default:
		gone = c.errorf(op, errs.ErrPeerGone, "the %s (pid %d) died", peer, o.pid())
	}
	if ok, err := ready(); ok || err != nil {
		return err
	}
	if owner(word.Load()) != o {
		return nil
	}
	return gone
}
