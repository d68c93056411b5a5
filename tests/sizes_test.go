package tests

import (
	"fmt"
	"os"
	"testing"
)

// TestSizes: segments of 1 byte, one page, a size that is not a multiple
// of the page size, and 256 MiB go round all three languages: Go creates
// and writes, C checks every byte and writes, Python checks every byte and
// writes, Go checks. Every attach reports the size asked for, not a
// rounded one.
func TestSizes(t *testing.T) {
	t.Parallel()
	sizes := []int{1, os.Getpagesize(), 10007, 256 << 20}
	for _, backend := range backends {
		for _, size := range sizes {
			t.Run(fmt.Sprintf("%s/%d", backend, size), func(t *testing.T) {
				t.Parallel()
				testSize(t, backend, size)
			})
		}
	}
}

func testSize(t *testing.T, backend string, size int) {
	key := newKey(t, backend)
	attached := fmt.Sprint("attached ", size)
	g := start(t, goPeer, "create", key, size, "attach", key, "write", 61, "wait",
		"verify", 63, "detach", "destroy", key)
	g.expect("created "+key, attached, "wrote 61", "waiting")
	start(t, cPeer, "attach", key, "verify", 61, "write", 62, "detach").
		expect(attached, "verified 61", "wrote 62", "detached").end()
	start(t, pyPeer, "attach", key, "verify", 62, "write", 63, "detach").
		expect(attached, "verified 62", "wrote 63", "detached").end()
	g.release()
	g.expect("verified 63", "detached", "destroyed").end()
}
