package shmso

import "unsafe"

// Chan is an open end of a channel.
type Chan struct {
	lib *Lib
	h   uint64
}

// ChanCreate is shmlib_chan_create(key, capacity, mode, flags): the
// canonical key of the new segment that holds the channel.
func (l *Lib) ChanCreate(key string, capacity uint64, mode, flags uint32) (string, error) {
	var out [KeyMax]byte
	_, err := l.call(func() int32 { return l.chanCreate(key, capacity, mode, flags, &out[0], uintptr(len(out))) })
	return cString(out[:]), err
}

// ChanOpen is shmlib_chan_open(key, end).
func (l *Lib) ChanOpen(key string, end int) (*Chan, error) {
	var h uint64
	if _, err := l.call(func() int32 { return l.chanOpen(key, int32(end), &h) }); err != nil {
		return nil, err
	}
	return &Chan{l, h}, nil
}

// Close is shmlib_chan_close.
func (c *Chan) Close() error {
	_, err := c.lib.call(func() int32 { return c.lib.chanClose(c.h) })
	return err
}

// MaxMessage is shmlib_chan_max_message.
func (c *Chan) MaxMessage() (uint64, error) {
	var n uint64
	_, err := c.lib.call(func() int32 { return c.lib.chanMaxMessage(c.h, &n) })
	return n, err
}

// Send is shmlib_chan_send: msg is copied into the channel.
func (c *Chan) Send(msg []byte, timeout int64) error {
	_, err := c.lib.call(func() int32 {
		return c.lib.chanSend(c.h, unsafe.Pointer(unsafe.SliceData(msg)), uintptr(len(msg)), timeout)
	})
	return err
}

// Reserve is shmlib_chan_reserve: n bytes of the segment to write a message
// in place, valid until Commit.
func (c *Chan) Reserve(n int, timeout int64) ([]byte, error) {
	var p unsafe.Pointer
	if _, err := c.lib.call(func() int32 { return c.lib.chanReserve(c.h, uintptr(n), timeout, &p) }); err != nil {
		return nil, err
	}
	return unsafe.Slice((*byte)(p), n), nil
}

// Commit is shmlib_chan_commit: the first n reserved bytes become a message.
func (c *Chan) Commit(n int) error {
	_, err := c.lib.call(func() int32 { return c.lib.chanCommit(c.h, uintptr(n)) })
	return err
}

// Recv is shmlib_chan_recv: the next message is copied into buf, and its
// length returned.
func (c *Chan) Recv(buf []byte, timeout int64) (int, error) {
	var n uintptr
	_, err := c.lib.call(func() int32 {
		return c.lib.chanRecv(c.h, unsafe.Pointer(unsafe.SliceData(buf)), uintptr(len(buf)), &n, timeout)
	})
	return int(n), err
}

// Peek is shmlib_chan_peek: the next message, in place in the segment,
// valid until Release.
func (c *Chan) Peek(timeout int64) ([]byte, error) {
	var p unsafe.Pointer
	var n uintptr
	if _, err := c.lib.call(func() int32 { return c.lib.chanPeek(c.h, timeout, &p, &n) }); err != nil {
		return nil, err
	}
	return unsafe.Slice((*byte)(p), n), nil
}

// Release is shmlib_chan_release.
func (c *Chan) Release() error {
	_, err := c.lib.call(func() int32 { return c.lib.chanRelease(c.h) })
	return err
}

// Wake is shmlib_chan_wake: it ends a wait on this end in another thread.
func (c *Chan) Wake() error {
	_, err := c.lib.call(func() int32 { return c.lib.chanWake(c.h) })
	return err
}

// BcastCreate is shmlib_bcast_create: the canonical key of the new segment.
func (l *Lib) BcastCreate(key string, capacity uint64, subscribers, mode, flags uint32) (string, error) {
	var out [KeyMax]byte
	_, err := l.call(func() int32 {
		return l.bcastCreate(key, capacity, subscribers, mode, flags, &out[0], uintptr(len(out)))
	})
	return cString(out[:]), err
}

// Lost is shmlib_chan_lost: messages a broadcast subscriber was skipped past.
func (c *Chan) Lost() (uint64, error) {
	var n uint64
	_, err := c.lib.call(func() int32 { return c.lib.chanLost(c.h, &n) })
	return n, err
}

// WaitAny is shmlib_chan_wait_any: the index of a ready end among chans.
func (l *Lib) WaitAny(chans []*Chan, timeout int64) (int, error) {
	hs := make([]uint64, len(chans))
	for i, c := range chans {
		hs[i] = c.h
	}
	var idx uintptr
	_, err := l.call(func() int32 { return l.chanWaitAny(unsafe.SliceData(hs), uintptr(len(hs)), timeout, &idx) })
	return int(idx), err
}

// Fd is shmlib_chan_fd: the end's eventfd, readable once armed and ready.
func (c *Chan) Fd() (int, error) {
	var fd int32
	_, err := c.lib.call(func() int32 { return c.lib.chanFd(c.h, &fd) })
	return int(fd), err
}

// Arm is shmlib_chan_arm.
func (c *Chan) Arm() error {
	_, err := c.lib.call(func() int32 { return c.lib.chanArm(c.h) })
	return err
}
