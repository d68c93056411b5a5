package tests

import (
	"fmt"
	"testing"
)

// TestReload: a segment outlives the process that made it. The creator
// writes and exits; a fresh process, with a fresh load of the library,
// finds the data intact and destroys the segment; after that, a third
// process cannot attach it. Each language plays each part once.
func TestReload(t *testing.T) {
	t.Parallel()
	for _, backend := range backends {
		for i := range langs {
			creator, reloader, third := langs[i], langs[(i+1)%3], langs[(i+2)%3]
			t.Run(fmt.Sprintf("%s/%s-%s-%s", backend, creator, reloader, third), func(t *testing.T) {
				t.Parallel()
				testReload(t, backend, creator, reloader, third)
			})
		}
	}
}

func testReload(t *testing.T, backend string, creator, reloader, third lang) {
	const size = 3*4096 + 1
	key := newKey(t, backend)
	start(t, creator, "create", key, size, "attach", key, "write", 23, "detach").
		expect("created "+key, fmt.Sprint("attached ", size), "wrote 23", "detached").end()

	// Nobody has it attached now: System V counts 0.
	nattach := 0
	if backend == "posix" {
		nattach = -1
	}
	start(t, reloader, "stat", key, "attach", key, "verify", 23, "detach", "destroy", key).
		expect(fmt.Sprintf("stat size=%d nattach=%d backend=%s", size, nattach, backend),
			fmt.Sprint("attached ", size), "verified 23", "detached", "destroyed").end()

	start(t, third, "attach", key).
		expect("error -2 attach " + key + ": no such segment").endWith(3)
}
