package broadcast

import (
	"sync/atomic"
	"time"

	"github.com/libshm/libshm/internal/errs"
	"github.com/libshm/libshm/internal/ringwait"
)

// Forever, as a timeout, waits as long as it takes; 0 does not wait.
const Forever time.Duration = -1

const (
	spinMin   = ringwait.SpinMin
	spinStart = ringwait.SpinStart
)

// wait blocks until ready reports true or an error, or the timeout
// passes; seq is the futex word the other side bumps, waiting counts the
// sleepers on it (several subscribers may sleep at once), gone judges
// liveness after each slice (internal/ringwait, shared with channels).
func (b *Bcast) wait(op string, timeout time.Duration, seq, waiting *atomic.Uint32, ready func() (bool, error), gone func() error) error {
	return ringwait.Waiter{
		Count:    true,
		Spin:     &b.spin,
		Gone:     gone,
		TimedOut: func(msg string) error { return b.errorf(op, errs.ErrTimeout, "%s", msg) },
	}.Wait(timeout, seq, waiting, ready)
}
