package tests

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
)

// TestReadOnly: a process of one language attaches read-only a segment
// another language made. Reading works; Python's API refuses to write
// (its memoryview is read-only); a deliberate raw write faults, killing
// only that process, which expected it; and the creator finds its data
// untouched.
func TestReadOnly(t *testing.T) {
	t.Parallel()
	for _, backend := range backends {
		for i, reader := range langs {
			creator := langs[(i+1)%len(langs)]
			t.Run(fmt.Sprintf("%s/%s-reads-%s", backend, reader, creator), func(t *testing.T) {
				t.Parallel()
				testReadOnly(t, backend, creator, reader)
			})
		}
	}
}

func testReadOnly(t *testing.T, backend string, creator, reader lang) {
	const size = 10007
	key := newKey(t, backend)
	c := start(t, creator, "create", key, size, "attach", key, "write", 51, "wait",
		"verify", 51, "detach", "destroy", key)
	c.expect("created "+key, fmt.Sprint("attached ", size), "wrote 51", "waiting")

	words := []any{"attach-ro", key, "verify", 51}
	if reader == pyPeer {
		words = append(words, "try-write")
	}
	r := start(t, reader, append(words, "poke")...)
	r.expect(fmt.Sprint("attached ", size), "verified 51")
	if reader == pyPeer {
		r.expect("write-refused TypeError")
	}
	r.expect("poking")
	ws := r.finish()
	if reader == goPeer {
		// The Go runtime catches the SIGSEGV and dies of it with a report
		// and status 2. SEGV_ACCERR (code=0x2): the page is mapped, but
		// not writable.
		if !ws.Exited() || ws.ExitStatus() != 2 ||
			!strings.Contains(r.stderr.String(), "signal SIGSEGV: segmentation violation code=0x2") {
			r.fatalf("want the Go runtime's fatal SIGSEGV (SEGV_ACCERR) report and exit status 2")
		}
	} else if !ws.Signaled() || ws.Signal() != syscall.SIGSEGV {
		r.fatalf("want death by SIGSEGV")
	}

	c.release()
	c.expect("verified 51", "detached", "destroyed").end()
}
