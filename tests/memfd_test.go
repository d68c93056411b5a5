package tests

import (
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
)

// memfdCreators are the peers that create memfd segments here: a memfd's
// key is known only once made, so its creator refers to it as "@", which
// the Python peer does not know. Python attaches them by their key.
var memfdCreators = []lang{goPeer, cPeer, nativePeer}

// memfdSenders pass memfds over a Unix socket (memfd-send, memfd-recv):
// the Python peer does not play those commands.
var memfdSenders = []lang{goPeer, cPeer, nativePeer}

// madeKey reads the peer's next line, "created memfd:pid=P,fd=F,ino=I" (or
// "memfd-received ..." with verb "memfd-received"), checks that P is the
// peer's own pid and returns the key.
func madeKey(t *testing.T, p *proc, verb string) string {
	t.Helper()
	line := p.line()
	prefix := fmt.Sprintf("%s memfd:pid=%d,fd=", verb, p.pid)
	if !strings.HasPrefix(line, prefix) {
		p.fatalf("printed %q, want %q followed by a descriptor and an inode", line, prefix+"F,ino=I")
	}
	var fd int
	var ino uint64
	rest := line[len(prefix):]
	if _, err := fmt.Sscanf(rest, "%d,ino=%d", &fd, &ino); err != nil || fmt.Sprintf("%d,ino=%d", fd, ino) != rest {
		p.fatalf("printed %q: not a decimal descriptor and inode", line)
	}
	return strings.TrimPrefix(line, verb+" ")
}

// expectFailed reads the peer's next line, which must be `failed CODE ...`.
func (p *proc) expectFailed(code int) {
	p.t.Helper()
	if got, want := p.line(), fmt.Sprintf("failed %d ", code); !strings.HasPrefix(got, want) {
		p.fatalf("printed %q, want %q...", got, want)
	}
}

// procFD is /proc/PID/fd/FD of a memfd key: the kernel's view of it.
func procFD(key string) string {
	var pid, fd int
	fmt.Sscanf(key, "memfd:pid=%d,fd=%d", &pid, &fd)
	return fmt.Sprintf("/proc/%d/fd/%d", pid, fd)
}

// TestMemfdPairs: a memfd segment made by one process (Go through
// libshm.so, C, or native Go) is attached by its key, memfd:pid=P,fd=F,ino=I,
// by a process of every other language, and both see the same bytes. The
// other process sees it in stat but not in its list (it is not its memfd)
// and cannot destroy it; once the holder destroys it, new attaches fail,
// while the holder's mapping goes on.
func TestMemfdPairs(t *testing.T) {
	t.Parallel()
	for _, first := range memfdCreators {
		for _, second := range allLangs {
			if first == second {
				continue
			}
			t.Run(fmt.Sprintf("%s-to-%s", first, second), func(t *testing.T) {
				t.Parallel()
				testMemfdPair(t, first, second)
			})
		}
	}
}

func testMemfdPair(t *testing.T, first, second lang) {
	const size = 10007
	creator := start(t, first, "create", "memfd:", size, "attach", "@", "write", 17,
		"stat", "@", "listed", "@", "wait",
		"verify", 42, "destroy", "@", "wait",
		"step", 5, "verify", "42+5", "detach")
	key := madeKey(t, creator, "created")
	creator.expect(fmt.Sprint("attached ", size), "wrote 17",
		fmt.Sprintf("stat size=%d nattach=-1 backend=memfd", size), "listed yes", "waiting")
	if target, err := os.Readlink(procFD(key)); err != nil || !strings.HasPrefix(target, "/memfd:") {
		t.Fatalf("%s: readlink %s = %q, %v; want a memfd", key, procFD(key), target, err)
	}

	words := []any{"attach", key, "verify", 17, "write", 42}
	want := []string{fmt.Sprint("attached ", size), "verified 17", "wrote 42"}
	if second != pyPeer { // Python names backends of its own; stat is checked in C and Go
		words = append(words, "stat", key)
		want = append(want, fmt.Sprintf("stat size=%d nattach=-1 backend=memfd", size))
	}
	words = append(words, "listed", key, "expect", -4, "destroy", key, "detach")
	want = append(want, "listed no", "expecting -4")
	other := start(t, second, words...)
	other.expect(want...)
	other.expectFailed(-4)
	other.expect("detached").end()

	creator.release()
	creator.expect("verified 42", "destroyed", "waiting")
	if _, err := os.Stat(procFD(key)); !os.IsNotExist(err) {
		t.Fatalf("%s after destroy: stat %s: %v, want it gone", key, procFD(key), err)
	}
	start(t, second, "expect", -2, "attach", key).expect("expecting -2").expectFailed(-2)
	creator.release()
	creator.expect("stepped 5", "verified 42+5", "detached").end()
}

// socketPair is a connected pair of Unix stream sockets, closed when t ends.
func socketPair(t *testing.T) (*os.File, *os.File) {
	t.Helper()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	a, b := os.NewFile(uintptr(fds[0]), "socket-a"), os.NewFile(uintptr(fds[1]), "socket-b")
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

// TestMemfdSendRecv: a process creates a memfd segment, fills it, passes
// it over a Unix socket (shmlib_memfd_send) to a process of another
// language and exits. The receiver (shmlib_memfd_recv) now holds it under
// a key of its own: it attaches it, reads the sender's bytes, and a third
// process attaches it by the receiver's key; the sender's key leads
// nowhere.
func TestMemfdSendRecv(t *testing.T) {
	t.Parallel()
	for _, sender := range memfdSenders {
		for _, receiver := range memfdSenders {
			t.Run(fmt.Sprintf("%s-to-%s", sender, receiver), func(t *testing.T) {
				t.Parallel()
				testMemfdSendRecv(t, sender, receiver)
			})
		}
	}
}

func testMemfdSendRecv(t *testing.T, sender, receiver lang) {
	const size = 20011
	a, b := socketPair(t)
	recv := startWith(t, receiver, []*os.File{b}, "memfd-recv", 3, "wait",
		"attach", "@", "verify", 23, "stat", "@", "listed", "@", "write", 24, "wait",
		"destroy", "@", "expect", -2, "attach", "@", "verify", 24, "detach")
	send := startWith(t, sender, []*os.File{a}, "create", "memfd:", size, "attach", "@", "write", 23,
		"detach", "memfd-send", 3, "@")
	sent := madeKey(t, send, "created")
	send.expect(fmt.Sprint("attached ", size), "wrote 23", "detached", "memfd-sent").end()
	// The sender is gone, its descriptors closed: only the receiver holds
	// the memfd (and the message may still be in flight).
	a.Close()
	b.Close()

	key := madeKey(t, recv, "memfd-received")
	recv.expect("waiting")
	if key == sent {
		t.Fatalf("the receiver holds the memfd under the sender's key %s", key)
	}
	start(t, cPeer, "expect", -2, "attach", sent).expect("expecting -2").expectFailed(-2)

	recv.release()
	recv.expect(fmt.Sprint("attached ", size), "verified 23",
		fmt.Sprintf("stat size=%d nattach=-1 backend=memfd", size), "listed yes", "wrote 24", "waiting")
	start(t, pyPeer, "attach", key, "verify", 24, "detach").
		expect(fmt.Sprint("attached ", size), "verified 24", "detached").end()

	recv.release()
	recv.expect("destroyed", "expecting -2")
	recv.expectFailed(-2)
	recv.expect("verified 24", "detached").end()
}

// TestMemfdChannel: a channel on a memfd segment (chan-create memfd:),
// its producer in the creating process, its consumer in another language
// that has only the key.
func TestMemfdChannel(t *testing.T) {
	t.Parallel()
	for producer, consumer := range map[lang]lang{goPeer: pyPeer, cPeer: nativePeer, nativePeer: cPeer} {
		t.Run(fmt.Sprintf("%s-to-%s", producer, consumer), func(t *testing.T) {
			t.Parallel()
			const capacity, count, seed = 16 << 10, 40, 9
			p := start(t, producer, "chan-create", "memfd:", capacity, "chan-open", "@", "producer",
				"wait", "chan-stream", count, seed, "chan-close", "wait", "destroy", "@")
			key := madeKey(t, p, "created")
			p.expect("opened producer", "waiting")
			c := start(t, consumer, "chan-open", key, "consumer", "chan-drain", count, seed,
				"chan-recv", 0, "chan-close")
			c.expect("opened consumer")
			p.release()
			streamed := p.line()
			if !strings.HasPrefix(streamed, fmt.Sprintf("streamed %d ", count)) {
				p.fatalf("printed %q, want streamed %d BYTES", streamed, count)
			}
			p.expect("closed", "waiting")
			c.expect("drained"+strings.TrimPrefix(streamed, "streamed"), "eos", "closed").end()
			p.release()
			p.expect("destroyed").end()
		})
	}
}
