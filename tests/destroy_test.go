package tests

import (
	"fmt"
	"os"
	"testing"
)

// TestDestroyWhileAttached: a C and a Python process have a segment
// attached when a Go process destroys it. New attaches fail from then on,
// in every language; the two attached ones keep writing and reading each
// other's data; and the memory goes only when the last of them detaches,
// as the kernel shows (/dev/shm, /proc/PID/maps, /proc/sysvipc/shm).
func TestDestroyWhileAttached(t *testing.T) {
	t.Parallel()
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			testDestroyWhileAttached(t, backend)
		})
	}
}

func testDestroyWhileAttached(t *testing.T, backend string) {
	const size = 10007
	key := newKey(t, backend)
	// Both end on a wait, so that the kernel can be looked at after their
	// detach while they still live: it is the detach that frees, not exit.
	a := start(t, cPeer, "create", key, size, "attach", key, "write", 31, "wait",
		"verify", 32, "write", 33, "wait", "detach", "wait")
	a.expect("created "+key, fmt.Sprint("attached ", size), "wrote 31", "waiting")
	b := start(t, pyPeer, "attach", key, "verify", 31, "wait", "write", 32, "wait",
		"verify", 33, "detach", "wait")
	b.expect(fmt.Sprint("attached ", size), "verified 31", "waiting")
	id := -1
	if backend == "sysv" {
		id = sysvID(t, key)
	}

	start(t, goPeer, "destroy", key).expect("destroyed").end()
	for _, l := range langs {
		start(t, l, "attach", key).expect("error -2 attach " + key + ": no such segment").endWith(3)
	}
	// POSIX: the name is gone at once, the mappings stay. System V: the
	// segment stays, keyless (marked for removal), with both attaches.
	expectKernel(t, backend, key, id, map[*proc]bool{a: true, b: true})

	b.release()
	b.expect("wrote 32", "waiting")
	a.release()
	a.expect("verified 32", "wrote 33", "waiting")
	b.release()
	b.expect("verified 33", "detached", "waiting")
	expectKernel(t, backend, key, id, map[*proc]bool{a: true, b: false})

	a.release()
	a.expect("detached", "waiting")
	expectKernel(t, backend, key, id, map[*proc]bool{a: false, b: false})

	a.release()
	a.end()
	b.release()
	b.end()
}

// expectKernel checks a destroyed segment against what the kernel shows,
// given which processes still have it attached.
func expectKernel(t *testing.T, backend, key string, id int, attached map[*proc]bool) {
	t.Helper()
	n := 0
	for p, want := range attached {
		if want {
			n++
		}
		if backend == "posix" && mapped(t, p.pid, posixPath(key)) != want {
			t.Fatalf("%s: /proc/%d/maps shows %s mapped: %v, want %v", p.name, p.pid, posixPath(key), !want, want)
		}
	}
	if backend == "posix" {
		if _, err := os.Stat(posixPath(key)); !os.IsNotExist(err) {
			t.Fatalf("%s after destroy: %v, want it gone from /dev/shm", posixPath(key), err)
		}
		return
	}
	segs, err := sysvSegments()
	if err != nil {
		t.Fatal(err)
	}
	seg, listed := segs[id]
	switch {
	case n == 0 && listed:
		t.Fatalf("shmid %d is still in /proc/sysvipc/shm after the last detach: %+v", id, seg)
	case n > 0 && !listed:
		t.Fatalf("shmid %d is gone from /proc/sysvipc/shm while %d processes have it attached", id, n)
	case n > 0 && (seg.key != 0 || seg.nattch != n):
		t.Fatalf("shmid %d after destroy: key %#x nattch %d, want key 0 (marked for removal) nattch %d", id, seg.key, seg.nattch, n)
	}
}
