package tests

import (
	"fmt"
	"testing"
)

// TestPipeline: three processes, one per language, attach the same segment
// at the same time and take turns applying their step to it. Each then
// checks the whole buffer against the recipe of all the steps in their
// order, and stat follows the attach count up and down (System V; POSIX
// does not count attaches, and says -1). Native Go (bindings/go/shmlib)
// also takes the middle stage between C and Python, both ways round.
func TestPipeline(t *testing.T) {
	t.Parallel()
	for _, backend := range backends {
		for _, stages := range [][]lang{
			{cPeer, pyPeer, goPeer},
			{cPeer, nativePeer, pyPeer},
			{pyPeer, nativePeer, cPeer},
		} {
			t.Run(fmt.Sprintf("%s/%s-%s-%s", backend, stages[0], stages[1], stages[2]), func(t *testing.T) {
				t.Parallel()
				testPipeline(t, backend, stages)
			})
		}
	}
}

// testPipeline runs the stages in order: the first creates and writes,
// every stage steps in turn, then they detach last to first.
func testPipeline(t *testing.T, backend string, stages []lang) {
	const size, seed = 10007, 5
	key := newKey(t, backend)
	stat := func(nattach int) string {
		if backend == "posix" {
			nattach = -1
		}
		return fmt.Sprintf("stat size=%d nattach=%d backend=%s", size, nattach, backend)
	}
	final := fmt.Sprint(seed)
	for i := range stages {
		final += fmt.Sprint("+", i+1)
	}

	// Everybody attaches; the count rises.
	procs := make([]*proc, len(stages))
	for i, l := range stages {
		var words []any
		if i == 0 {
			words = append(words, "create", key, size)
		}
		words = append(words, "attach", key)
		if i == 0 {
			words = append(words, "write", seed)
		}
		words = append(words, "stat", key, "wait", "step", i+1, "wait", "verify", final, "detach", "stat", key)
		if i == 0 {
			words = append(words, "destroy", key)
		}
		procs[i] = start(t, l, words...)
		if i == 0 {
			procs[i].expect("created "+key, fmt.Sprint("attached ", size), fmt.Sprint("wrote ", seed))
		} else {
			procs[i].expect(fmt.Sprint("attached ", size))
		}
		procs[i].expect(stat(i+1), "waiting")
	}

	// Each takes its turn, in order.
	for i, p := range procs {
		p.release()
		p.expect(fmt.Sprint("stepped ", i+1), "waiting")
	}

	// Each checks the result and detaches, last to first; the count falls.
	for i := len(procs) - 1; i >= 0; i-- {
		p := procs[i]
		p.release()
		p.expect("verified "+final, "detached", stat(i))
		if i == 0 {
			p.expect("destroyed")
		}
		p.end()
	}
}
