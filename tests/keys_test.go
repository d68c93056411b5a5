package tests

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/libshm/libshm/internal/errs"
	"github.com/libshm/libshm/internal/segment"
)

// backends are the two kinds of segment, as keys and stat name them.
var backends = []string{"posix", "sysv"}

// posixPrefix starts the name of every POSIX segment this run makes, so
// that the leak check can tell them from other processes' segments.
var posixPrefix = fmt.Sprintf("libshm-xtest-%d-", os.Getpid())

var serial atomic.Int64

// ownership remembers what this run may have made: the System V keys it
// chose and the processes it started (the creators /proc/sysvipc/shm
// names).
type ownership struct {
	sync.Mutex
	keys map[uint32]bool
	pids map[int]bool
}

var registry = ownership{keys: map[uint32]bool{}, pids: map[int]bool{}}

func (o *ownership) addKey(k uint32) {
	o.Lock()
	defer o.Unlock()
	o.keys[k] = true
}

func (o *ownership) addPid(pid int) {
	o.Lock()
	defer o.Unlock()
	o.pids[pid] = true
}

func (o *ownership) ours(seg sysvSegment) bool {
	o.Lock()
	defer o.Unlock()
	return o.keys[seg.key] || o.pids[seg.cpid]
}

// newKey names a new segment of backend ("posix" or "sysv") in its
// canonical form, and destroys whatever is left of it when t ends, passed
// or failed. That cleanup uses the pure-Go core: no library is loaded.
func newKey(t *testing.T, backend string) string {
	var key string
	switch backend {
	case "posix":
		key = fmt.Sprintf("posix:/%s%d", posixPrefix, serial.Add(1))
	case "sysv":
		k := rand.Uint32() | 1<<31 // never 0, which is IPC_PRIVATE
		registry.addKey(k)
		key = fmt.Sprintf("sysv:key=0x%08x", k)
	default:
		t.Fatalf("unknown backend %q", backend)
	}
	t.Cleanup(func() {
		if err := segment.Destroy(key); err != nil && !errors.Is(err, errs.ErrNotExist) {
			t.Errorf("cleaning up: %v", err)
		}
	})
	return key
}
