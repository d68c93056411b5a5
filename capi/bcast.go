package main

// #include <stdlib.h>
// #include "shmlib.h"
// #include "chan.h"
import "C"

import (
	"unsafe"

	"github.com/libshm/libshm/internal/broadcast"
	"github.com/libshm/libshm/internal/segment"
)

// The control plane of broadcast channels: create, and open (which
// shmlib_chan_open hands over when the end is a subscriber or the segment
// holds a broadcast). Close, handover and max_message are the channel's,
// through the openEnd each handle keeps (channels.go).

const bcastCreateFlags = C.SHMLIB_SPARSE | C.SHMLIB_DESTROY_ON_EXIT | C.SHMLIB_BCAST_OVERWRITE

//export shmlib_go_bcast_create
func shmlib_go_bcast_create(key *C.char, capacity C.uint64_t, subscribers, mode, flags C.uint32_t, outKey *C.char, outKeyLen C.size_t) (rc C.int) {
	const op = "bcast_create"
	var made string // destroyed if the key cannot be handed back, as in create
	defer func() {
		if rc < 0 && made != "" {
			segment.Destroy(made)
		}
	}()
	return call(op, func() C.int {
		k, rc := createArgs(op, key, flags, bcastCreateFlags, outKey)
		if rc != C.SHMLIB_OK {
			return rc
		}
		policy := broadcast.Lossless
		if flags&C.SHMLIB_BCAST_OVERWRITE != 0 {
			policy = broadcast.OverwriteOldest
		}
		var err error
		made, err = broadcast.Create(k, uint64(capacity), uint32(subscribers), policy, createOptions(mode, flags))
		if err != nil {
			return fail(err)
		}
		if outKey != nil {
			return putString(op, k, made, outKey, outKeyLen)
		}
		return C.SHMLIB_OK
	})
}

// isBroadcast reports whether key names a segment holding a broadcast
// channel (by its magic); anything it cannot tell is not one, and the
// channel's open then says what is wrong.
func isBroadcast(key string) bool {
	info, err := segment.Stat(key)
	return err == nil && broadcast.Probe(&info)
}

// openBroadcast is shmlib_chan_open of a broadcast channel.
func openBroadcast(key string, end C.int, out *C.shmlib_chan_t) C.int {
	e := broadcast.End(end & 0xff)
	if e == C.SHMLIB_CHAN_CONSUMER {
		return invalid("chan_open", key, "a broadcast channel has subscribers, not a consumer: open it with SHMLIB_CHAN_SUBSCRIBER")
	}
	b, err := broadcast.Open(key, e)
	if err != nil {
		return fail(err)
	}
	r := b.Ring()
	ckey := C.CString(b.Key())
	defer C.free(unsafe.Pointer(ckey))
	eintr := C.int(0)
	if end&C.SHMLIB_CHAN_EINTR != 0 {
		eintr = 1
	}
	// In the C data plane a subscriber is a consumer whose head is its
	// slot's: the waiting and the wakes of both are one.
	cend, pos := C.int(C.SHMLIB_CHAN_PRODUCER), r.Tail
	if e == broadcast.Subscriber {
		cend, pos = C.SHMLIB_CHAN_CONSUMER, b.Head()
	}
	be := C.struct_bcast_end{slots: C.uint32_t(r.Slots), policy: C.uint32_t(r.Policy), slot: C.uint32_t(r.Slot),
		oldest: C.uint64_t(r.Oldest), messages: C.uint64_t(r.Messages)}
	var h C.uint64_t
	if rc := C.libshm_chan_register(r.Base, C.uint64_t(r.Capacity), C.uint64_t(r.MaxMsg), cend, eintr,
		C.int(r.LockFd), 0, C.uint64_t(pos), ckey, &be, C.uint64_t(r.DataOffset), &h); rc != C.SHMLIB_OK {
		b.Close()
		return rc
	}
	keepHandle(h, b, out)
	return C.SHMLIB_OK
}
