package tests

import (
	"fmt"
	"strings"
	"testing"
)

// TestForkGuard: a C process forks after attaching. The child reads the
// inherited mapping as usual, and every library call there returns
// SHMLIB_EFORKED (-10) without doing anything: its destroy and create
// named the live segment, which the parent then finds intact. Deeper fork
// tests belong to the C tests.
func TestForkGuard(t *testing.T) {
	t.Parallel()
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			const size = 10007
			key := newKey(t, backend)
			p := start(t, cPeer, "create", key, size, "attach", key, "write", 71,
				"fork-check", key, 71, "verify", 71, "stat", key, "detach", "destroy", key)
			p.expect("created "+key, fmt.Sprint("attached ", size), "wrote 71", "forked verified 71")
			for _, call := range []string{"create", "attach", "detach", "destroy", "stat", "list", "ftok"} {
				p.expect(fmt.Sprintf("forked %s -10", call))
			}
			if msg := p.line(); !strings.HasPrefix(msg, "forked last-error ftok: called in a child created by fork() without exec()") {
				p.fatalf("the child's last error: %q", msg)
			}
			nattach := 1
			if backend == "posix" {
				nattach = -1
			}
			p.expect("fork-child-exit 0", "verified 71",
				fmt.Sprintf("stat size=%d nattach=%d backend=%s", size, nattach, backend),
				"detached", "destroyed").end()
		})
	}
}
