package segment

import (
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/libshm/libshm/internal/keys"
)

// mapping is one live attach made by this process.
type mapping struct {
	key      keys.Key
	addr     unsafe.Pointer
	size     uint64
	readOnly bool
}

// table holds the live mappings by their start addresses. m is those made
// by Attach: Detach needs it to know how to unmap an address (munmap with a
// size, or shmdt), and to refuse addresses the library did not hand out
// instead of unmapping whatever is there. live is every mapping libshm
// holds, those Map made for its own layers (channels) too: a fault at an
// address in one of them is the segment's doing, not the caller's (see
// MappingAt). Many C threads may call at once, hence the lock.
var table = struct {
	sync.Mutex
	m    map[uintptr]*mapping
	live map[uintptr]*mapping
}{m: make(map[uintptr]*mapping), live: make(map[uintptr]*mapping)}

func track(m *mapping) {
	table.Lock()
	table.live[uintptr(m.addr)] = m // a stale entry at this address is replaced, as in register
	table.Unlock()
}

func untrack(m *mapping) {
	table.Lock()
	if table.live[uintptr(m.addr)] == m {
		delete(table.live, uintptr(m.addr))
	}
	table.Unlock()
}

// MappingAt returns the canonical key of the segment whose mapping, made
// by libshm in this process, holds addr. A memory fault there means the
// segment's memory went away under the mapping (a POSIX object truncated
// by another process), not that a caller passed a bad pointer.
func MappingAt(addr uintptr) (string, bool) {
	page := uintptr(unix.Getpagesize())
	table.Lock()
	defer table.Unlock()
	for start, m := range table.live {
		// The kernel maps whole pages: a fault can lie past size in the last.
		if addr >= start && addr-start < (uintptr(m.size)+page-1)&^(page-1) {
			return m.key.String(), true
		}
	}
	return "", false
}

func register(m *mapping) {
	table.Lock()
	// An entry already at this address is stale: its memory was unmapped
	// behind the library's back (a raw munmap or shmdt) and the kernel
	// has reused the range. The new mapping is the real one.
	table.m[uintptr(m.addr)] = m
	table.Unlock()
}

// unregister removes and returns the mapping that starts at addr.
func unregister(addr unsafe.Pointer) *mapping {
	table.Lock()
	defer table.Unlock()
	m := table.m[uintptr(addr)]
	delete(table.m, uintptr(addr))
	return m
}

// containing returns the mapping whose range holds addr, if any; only for
// explaining a failed detach, so a linear scan is fine.
func containing(addr unsafe.Pointer) *mapping {
	table.Lock()
	defer table.Unlock()
	a := uintptr(addr)
	for start, m := range table.m {
		if a > start && a-start < uintptr(m.size) {
			return m
		}
	}
	return nil
}
