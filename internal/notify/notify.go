// Package notify makes channel and broadcast ends of the pure-Go binding
// waitable through the Go runtime's poller, as libshm.so's pollable ends
// are through epoll (include/shmlib.h, "pollable ends"; capi/notify.c).
//
// A ring in shared memory has no descriptor the poller could watch. So an
// armed end is handed to a watcher: one goroutine locked to an OS thread,
// asleep in futex_waitv on the futex words of up to 127 armed ends and a
// word of its own, which, when an end is ready, writes that end's eventfd
// and disarms it. The goroutine waiting for the end reads the eventfd
// through an *os.File, so it is parked in the poller, holding no thread.
// The peer does nothing new: the watcher raises the end's waiting flag
// before each sleep (a channel's) or counts itself in it while armed (a
// broadcast's), so the peer's usual futex wake reaches it. The watcher also
// wakes every 100 ms and then signals every end it watches, so that a
// caller whose peer died finds out from its next call (readiness may be
// spurious: calls with timeout 0 then time out, and the caller waits
// again).
package notify

import (
	"context"
	"errors"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// End is an end the watcher can watch: *channel.Chan and
// *broadcast.Bcast.
type End interface {
	Ready() bool
	WaitWords() (seq, waiting *atomic.Uint32, count bool)
}

// ErrNoFutexWaitv: the kernel has no futex_waitv (Linux 5.16).
var ErrNoFutexWaitv = errors.New("this kernel has no futex_waitv (Linux 5.16 or later)")

const (
	watchMax   = 127
	peerCheck  = 100 * time.Millisecond
	sysWaitv   = 449 // futex_waitv
	futexWake  = 1
	futex32    = 2
	privateBit = 128 // FUTEX_PRIVATE_FLAG: the watcher's own word is not shared
)

type waitv struct {
	val   uint64
	uaddr uint64
	flags uint32
	_     uint32
}

// Notifier is the pollable side of one end: an eventfd the watcher writes.
type Notifier struct {
	end  End
	file *os.File
	fd   int
}

// New makes the notifier of end e. Close it with the end.
func New(e End) (*Notifier, error) {
	fd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("eventfd", err)
	}
	// A non-blocking descriptor: os.NewFile registers it with the poller.
	return &Notifier{end: e, fd: fd, file: os.NewFile(uintptr(fd), "libshm-notify")}, nil
}

// Close forgets the end and closes the eventfd.
func (n *Notifier) Close() error {
	w.forget(n)
	return n.file.Close()
}

// Wait returns once the end is ready (or may be: see the package comment),
// or ctx ends. The end must not be used meanwhile.
func (n *Notifier) Wait(ctx context.Context) error {
	var buf [8]byte
	unix.Read(n.fd, buf[:]) // not readable until ready again
	if n.end.Ready() {
		return nil
	}
	if err := w.arm(n); err != nil {
		return err
	}
	defer w.forget(n)
	stop := context.AfterFunc(ctx, func() { n.file.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	n.file.SetReadDeadline(time.Time{})
	if _, err := n.file.Read(buf[:]); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return err
	}
	return nil
}

// watcher is the process's watcher of armed ends (one, for up to 127).
type watcher struct {
	mu      sync.Mutex
	control atomic.Uint32
	armed   []*Notifier
	started bool
	broken  error
}

var w watcher

func (w *watcher) arm(n *Notifier) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.broken != nil {
		return w.broken
	}
	if len(w.armed) == watchMax {
		return errors.New("127 ends are armed already in this process, the most one watcher takes")
	}
	if _, waiting, count := n.end.WaitWords(); count {
		waiting.Add(1) // among a broadcast's sleepers while armed
	}
	w.armed = append(w.armed, n)
	if !w.started {
		w.started = true
		go w.run()
	}
	w.poke()
	return nil
}

func (w *watcher) forget(n *Notifier) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for i, a := range w.armed {
		if a == n {
			w.drop(i)
			w.poke()
			return
		}
	}
}

// drop removes armed[i] (w.mu held).
func (w *watcher) drop(i int) {
	if _, waiting, count := w.armed[i].end.WaitWords(); count {
		waiting.Add(^uint32(0)) // a channel's flag is left to its waker to lower
	}
	last := len(w.armed) - 1
	w.armed[i] = w.armed[last]
	w.armed = w.armed[:last]
}

func (w *watcher) poke() {
	w.control.Add(1)
	unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(&w.control)), futexWake|privateBit, 1, 0, 0, 0)
}

func signal(n *Notifier) {
	one := [8]byte{1}
	unix.Write(n.fd, one[:])
}

// run is the watcher: it sleeps in futex_waitv, a blocking system call,
// on a thread of its own.
func (w *watcher) run() {
	runtime.LockOSThread()
	var v [watchMax + 1]waitv
	last := time.Now()
	for {
		w.mu.Lock()
		judge := time.Since(last) >= peerCheck
		if judge {
			last = time.Now()
		}
		v[0] = waitv{val: uint64(w.control.Load()), uaddr: uint64(uintptr(unsafe.Pointer(&w.control))), flags: futex32 | privateBit}
		k := 1
		for i := 0; i < len(w.armed); {
			n := w.armed[i]
			seq, waiting, count := n.end.WaitWords()
			val := seq.Load()
			if !count {
				waiting.Store(1) // a channel's waker lowers it: raise it each round
			}
			if judge || n.end.Ready() {
				w.drop(i)
				signal(n)
				continue
			}
			v[k] = waitv{val: uint64(val), uaddr: uint64(uintptr(unsafe.Pointer(seq))), flags: futex32}
			k++
			i++
		}
		w.mu.Unlock()
		var mono unix.Timespec
		unix.ClockGettime(unix.CLOCK_MONOTONIC, &mono)
		until := unix.NsecToTimespec(mono.Nano() + int64(peerCheck))
		var tsp uintptr // no armed end: sleep until poked
		if k > 1 {
			tsp = uintptr(unsafe.Pointer(&until))
		}
		_, _, errno := unix.Syscall6(sysWaitv, uintptr(unsafe.Pointer(&v[0])), uintptr(k), 0, tsp, uintptr(unix.CLOCK_MONOTONIC), 0)
		if errno == unix.ENOSYS {
			w.mu.Lock()
			w.broken = ErrNoFutexWaitv
			for len(w.armed) > 0 {
				n := w.armed[0]
				w.drop(0)
				signal(n)
			}
			w.mu.Unlock()
			return
		}
	}
}
