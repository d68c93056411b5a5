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

func lookup(op string, h C.shmlib_chan_t) (*channel.Chan, C.int) {
	handles.Lock()
	c := handles.m[uint64(h)]
	handles.Unlock()
	if c == nil {
		return nil, invalid(op, "", fmt.Sprintf("%d is not an open channel handle", uint64(h)))
	}
	return c, C.SHMLIB_OK
}

// timeout turns timeout_ns into the core's: negative waits forever.
func timeout(ns C.int64_t) time.Duration {
	if ns < 0 {
		return channel.Forever
	}
	return time.Duration(ns)
}

const chanCreateFlags = C.SHMLIB_HUGETLB | C.SHMLIB_SPARSE

//export shmlib_go_chan_create
func shmlib_go_chan_create(key *C.char, capacity C.uint64_t, mode, flags C.uint32_t, outKey *C.char, outKeyLen C.size_t) (rc C.int) {
	const op = "chan_create"
	enter()
	var made string // destroyed if the key cannot be handed back, as in create
	defer func() {
		if rc < 0 && made != "" {
			segment.Destroy(made)
		}
	}()
	defer recoverInto(op, &rc)
	k := ""
	if key != nil {
		if k, rc = goString(op, "the key", key); rc != C.SHMLIB_OK {
			return rc
		}
	}
	if flags&^chanCreateFlags != 0 {
		return unknownFlags(op, k, flags, chanCreateFlags)
	}
	if outKey == nil && chosenByLibrary(k) {
		return invalid(op, k, "out_key is NULL, but the library chooses the key: pass a buffer of SHMLIB_KEY_MAX bytes")
	}
	var err error
	made, err = channel.Create(k, uint64(capacity), channel.CreateOptions{
		Mode:    uint32(mode),
		HugeTLB: flags&C.SHMLIB_HUGETLB != 0,
		Sparse:  flags&C.SHMLIB_SPARSE != 0,
	})
	if err != nil {
		return fail(err)
	}
	if outKey != nil {
		return putString(op, k, made, outKey, outKeyLen)
	}
	return C.SHMLIB_OK
}

//export shmlib_go_chan_open
func shmlib_go_chan_open(key *C.char, end C.int, out *C.shmlib_chan_t) (rc C.int) {
	const op = "chan_open"
	enter()
	defer recoverInto(op, &rc)
	k, rc := goString(op, "the key", key)
	if rc != C.SHMLIB_OK {
		return rc
	}
	if out == nil {
		return invalid(op, k, "out_chan is NULL")
	}
	c, err := channel.Open(k, channel.End(end))
	if err != nil {
		return fail(err)
	}
	*out = newHandle(c)
	return C.SHMLIB_OK
}

//export shmlib_go_chan_close
func shmlib_go_chan_close(h C.shmlib_chan_t) (rc C.int) {
	const op = "chan_close"
	enter()
	defer recoverInto(op, &rc)
	c, rc := lookup(op, h)
	if rc != C.SHMLIB_OK {
		return rc
	}
	if err := c.Close(); err != nil {
		return fail(err)
	}
	handles.Lock()
	delete(handles.m, uint64(h))
	handles.Unlock()
	return C.SHMLIB_OK
}

//export shmlib_go_chan_max_message
func shmlib_go_chan_max_message(h C.shmlib_chan_t, out *C.uint64_t) (rc C.int) {
	const op = "chan_max_message"
	enter()
	defer recoverInto(op, &rc)
	c, rc := lookup(op, h)
	if rc != C.SHMLIB_OK {
		return rc
	}
	if out == nil {
		return invalid(op, c.Key(), "out_size is NULL")
	}
	*out = C.uint64_t(c.MaxMessage())
	return C.SHMLIB_OK
}

//export shmlib_go_chan_send
func shmlib_go_chan_send(h C.shmlib_chan_t, buf unsafe.Pointer, n C.size_t, ns C.int64_t) (rc C.int) {
	const op = "chan_send"
	enter()
	defer recoverInto(op, &rc)
	c, rc := lookup(op, h)
	if rc != C.SHMLIB_OK {
		return rc
	}
	if buf == nil && n > 0 {
		return invalid(op, c.Key(), "buf is NULL")
	}
	if err := c.Send(unsafe.Slice((*byte)(buf), n), timeout(ns)); err != nil {
		return fail(err)
	}
	return C.SHMLIB_OK
}

//export shmlib_go_chan_reserve
func shmlib_go_chan_reserve(h C.shmlib_chan_t, n C.size_t, ns C.int64_t, out *unsafe.Pointer) (rc C.int) {
	const op = "chan_reserve"
	enter()
	defer recoverInto(op, &rc)
	c, rc := lookup(op, h)
	if rc != C.SHMLIB_OK {
		return rc
	}
	if out == nil {
		return invalid(op, c.Key(), "out_ptr is NULL")
	}
	b, err := c.Reserve(uint64(n), timeout(ns))
	if err != nil {
		return fail(err)
	}
	*out = unsafe.Pointer(unsafe.SliceData(b))
	return C.SHMLIB_OK
}

//export shmlib_go_chan_commit
func shmlib_go_chan_commit(h C.shmlib_chan_t, n C.size_t) (rc C.int) {
	const op = "chan_commit"
	enter()
	defer recoverInto(op, &rc)
	c, rc := lookup(op, h)
	if rc != C.SHMLIB_OK {
		return rc
	}
	if err := c.Commit(uint64(n)); err != nil {
		return fail(err)
	}
	return C.SHMLIB_OK
}

//export shmlib_go_chan_recv
func shmlib_go_chan_recv(h C.shmlib_chan_t, buf unsafe.Pointer, capacity C.size_t, outLen *C.size_t, ns C.int64_t) (rc C.int) {
	const op = "chan_recv"
	enter()
	defer recoverInto(op, &rc)
	c, rc := lookup(op, h)
	if rc != C.SHMLIB_OK {
		return rc
	}
	if outLen == nil || buf == nil && capacity > 0 {
		return invalid(op, c.Key(), "out_len is NULL, or buf is NULL with a capacity")
	}
	n, err := c.Recv(unsafe.Slice((*byte)(buf), capacity), timeout(ns))
	if err != nil && segment.CodeOf(err) != segment.ErrRange {
		return fail(err)
	}
	*outLen = C.size_t(n)
	if err != nil {
		return fail(err)
	}
	return C.SHMLIB_OK
}

//export shmlib_go_chan_peek
func shmlib_go_chan_peek(h C.shmlib_chan_t, ns C.int64_t, outPtr *unsafe.Pointer, outLen *C.size_t) (rc C.int) {
	const op = "chan_peek"
	enter()
	defer recoverInto(op, &rc)
	c, rc := lookup(op, h)
	if rc != C.SHMLIB_OK {
		return rc
	}
	if outPtr == nil || outLen == nil {
		return invalid(op, c.Key(), "out_ptr or out_len is NULL")
	}
	msg, err := c.Peek(timeout(ns))
	if err != nil {
		return fail(err)
	}
	*outPtr = unsafe.Pointer(unsafe.SliceData(msg))
	*outLen = C.size_t(len(msg))
	return C.SHMLIB_OK
}

//export shmlib_go_chan_release
func shmlib_go_chan_release(h C.shmlib_chan_t) (rc C.int) {
	const op = "chan_release"
	enter()
	defer recoverInto(op, &rc)
	c, rc := lookup(op, h)
	if rc != C.SHMLIB_OK {
		return rc
	}
	if err := c.Release(); err != nil {
		return fail(err)
	}
	return C.SHMLIB_OK
}
