package main

// #include "shmlib.h"
import "C"

import (
	"unsafe"

	"github.com/libshm/libshm/internal/broadcast"
	"github.com/libshm/libshm/internal/channel"
	"github.com/libshm/libshm/internal/errs"
	"github.com/libshm/libshm/internal/keys"
	"github.com/libshm/libshm/internal/segment"
)

//export shmlib_go_version
func shmlib_go_version() C.uint { return C.uint(segment.VersionNumber) }

//export shmlib_go_ftok
func shmlib_go_ftok(path *C.char, projID C.int, outKey *C.char, outKeyLen C.size_t) C.int {
	const op = "ftok"
	return call(op, func() C.int {
		p, rc := goString(op, "the path", path)
		if rc != C.SHMLIB_OK {
			return rc
		}
		if outKey == nil {
			return invalid(op, p, "out_key is NULL")
		}
		key, err := segment.Ftok(p, int(projID))
		if err != nil {
			return fail(err)
		}
		return putString(op, p, key, outKey, outKeyLen)
	})
}

//export shmlib_go_key_normalize
func shmlib_go_key_normalize(key *C.char, outKey *C.char, outKeyLen C.size_t) C.int {
	const op = "key_normalize"
	return call(op, func() C.int {
		k, rc := goString(op, "the key", key)
		if rc != C.SHMLIB_OK {
			return rc
		}
		canonical, err := segment.NormalizeKey(op, k)
		if err != nil {
			return fail(err)
		}
		return putString(op, k, canonical, outKey, outKeyLen)
	})
}

const createFlags = C.SHMLIB_OPEN_EXISTING | C.SHMLIB_HUGETLB | C.SHMLIB_SPARSE | C.SHMLIB_DESTROY_ON_EXIT

//export shmlib_go_create
func shmlib_go_create(key *C.char, size C.uint64_t, mode, flags C.uint32_t, outKey *C.char, outKeyLen C.size_t) (rc C.int) {
	const op = "create"
	// A create that fails leaves nothing behind, also when writing out_key
	// fails or faults: the caller could never name the segment to destroy it.
	var made segment.Created
	defer func() {
		if rc < 0 && made.Key != "" && !made.Opened {
			segment.Destroy(made.Key)
		}
	}()
	return call(op, func() C.int {
		k, rc := createArgs(op, key, flags, createFlags, outKey)
		if rc != C.SHMLIB_OK {
			return rc
		}
		var err error
		made, err = segment.Create(k, uint64(size), createOptions(mode, flags))
		if err != nil {
			return fail(err)
		}
		if outKey != nil {
			if rc := putString(op, k, made.Key, outKey, outKeyLen); rc != C.SHMLIB_OK {
				return rc
			}
		}
		if made.Opened {
			return C.SHMLIB_OPENED
		}
		return C.SHMLIB_OK
	})
}

// createArgs reads and checks what the create calls share: a key that may
// be NULL (create chooses), the flags, and an out_key that must be there
// when the library chooses the key.
func createArgs(op string, key *C.char, flags, known C.uint32_t, outKey *C.char) (string, C.int) {
	k := ""
	if key != nil {
		var rc C.int
		if k, rc = goString(op, "the key", key); rc != C.SHMLIB_OK {
			return "", rc
		}
	}
	if flags&^known != 0 {
		return "", unknownFlags(op, k, flags, known)
	}
	if outKey == nil && chosenByLibrary(k) {
		return "", invalid(op, k, "out_key is NULL, but the library chooses the key: pass a buffer of SHMLIB_KEY_MAX bytes")
	}
	return k, C.SHMLIB_OK
}

func createOptions(mode, flags C.uint32_t) segment.CreateOptions {
	return segment.CreateOptions{
		Mode:          uint32(mode),
		OpenExisting:  flags&C.SHMLIB_OPEN_EXISTING != 0,
		HugeTLB:       flags&C.SHMLIB_HUGETLB != 0,
		Sparse:        flags&C.SHMLIB_SPARSE != 0,
		DestroyOnExit: flags&C.SHMLIB_DESTROY_ON_EXIT != 0,
	}
}

// chosenByLibrary: the key asks create to pick the segment, so out_key is
// the only way the caller learns what was made. A malformed key is not:
// create reports it as such.
func chosenByLibrary(key string) bool {
	k, err := keys.Parse(key)
	return err == nil && k.CreateOnly()
}

const attachFlags = C.SHMLIB_RDONLY | C.SHMLIB_POPULATE | C.SHMLIB_LOCK | C.SHMLIB_FIXED

//export shmlib_go_attach
func shmlib_go_attach(key *C.char, hint C.uintptr_t, flags C.uint32_t, outAddr *unsafe.Pointer, outSize *C.uint64_t) C.int {
	const op = "attach"
	return call(op, func() C.int {
		k, rc := goString(op, "the key", key)
		if rc != C.SHMLIB_OK {
			return rc
		}
		if outAddr == nil {
			return invalid(op, k, "out_addr is NULL")
		}
		if flags&^attachFlags != 0 {
			return unknownFlags(op, k, flags, attachFlags)
		}
		if !writable(op, unsafe.Pointer(outAddr), 8) || !writable(op, unsafe.Pointer(outSize), 8) {
			return C.SHMLIB_EFAULT
		}
		m, err := segment.Attach(k, segment.AttachOptions{
			Hint:     uintptr(hint),
			Fixed:    flags&C.SHMLIB_FIXED != 0,
			ReadOnly: flags&C.SHMLIB_RDONLY != 0,
			Populate: flags&C.SHMLIB_POPULATE != 0,
			Lock:     flags&C.SHMLIB_LOCK != 0,
		})
		if err != nil {
			return fail(err)
		}
		*outAddr = m.Addr
		if outSize != nil {
			*outSize = C.uint64_t(m.Size)
		}
		return C.SHMLIB_OK
	})
}

//export shmlib_go_detach
func shmlib_go_detach(addr unsafe.Pointer) C.int {
	return call("detach", func() C.int { return result(segment.Detach(addr)) })
}

//export shmlib_go_destroy
func shmlib_go_destroy(key *C.char) C.int {
	const op = "destroy"
	return call(op, func() C.int {
		k, rc := goString(op, "the key", key)
		if rc != C.SHMLIB_OK {
			return rc
		}
		return result(segment.Destroy(k))
	})
}

//export shmlib_go_stat
func shmlib_go_stat(key *C.char, out *C.shmlib_stat_t) C.int {
	const op = "stat"
	return call(op, func() C.int {
		k, rc := goString(op, "the key", key)
		if rc != C.SHMLIB_OK {
			return rc
		}
		if out == nil {
			return invalid(op, k, "out_stat is NULL")
		}
		info, err := segment.Stat(k)
		if err != nil {
			return fail(err)
		}
		fillStat(out, &info)
		return C.SHMLIB_OK
	})
}

//export shmlib_go_list
func shmlib_go_list(out *C.shmlib_stat_t, capacity C.size_t, outCount *C.size_t) C.int {
	const op = "list"
	return call(op, func() C.int {
		if rc := checkItems(op, out, capacity, outCount); rc != C.SHMLIB_OK {
			return rc
		}
		infos, err := segment.List()
		if err != nil {
			return fail(err)
		}
		return putItems(op, infos, out, capacity, outCount)
	})
}

//export shmlib_go_reap
func shmlib_go_reap(flags C.uint32_t, out *C.shmlib_stat_t, capacity C.size_t, outCount *C.size_t) C.int {
	const op = "reap"
	return call(op, func() C.int {
		if flags&^C.SHMLIB_REAP_DESTROY != 0 {
			return unknownFlags(op, "", flags, C.SHMLIB_REAP_DESTROY)
		}
		if rc := checkItems(op, out, capacity, outCount); rc != C.SHMLIB_OK {
			return rc
		}
		infos, err := segment.Reap(flags&C.SHMLIB_REAP_DESTROY != 0)
		if err != nil {
			return fail(err)
		}
		return putItems(op, infos, out, capacity, outCount)
	})
}

// checkItems checks the arguments of a call that returns a list of stats.
func checkItems(op string, out *C.shmlib_stat_t, capacity C.size_t, outCount *C.size_t) C.int {
	if outCount == nil {
		return invalid(op, "", "out_count is NULL")
	}
	if out == nil && capacity != 0 {
		return invalid(op, "", "out_items is NULL but capacity is not 0")
	}
	return C.SHMLIB_OK
}

// putItems writes what fits of infos to out and their number to outCount;
// SHMLIB_ERANGE if not all fit.
func putItems(op string, infos []segment.Info, out *C.shmlib_stat_t, capacity C.size_t, outCount *C.size_t) C.int {
	*outCount = C.size_t(len(infos))
	if out == nil {
		return C.SHMLIB_OK // only counting
	}
	n := min(uint64(capacity), uint64(len(infos)))
	if _, err := cbytes(op, "", unsafe.Pointer(out), n*C.sizeof_shmlib_stat_t); err != nil {
		return fail(err)
	}
	items := unsafe.Slice(out, n)
	for i := range items {
		fillStat(&items[i], &infos[i])
	}
	if uint64(len(infos)) > n {
		return fail(&errs.Error{Op: op, Code: errs.ErrRange,
			Msg: "more segments than out_items holds; *out_count says how many"})
	}
	return C.SHMLIB_OK
}

//export shmlib_go_destroy_at_exit
func shmlib_go_destroy_at_exit() {
	call("exit", func() C.int {
		segment.DestroyAtExit()
		return C.SHMLIB_OK
	})
}

//export shmlib_go_memfd_send
func shmlib_go_memfd_send(sock C.int, key *C.char) C.int {
	const op = "memfd_send"
	return call(op, func() C.int {
		k, rc := goString(op, "the key", key)
		if rc != C.SHMLIB_OK {
			return rc
		}
		return result(segment.SendMemfd(int(sock), k))
	})
}

//export shmlib_go_memfd_recv
func shmlib_go_memfd_recv(sock C.int, outKey *C.char, outKeyLen C.size_t) (rc C.int) {
	const op = "memfd_recv"
	// A key the caller cannot be given is a descriptor it cannot close:
	// let it go again, as create does with a segment.
	var got string
	defer func() {
		if rc < 0 && got != "" {
			segment.Destroy(got)
		}
	}()
	return call(op, func() C.int {
		if outKey == nil {
			return invalid(op, "", "out_key is NULL")
		}
		// Before the segment is taken off the socket: a buffer that faults
		// must not cost the sender's segment.
		if !writable(op, unsafe.Pointer(outKey), min(uint64(outKeyLen), C.SHMLIB_KEY_MAX)) {
			return C.SHMLIB_EFAULT
		}
		var err error
		if got, err = segment.ReceiveMemfd(int(sock)); err != nil {
			return fail(err)
		}
		return putString(op, "", got, outKey, outKeyLen)
	})
}

func fillStat(out *C.shmlib_stat_t, info *segment.Info) {
	*out = C.shmlib_stat_t{}
	key := unsafe.Slice((*byte)(unsafe.Pointer(&out.key[0])), len(out.key))
	copy(key[:len(key)-1], info.Key) // keys are shorter than SHMLIB_KEY_MAX
	out.size = C.uint64_t(info.Size)
	out.nattach = C.int64_t(info.Nattach)
	out.atime = C.int64_t(info.Atime)
	out.dtime = C.int64_t(info.Dtime)
	out.ctime = C.int64_t(info.Ctime)
	out.backend = C.uint32_t(info.Backend)
	out.mode = C.uint32_t(info.Mode)
	out.uid, out.gid = C.uint32_t(info.UID), C.uint32_t(info.GID)
	out.cuid, out.cgid = C.uint32_t(info.CUID), C.uint32_t(info.CGID)
	out.cpid, out.lpid = C.int32_t(info.CPID), C.int32_t(info.LPID)
	out.shmid = C.int32_t(info.ShmID)
	out.ipc_key = C.uint32_t(info.IPCKey)
	if info.Destroyed {
		out.flags |= C.SHMLIB_STAT_DESTROYED
	}
	if info.Locked {
		out.flags |= C.SHMLIB_STAT_LOCKED
	}
	if channel.Probe(info) {
		out.flags |= C.SHMLIB_STAT_CHANNEL
	} else if broadcast.Probe(info) {
		out.flags |= C.SHMLIB_STAT_BROADCAST
	}
}
