package main

import (
	"runtime/debug"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/libshm/libshm/internal/errs"
)

// sink keeps the loads of the cases from being optimised away.
var sink byte

// panicOf runs f and returns what it panicked with, as call's deferred
// recover sees it (faults as panics).
func panicOf(f func()) (r any) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() { r = recover() }()
	f()
	return nil
}

// TestPanicKinds: a panic is judged by its type, not its text. Only a
// fault at an address is the caller's SHMLIB_EFAULT; a nil dereference, an
// index out of range or a plain panic inside libshm is SHMLIB_EINTERNAL.
func TestPanicKinds(t *testing.T) {
	page, err := unix.Mmap(-1, 0, 4096, unix.PROT_NONE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(page)
	var nilp *int
	var slice []int
	cases := []struct {
		name string
		f    func()
		want errs.Code
	}{
		{"unreadable memory", func() { sink = *(*byte)(unsafe.Pointer(&page[0])) }, errs.ErrFault},
		{"nil dereference", func() { sink = byte(*nilp) }, errs.ErrInternal},
		{"index out of range", func() { _ = slice[len(page)] }, errs.ErrInternal},
		{"a fault named in a panic's text", func() { panic("fault") }, errs.ErrInternal},
	}
	for _, c := range cases {
		r := panicOf(c.f)
		if r == nil {
			t.Errorf("%s: no panic", c.name)
			continue
		}
		if e := panicError("op", r); e.Code != c.want {
			t.Errorf("%s: panic %v gives %v, want %v", c.name, r, e.Code, c.want)
		}
	}
}
