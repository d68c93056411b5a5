package channel

import "github.com/libshm/libshm/internal/errs"

// Unreserve gives back the pending reservation without publishing it (as
// shmlib_chan_unreserve): nothing changes in the shared state, since only
// Commit publishes, and the next Reserve or Send starts afresh. The slice
// Reserve returned must not be used after.
func (c *Chan) Unreserve() error {
	return c.giveBack("chan_unreserve", Producer, &c.reserved, "only the producer end reserves", "nothing is reserved")
}

// Unpeek gives back the message Peek holds without consuming it (as
// shmlib_chan_unpeek): it stays first in the channel, since only Release
// moves the head past it, and the next Peek or Recv returns it again. The
// slice Peek returned must not be used after.
func (c *Chan) Unpeek() error {
	return c.giveBack("chan_unpeek", Consumer, &c.held, "only the consumer end peeks", "no message is held")
}

func (c *Chan) giveBack(op string, end End, lent *bool, wrongEnd, none string) error {
	if err := c.lock(op); err != nil {
		return err
	}
	defer c.mu.Unlock()
	switch {
	case c.end != end:
		return c.errorf(op, errs.ErrInvalid, "%s", wrongEnd)
	case !*lent:
		return c.errorf(op, errs.ErrInvalid, "%s", none)
	}
	*lent = false
	return nil
}
