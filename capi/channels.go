package main

// #include "shmlib.h"
import "C"

import (
	"fmt"
	"sync"
	"time"
	"unsafe"

	"github.com/libshm/libshm/internal/channel"
	"github.com/libshm/libshm/internal/segment"
)

// handles maps the integers C holds to open channel ends: no Go pointer
// may cross into C. Handles are never reused, so a stale one is refused
// rather than reaching another end.
var handles = struct {
	sync.Mutex
	m    map[uint64]*channel.Chan
	next uint64
}{m: make(map[uint64]*channel.Chan)}

func newHandle(c *channel.Chan) C.shmlib_chan_t {
	handles.Lock()
	defer handles.Unlock()
	handles.next++
	handles.m[handles.next] = c
	return C.shmlib_chan_t(handles.next)
}

// onChan runs the body of an export that works on the open end h.
func onChan(op string, h C.shmlib_chan_t, body func(c *channel.Chan) C.int) C.int {
	return call(op, func() C.int {
		handles.Lock()
		c := handles.m[uint64(h)]
		handles.Unlock()
		if c == nil {
			return invalid(op, "", fmt.Sprintf("%d is not an open channel handle", uint64(h)))
		}
		return body(c)
	})
}

// timeout turns timeout_ns into the core's: negative waits forever.
func timeout(ns C.int64_t) time.Duration {
	if ns < 0 {
		return channel.Forever
	}
	return time.Duration(ns)
}

const chanCreateFlags = C.SHMLIB_HUGETLB | C.SHMLIB_SPARSE | C.SHMLIB_DESTROY_ON_EXIT

//export shmlib_go_chan_create
func shmlib_go_chan_create(key *C.char, capacity C.uint64_t, mode, flags C.uint32_t, outKey *C.char, outKeyLen C.size_t) (rc C.int) {
	const op = "chan_create"
	var made string // destroyed if the key cannot be handed back, as in create
	defer func() {
		if rc < 0 && made != "" {
			segment.Destroy(made)
		}
	}()
	return call(op, func() C.int {
		k, rc := createArgs(op, key, flags, chanCreateFlags, outKey)
		if rc != C.SHMLIB_OK {
			return rc
		}
		var err error
		made, err = channel.Create(k, uint64(capacity), createOptions(mode, flags))
		if err != nil {
			return fail(err)
		}
		if outKey != nil {
			return putString(op, k, made, outKey, outKeyLen)
		}
		return C.SHMLIB_OK
	})
}

//export shmlib_go_chan_open
func shmlib_go_chan_open(key *C.char, end C.int, out *C.shmlib_chan_t) C.int {
	const op = "chan_open"
	return call(op, func() C.int {
		k, rc := goString(op, "the key", key)
		if rc != C.SHMLIB_OK {
			return rc
		}
		if out == nil {
			return invalid(op, k, "out_chan is NULL")
		}
		if !writable(op, unsafe.Pointer(out), 8) {
			return C.SHMLIB_EFAULT
		}
		c, err := channel.Open(k, channel.End(end))
		if err != nil {
			return fail(err)
		}
		*out = newHandle(c)
		return C.SHMLIB_OK
	})
}

//export shmlib_go_chan_close
func shmlib_go_chan_close(h C.shmlib_chan_t) C.int {
	return onChan("chan_close", h, func(c *channel.Chan) C.int { return release(h, c.Close()) })
}

//export shmlib_go_chan_handover
func shmlib_go_chan_handover(h C.shmlib_chan_t) C.int {
	return onChan("chan_handover", h, func(c *channel.Chan) C.int { return release(h, c.Handover()) })
}

// release forgets handle h once its end is left (err nil).
func release(h C.shmlib_chan_t, err error) C.int {
	if err != nil {
		return fail(err)
	}
	handles.Lock()
	delete(handles.m, uint64(h))
	handles.Unlock()
	return C.SHMLIB_OK
}

//export shmlib_go_chan_max_message
func shmlib_go_chan_max_message(h C.shmlib_chan_t, out *C.uint64_t) C.int {
	const op = "chan_max_message"
	return onChan(op, h, func(c *channel.Chan) C.int {
		if out == nil {
			return invalid(op, c.Key(), "out_size is NULL")
		}
		*out = C.uint64_t(c.MaxMessage())
		return C.SHMLIB_OK
	})
}

//export shmlib_go_chan_send
func shmlib_go_chan_send(h C.shmlib_chan_t, buf unsafe.Pointer, n C.size_t, ns C.int64_t) C.int {
	const op = "chan_send"
	return onChan(op, h, func(c *channel.Chan) C.int {
		if buf == nil && n > 0 {
			return invalid(op, c.Key(), "buf is NULL")
		}
		// buf becomes a slice only once the length passed the channel's
		// checks: a length no message can have says so, not "bad buffer".
		return result(c.SendFunc(uint64(n), timeout(ns), func(dst []byte) error {
			src, err := cbytes(op, c.Key(), buf, uint64(len(dst)))
			if err != nil {
				return err
			}
			copy(dst, src)
			return nil
		}))
	})
}

//export shmlib_go_chan_reserve
func shmlib_go_chan_reserve(h C.shmlib_chan_t, n C.size_t, ns C.int64_t, out *unsafe.Pointer) C.int {
	const op = "chan_reserve"
	return onChan(op, h, func(c *channel.Chan) C.int {
		if out == nil {
			return invalid(op, c.Key(), "out_ptr is NULL")
		}
		if !writable(op, unsafe.Pointer(out), 8) {
			return C.SHMLIB_EFAULT
		}
		b, err := c.Reserve(uint64(n), timeout(ns))
		if err != nil {
			return fail(err)
		}
		*out = unsafe.Pointer(unsafe.SliceData(b))
		return C.SHMLIB_OK
	})
}

//export shmlib_go_chan_commit
func shmlib_go_chan_commit(h C.shmlib_chan_t, n C.size_t) C.int {
	return onChan("chan_commit", h, func(c *channel.Chan) C.int { return result(c.Commit(uint64(n))) })
}

//export shmlib_go_chan_recv
func shmlib_go_chan_recv(h C.shmlib_chan_t, buf unsafe.Pointer, capacity C.size_t, outLen *C.size_t, ns C.int64_t) C.int {
	const op = "chan_recv"
	return onChan(op, h, func(c *channel.Chan) C.int {
		if outLen == nil || buf == nil && capacity > 0 {
			return invalid(op, c.Key(), "out_len is NULL, or buf is NULL with a capacity")
		}
		if !writable(op, unsafe.Pointer(outLen), 8) {
			return C.SHMLIB_EFAULT
		}
		// No message is longer than MaxMessage, so neither need buf be.
		dst, err := cbytes(op, c.Key(), buf, min(uint64(capacity), c.MaxMessage()))
		if err != nil {
			return fail(err)
		}
		n, err := c.Recv(dst, timeout(ns))
		// On ERANGE, n is the length of the message left in the channel.
		if err == nil || segment.CodeOf(err) == segment.ErrRange {
			*outLen = C.size_t(n)
		}
		return result(err)
	})
}

//export shmlib_go_chan_peek
func shmlib_go_chan_peek(h C.shmlib_chan_t, ns C.int64_t, outPtr *unsafe.Pointer, outLen *C.size_t) C.int {
	const op = "chan_peek"
	return onChan(op, h, func(c *channel.Chan) C.int {
		if outPtr == nil || outLen == nil {
			return invalid(op, c.Key(), "out_ptr or out_len is NULL")
		}
		if !writable(op, unsafe.Pointer(outPtr), 8) || !writable(op, unsafe.Pointer(outLen), 8) {
			return C.SHMLIB_EFAULT
		}
		msg, err := c.Peek(timeout(ns))
		if err != nil {
			return fail(err)
		}
		*outPtr = unsafe.Pointer(unsafe.SliceData(msg))
		*outLen = C.size_t(len(msg))
		return C.SHMLIB_OK
	})
}

//export shmlib_go_chan_release
func shmlib_go_chan_release(h C.shmlib_chan_t) C.int {
	return onChan("chan_release", h, func(c *channel.Chan) C.int { return result(c.Release()) })
}
