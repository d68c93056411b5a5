package segment

import (
	"runtime/debug"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/libshm/libshm/internal/errs"
)

func TestReadOnlyMappingFaultsOnWrite(t *testing.T) {
	for _, backend := range backends {
		key := mustCreate(t, backend, 4096, CreateOptions{})
		rw := mustAttach(t, key, AttachOptions{})
		copy(bytesOf(rw), "written")
		ro := mustAttach(t, key, AttachOptions{ReadOnly: true})
		if !ro.ReadOnly || string(bytesOf(ro)[:7]) != "written" {
			t.Fatalf("%s: read-only mapping %+v does not read the data", backend, ro)
		}
		if !writeFaults(bytesOf(ro)) {
			t.Fatalf("%s: writing a read-only mapping did not fault", backend)
		}
	}
}

// writeFaults writes one byte and reports whether that faulted. With
// SetPanicOnFault the SIGSEGV becomes a recoverable panic in this goroutine.
func writeFaults(b []byte) (faulted bool) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() { faulted = recover() != nil }()
	b[0] = 'x'
	return false
}

func TestFixedAddress(t *testing.T) {
	for _, backend := range backends {
		key := mustCreate(t, backend, 8192, CreateOptions{})
		// Find a free, aligned range: map some anonymous memory, free it.
		hole, err := unix.MmapPtr(-1, 0, nil, 8192, unix.PROT_NONE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
		if err != nil {
			t.Fatal(err)
		}
		unix.MunmapPtr(hole, 8192)
		m := mustAttach(t, key, AttachOptions{Hint: uintptr(hole), Fixed: true})
		if m.Addr != hole {
			t.Fatalf("%s: SHMLIB_FIXED mapped at %p, want %p", backend, m.Addr, hole)
		}
		// The range is now taken: FIXED refuses, a mere hint goes elsewhere.
		_, err = Attach(key, AttachOptions{Hint: uintptr(hole), Fixed: true})
		wantCode(t, err, errs.ErrInvalid, "range is taken")
		other := mustAttach(t, key, AttachOptions{Hint: uintptr(hole)})
		if other.Addr == hole {
			t.Fatalf("%s: a hint replaced an existing mapping", backend)
		}
	}
}

func TestPopulateAndLock(t *testing.T) {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_MEMLOCK, &lim); err != nil {
		t.Fatal(err)
	}
	const size = 64 << 10
	for _, backend := range backends {
		key := mustCreate(t, backend, size, CreateOptions{})
		m := mustAttach(t, key, AttachOptions{Populate: true})
		if !resident(t, m) {
			t.Errorf("%s: SHMLIB_POPULATE left pages out of memory", backend)
		}
		locked, err := Attach(key, AttachOptions{Lock: true})
		if lim.Cur < size && unix.Geteuid() != 0 {
			wantCode(t, err, errs.ErrNoMemory, "RLIMIT_MEMLOCK")
			continue
		}
		if err != nil {
			t.Fatalf("%s: SHMLIB_LOCK: %v", backend, err)
		}
		if !resident(t, locked) {
			t.Errorf("%s: SHMLIB_LOCK left pages out of memory", backend)
		}
		if err := Detach(locked.Addr); err != nil {
			t.Fatal(err)
		}
	}
}

// resident asks mincore whether every page of the mapping is in memory.
func resident(t *testing.T, m Mapping) bool {
	t.Helper()
	pages := (int(m.Size) + unix.Getpagesize() - 1) / unix.Getpagesize()
	vec := make([]byte, pages)
	// x/sys/unix has no Mincore wrapper on Linux.
	_, _, errno := unix.Syscall(unix.SYS_MINCORE, uintptr(m.Addr), uintptr(m.Size), uintptr(unsafe.Pointer(&vec[0])))
	if errno != 0 {
		t.Fatal(errno)
	}
	for _, v := range vec {
		if v&1 == 0 {
			return false
		}
	}
	return true
}
