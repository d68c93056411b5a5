package shmlib

import (
	"sync"
	"unsafe"

	"github.com/libshm/libshm/internal/segment"
)

// Mapping is one attach of a segment in this process, made by [Attach].
//
// A Mapping is not detached when it becomes unreachable: there is no
// finalizer, because slices from [Mapping.Bytes] do not keep the Mapping
// alive, and unmapping pages under a live slice would crash the program.
// Call [Mapping.Detach]; what is never detached stays mapped until the
// process exits.
type Mapping struct {
	key      string
	size     uint64
	readOnly bool

	// mu guards addr. Detach holds it for writing; Bytes, ReadAt and
	// WriteAt hold it for reading, so that Detach never unmaps the pages
	// while ReadAt or WriteAt copies.
	mu   sync.RWMutex
	addr unsafe.Pointer // nil once detached
}

// Key is the canonical key of the segment, e.g. "posix:/frames".
func (m *Mapping) Key() string { return m.key }

// Size is the length of the mapping and of the segment, in bytes.
func (m *Mapping) Size() uint64 { return m.size }

// ReadOnly reports whether the mapping was attached read-only.
func (m *Mapping) ReadOnly() bool { return m.readOnly }

// Bytes returns the shared memory itself as a []byte of Size bytes: not a
// copy, so a write through it is seen at once by every other mapping of the
// segment, in this process and in others. It returns the same memory each
// time; after Detach it returns an error matching [ErrNotAttached].
//
// THE SLICE IS VALID ONLY UNTIL DETACH. Detach unmaps the pages, and any
// later use of the slice (or of a subslice, or of a string made from it
// with unsafe) crashes the program, or worse, silently reads and writes
// whatever is mapped at that address next. Keep Bytes and Detach in one
// owner, and drop the slice when you detach.
//
// Two more things crash a program that touches the slice, as a fault the
// Go runtime does not let ordinary code survive ("fatal error: fault"):
//
//   - a write through a ReadOnly mapping (SIGSEGV);
//   - a read or write past the end of a POSIX segment that another process
//     has truncated (SIGBUS), or of a Sparse segment that /dev/shm has no
//     room left for.
//
// [Mapping.ReadAt] and [Mapping.WriteAt] return [ErrFault] instead. Code
// that uses the slice directly and must survive such peers can do the
// same: call [runtime/debug.SetPanicOnFault](true) in the goroutine that
// touches the memory, and recover the panic, whose value has an
// Addr() uintptr method. See the example.
func (m *Mapping) Bytes() ([]byte, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.addr == nil {
		return nil, m.detached("bytes")
	}
	return m.mem(), nil
}

// Detach unmaps this mapping. The segment lives on: its contents, other
// mappings of it here and in other processes, and a later Attach are not
// affected. After Detach the slices from Bytes must not be touched.
//
// Detach waits for ReadAt and WriteAt calls in progress. Of concurrent
// Detach calls exactly one succeeds; the others, and every later call,
// return an error matching [ErrNotAttached].
func (m *Mapping) Detach() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.addr == nil {
		return m.detached("detach")
	}
	if err := segment.Detach(m.addr); err != nil {
		return err
	}
	m.addr = nil
	return nil
}

// mem is the mapped memory; the caller holds mu and has checked addr.
func (m *Mapping) mem() []byte {
	return unsafe.Slice((*byte)(m.addr), m.size)
}

func (m *Mapping) detached(op string) error {
	return &Error{Op: op, Key: m.key, Code: ErrNotAttached, Msg: "the mapping has been detached"}
}
