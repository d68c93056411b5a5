package main

// #include <stdlib.h>
// #include "shmlib.h"
// #include "chan.h"
import "C"

import (
	"fmt"
	"sync"
	"unsafe"

	"github.com/libshm/libshm/internal/channel"
	"github.com/libshm/libshm/internal/segment"
)

// The C data plane (chan_*.c, bcast_ring.c) finds an open end by its
// handle in a table of its own, and never enters Go. Go keeps the end of
// each handle (a *channel.Chan or a *broadcast.Bcast) for the control
// plane: close, handover, max_message.
var handles = struct {
	sync.Mutex
	m map[uint64]openEnd
}{m: make(map[uint64]openEnd)}

// openEnd is what the control plane does with an open end of either kind.
type openEnd interface {
	Key() string
	MaxMessage() uint64
	Close() error
	Handover() error
}

// onChan runs the body of an export that works on the open end h.
func onChan(op string, h C.shmlib_chan_t, body func(c openEnd) C.int) C.int {
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
		if end&^(C.SHMLIB_CHAN_EINTR|0xff) != 0 {
			return invalid(op, k, fmt.Sprintf("end %#x: unknown bits beside the end and SHMLIB_CHAN_EINTR", int(end)))
		}
		if end&0xff == C.SHMLIB_CHAN_SUBSCRIBER || isBroadcast(k) {
			return openBroadcast(k, end, out)
		}
		c, err := channel.Open(k, channel.End(end&0xff))
		if err != nil {
			return fail(err)
		}
		base, capacity, maxMsg, pos, fd, ns := c.Ring()
		ckey := C.CString(c.Key())
		defer C.free(unsafe.Pointer(ckey))
		eintr := C.int(0)
		if end&C.SHMLIB_CHAN_EINTR != 0 {
			eintr = 1
		}
		var h C.uint64_t
		if rc := C.libshm_chan_register(base, C.uint64_t(capacity), C.uint64_t(maxMsg), C.int(end&0xff), eintr,
			C.int(fd), C.uint64_t(ns), C.uint64_t(pos), ckey, nil, C.CH_DATA_OFFSET, &h); rc != C.SHMLIB_OK {
			c.Handover()
			return rc
		}
		keepHandle(h, c, out)
		return C.SHMLIB_OK
	})
}

// keepHandle remembers the end behind handle h and hands h out.
func keepHandle(h C.uint64_t, c openEnd, out *C.shmlib_chan_t) {
	handles.Lock()
	handles.m[uint64(h)] = c
	handles.Unlock()
	*out = C.shmlib_chan_t(h)
}

//export shmlib_go_chan_close
func shmlib_go_chan_close(h C.shmlib_chan_t) C.int {
	return leave("chan_close", h, openEnd.Close)
}

//export shmlib_go_chan_handover
func shmlib_go_chan_handover(h C.shmlib_chan_t) C.int {
	return leave("chan_handover", h, openEnd.Handover)
}

// leave ends handle h by close or handover: first the C data plane lets go
// of the end (a waiter on another thread returns SHMLIB_EWOKEN), then the
// core leaves it and unmaps the ring, then the handle is forgotten.
func leave(op string, h C.shmlib_chan_t, how func(openEnd) error) C.int {
	return onChan(op, h, func(c openEnd) C.int {
		cop := C.CString(op)
		defer C.free(unsafe.Pointer(cop))
		if rc := C.libshm_chan_quiesce(cop, C.uint64_t(h)); rc != C.SHMLIB_OK {
			return rc
		}
		if err := how(c); err != nil {
			C.libshm_chan_unquiesce(C.uint64_t(h))
			return fail(err)
		}
		C.libshm_chan_unregister(C.uint64_t(h))
		handles.Lock()
		delete(handles.m, uint64(h))
		handles.Unlock()
		return C.SHMLIB_OK
	})
}

//export shmlib_go_chan_max_message
func shmlib_go_chan_max_message(h C.shmlib_chan_t, out *C.uint64_t) C.int {
	const op = "chan_max_message"
	return onChan(op, h, func(c openEnd) C.int {
		if out == nil {
			return invalid(op, c.Key(), "out_size is NULL")
		}
		*out = C.uint64_t(c.MaxMessage())
		return C.SHMLIB_OK
	})
}
