package ringwait

import (
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The futex words live in memory shared between processes, so these are
// the shared futex operations: no FUTEX_PRIVATE_FLAG.
const (
	futexWait = 0
	futexWake = 1
)

// Sleep sleeps while *word == val, at most d. Wakeups may be spurious;
// callers re-check their condition.
func Sleep(word *atomic.Uint32, val uint32, d time.Duration) {
	ts := unix.NsecToTimespec(int64(d))
	unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(word)), futexWait, uintptr(val),
		uintptr(unsafe.Pointer(&ts)), 0, 0)
}

// WakeIfWaiting wakes the peer sleeping on seq if its waiting flag is up,
// and lowers the flag: until the sleeper runs again, further progress need
// not call into the kernel to wake nobody. The sleeper raises the flag
// again before each sleep (a channel's PROTOCOL.md, Waiting), so it is
// never missed. Only for a flag of one sleeper: a word several sleepers
// count themselves in (Waiter.Count) is woken with Bump.
func WakeIfWaiting(seq, waiting *atomic.Uint32) {
	if waiting.Load() != 0 && waiting.Swap(0) != 0 {
		WakeAll(seq)
	}
}

// WakeAll wakes every process sleeping on word.
func WakeAll(word *atomic.Uint32) {
	unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(word)), futexWake, uintptr(^uint32(0)>>1), 0, 0, 0)
}
