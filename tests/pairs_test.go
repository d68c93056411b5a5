package tests

import (
	"fmt"
	"testing"
)

// TestPairs: for every ordered pair of languages and both backends, the
// first creates a segment and writes a pattern; the second, another
// process given only the key, attaches, checks every byte and writes its
// own pattern; the first, attached all along, then sees that pattern.
// The languages are Go, C and Python through libshm.so, and native Go
// (bindings/go/shmlib, no libshm.so).
func TestPairs(t *testing.T) {
	t.Parallel()
	for _, backend := range backends {
		for _, first := range allLangs {
			for _, second := range allLangs {
				if first == second {
					continue
				}
				t.Run(fmt.Sprintf("%s/%s-to-%s", backend, first, second), func(t *testing.T) {
					t.Parallel()
					testPair(t, backend, first, second)
				})
			}
		}
	}
}

func testPair(t *testing.T, backend string, first, second lang) {
	const size = 10007
	key := newKey(t, backend)
	creator := start(t, first, "create", key, size, "attach", key, "write", 17,
		"wait", "verify", 42, "detach", "destroy", key)
	creator.expect("created "+key, fmt.Sprint("attached ", size), "wrote 17", "waiting")

	start(t, second, "attach", key, "verify", 17, "write", 42, "detach").
		expect(fmt.Sprint("attached ", size), "verified 17", "wrote 42", "detached").end()

	creator.release()
	creator.expect("verified 42", "detached", "destroyed").end()
}
