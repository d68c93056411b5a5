package segment

import (
	"sync"
	"unsafe"

	"github.com/libshm/libshm/internal/keys"
)

// mapping is one live attach made by this process.
type mapping struct {
	key      keys.Key
	addr     unsafe.Pointer
	size     uint64
	readOnly bool
}

// table holds every live mapping by its start address. Detach needs it to
// know how to unmap an address (munmap with a size, or shmdt), and to refuse
// addresses the library did not hand out instead of unmapping whatever is
// there. Many C threads may call at once, hence the lock.
var table = struct {
	sync.Mutex
	m map[uintptr]*mapping
}{m: make(map[uintptr]*mapping)}

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
