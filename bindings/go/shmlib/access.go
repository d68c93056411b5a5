package shmlib

import (
	"fmt"
	"io"
	"runtime/debug"
)

// ReadAt copies len(p) bytes of the segment, from offset off, into p. It
// implements [io.ReaderAt]: fewer bytes than len(p) come with io.EOF at
// the end of the segment.
//
// Unlike reading through [Mapping.Bytes], ReadAt cannot crash the program:
// a concurrent Detach waits for it, and a fault (a peer truncated the
// segment) returns an error matching [ErrFault].
//
// Errors: ErrInvalid (negative off), ErrNotAttached (detached), ErrFault.
func (m *Mapping) ReadAt(p []byte, off int64) (int, error) {
	const op = "read"
	m.mu.RLock()
	defer m.mu.RUnlock()
	src, err := m.from(op, off)
	if err != nil {
		return 0, err
	}
	n := min(len(p), len(src))
	if err := m.guard(op, func() { copy(p, src[:n]) }); err != nil {
		return 0, err
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// WriteAt copies p into the segment at offset off. It implements
// [io.WriterAt]; a segment never grows, so a write that runs past its end
// writes what fits and returns an error matching [ErrRange] and
// [io.ErrShortWrite].
//
// Unlike writing through [Mapping.Bytes], WriteAt cannot crash the
// program: a concurrent Detach waits for it, a read-only mapping is
// refused, and a fault (a peer truncated the segment) returns an error
// matching [ErrFault].
//
// Errors: ErrInvalid (negative off), ErrPermission (ReadOnly mapping),
// ErrNotAttached (detached), ErrRange, ErrFault.
func (m *Mapping) WriteAt(p []byte, off int64) (int, error) {
	const op = "write"
	m.mu.RLock()
	defer m.mu.RUnlock()
	dst, err := m.from(op, off)
	if err != nil {
		return 0, err
	}
	if m.readOnly {
		return 0, &Error{Op: op, Key: m.key, Code: ErrPermission, Msg: "the mapping is read-only"}
	}
	n := min(len(p), len(dst))
	if err := m.guard(op, func() { copy(dst, p[:n]) }); err != nil {
		return 0, err
	}
	if n < len(p) {
		return n, &Error{Op: op, Key: m.key, Code: ErrRange, Err: io.ErrShortWrite,
			Msg: fmt.Sprintf("%d bytes at offset %d run past the end of the segment (%d bytes); %d were written", len(p), off, m.size, n)}
	}
	return n, nil
}

// from is the segment's memory from off to its end, empty if off is at or
// past the end. The caller holds mu.
func (m *Mapping) from(op string, off int64) ([]byte, error) {
	switch {
	case m.addr == nil:
		return nil, m.detached(op)
	case off < 0:
		return nil, &Error{Op: op, Key: m.key, Code: ErrInvalid, Msg: fmt.Sprintf("negative offset %d", off)}
	case uint64(off) >= m.size:
		return nil, nil
	}
	return m.mem()[off:], nil
}

// guard runs fn, which touches the segment's memory, and turns a memory
// fault into ErrFault.
func (m *Mapping) guard(op string, fn func()) error {
	return guard(op, m.key, func() error { fn(); return nil })
}

// guard runs fn, which touches a segment's memory, and turns a memory fault
// into ErrFault. Without it a fault kills the whole program: the Go runtime
// treats a fault on memory it does not manage as fatal, unless the
// goroutine asked for a panic instead (SetPanicOnFault, per goroutine, so
// the previous setting is restored). Other panics are not ours to hide.
func guard(op, key string, fn func() error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		fault, ok := r.(interface{ Addr() uintptr })
		if !ok {
			panic(r)
		}
		err = &Error{Op: op, Key: key, Code: ErrFault,
			Msg: fmt.Sprintf("memory fault at %#x: the segment is smaller than its mapping (truncated by another process?) or its memory is gone", fault.Addr())}
	}()
	return fn()
}
