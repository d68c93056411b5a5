// Package ringwait is how a ring in shared memory waits for, wakes and
// judges its peers: the waiting of its PROTOCOL.md (spin for an adaptive
// budget, then sleep on a shared futex word in slices, judging the peer
// after each), the futex calls, and the OFD locks that say whether an
// end's holder is alive. internal/broadcast uses it; internal/channel has
// the same code of its own still (one to fold into this, with the
// channel's flag that wakers lower: Waiter.Count false, WakeIfWaiting).
package ringwait

import (
	"fmt"
	"sync/atomic"
	"time"
)

// Spinning briefly before sleeping saves two system calls and a context
// switch per message when the peer is about to act. The budget is time, not
// iterations, so that it means the same on any machine, and it adapts: it
// doubles when spinning paid off and halves when it did not, between a
// floor that still catches a peer answering from another core and a cap
// that keeps an idle waiter from burning CPU before it sleeps.
const (
	SpinMin   = 5 * time.Microsecond
	SpinStart = 20 * time.Microsecond
	SpinMax   = 100 * time.Microsecond
)

// PeerCheck is how often a sleeping waiter wakes to see whether its peer
// died: a dead process never bumps the futex word, so only a timeout can
// notice. Ten wakeups a second cost nothing measurable.
const PeerCheck = 100 * time.Millisecond

// A Waiter is one end's way of waiting: its adaptive spin budget, how it
// judges its peer, and how it words a timeout.
type Waiter struct {
	// Count: the waiting word is a count several sleepers share (a
	// broadcast's subscribers), which the waker never lowers (Bump);
	// otherwise a flag of one sleeper, which the waker lowers
	// (WakeIfWaiting) and the sleeper raises before each sleep.
	Count    bool
	Spin     *time.Duration
	Gone     func() error           // after each sleep: an error if the peer is gone
	TimedOut func(msg string) error // the error of a wait that timed out
}

// Wait blocks until ready reports true or an error, the timeout passes
// (0: do not wait; negative: forever), or Gone reports an error. seq is the
// futex word the peer bumps when it makes progress; waiting counts those
// asleep on it (see Count), which tells the peer to wake them.
func (w Waiter) Wait(timeout time.Duration, seq, waiting *atomic.Uint32, ready func() (bool, error)) error {
	if ok, err := ready(); ok || err != nil {
		return err
	}
	if timeout == 0 {
		if err := w.Gone(); err != nil {
			return err
		}
		return w.TimedOut("would block (timeout 0)")
	}
	if w.spinFor(ready) {
		_, err := ready()
		return err
	}
	var deadline time.Time
	if timeout > 0 {
		deadline = time.Now().Add(timeout)
	}
	for {
		slice := PeerCheck
		if timeout > 0 {
			left := time.Until(deadline)
			if left <= 0 {
				return w.TimedOut(fmt.Sprintf("timed out after %v", timeout))
			}
			slice = min(slice, left)
		}
		// Raise the flag (or count ourselves) before the last look: a peer
		// that makes progress after that look sees it and wakes us; one
		// that made it before is seen by the look. seq is read before
		// both, so a wake in between makes Sleep return at once.
		v := seq.Load()
		w.raise(waiting)
		ok, err := ready()
		if !ok && err == nil {
			Sleep(seq, v, slice)
			ok, err = ready()
		}
		w.lower(waiting)
		if ok || err != nil {
			return err
		}
		if err := w.Gone(); err != nil {
			return err
		}
	}
}

func (w Waiter) raise(waiting *atomic.Uint32) {
	if w.Count {
		waiting.Add(1)
	} else {
		waiting.Store(1)
	}
}

func (w Waiter) lower(waiting *atomic.Uint32) {
	if w.Count {
		waiting.Add(^uint32(0))
	} else {
		waiting.Store(0)
	}
}

// spinFor polls ready for up to the spin budget and reports whether it
// turned true (or failed) meanwhile, adapting the budget.
func (w Waiter) spinFor(ready func() (bool, error)) bool {
	start := time.Now()
	for i := 1; ; i++ {
		if ok, err := ready(); ok || err != nil {
			*w.Spin = min(*w.Spin*2, SpinMax)
			return true
		}
		// Reading the clock costs more than a look at the ring: not every time.
		if i%32 == 0 && time.Since(start) > *w.Spin {
			*w.Spin = max(*w.Spin/2, SpinMin)
			return false
		}
	}
}

// Bump records progress on seq (an atomic read-modify-write: a full
// barrier, which orders the store before it against the read of waiting)
// and wakes its sleepers if any count themselves.
func Bump(seq, waiting *atomic.Uint32) {
	seq.Add(1)
	if waiting.Load() != 0 {
		WakeAll(seq)
	}
}
