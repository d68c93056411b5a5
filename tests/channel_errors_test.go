package tests

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/libshm/libshm/internal/errs"
	"github.com/libshm/libshm/tests/internal/pattern"
)

// The channel tests below put each language in each role at least once:
// for role i, the language is chanLangs[(first+i) % 4].
func rotation(first int) (a, b, c lang) {
	n := len(chanLangs)
	return chanLangs[first%n], chanLangs[(first+1)%n], chanLangs[(first+2)%n]
}

// failed is the line a peer prints for a call that failed as `expect`
// asked: the code and the library's message.
func failed(code errs.Code, format string, args ...any) string {
	return fmt.Sprintf("failed %d %s", code, fmt.Sprintf(format, args...))
}

// The smallest channel: 4096 bytes of ring, messages of at most 2032
// bytes, each of which takes 2048 bytes of it, so two of them fill it.
const (
	tinyCapacity = 4096
	tinyLargest  = tinyCapacity/2 - 16
)

// TestChannelTimeoutAndClose: a producer and a consumer in two languages,
// each language a consumer once per backend.
//
//   - The producer fills the ring before anybody reads: a send that would
//     block fails at once with timeout 0, and after 100 ms with a timeout
//     of 100 ms, with code SHMLIB_ETIMEDOUT and the library's message.
//   - The consumer takes both messages; on the now idle channel, whose
//     producer lives, it gets SHMLIB_ETIMEDOUT at once (timeout 0) and
//     after 150 ms (timeout 150 ms), not earlier.
//   - It then waits forever: it stays blocked, using no CPU to speak of,
//     until the producer closes, and wakes at once with end of stream.
//   - Opening the producer end of the closed channel gives SHMLIB_EEOS.
func TestChannelTimeoutAndClose(t *testing.T) {
	t.Parallel()
	for _, backend := range backends {
		for i := range chanLangs {
			consumer, producer, _ := rotation(i)
			t.Run(fmt.Sprintf("%s/%s-to-%s", backend, producer, consumer), func(t *testing.T) {
				t.Parallel()
				testChannelTimeoutAndClose(t, backend, producer, consumer)
			})
		}
	}
}

func testChannelTimeoutAndClose(t *testing.T, backend string, producer, consumer lang) {
	key := newKey(t, backend)
	p := start(t, producer, "chan-create", key, tinyCapacity, "chan-open", key, "producer",
		"chan-timeout", 0, "chan-send", tinyLargest, 11, "chan-put", tinyLargest, 12,
		"expect", int(errs.ErrTimeout), "chan-send", 0, 13,
		"chan-timeout", 100, "expect", int(errs.ErrTimeout), "chan-put", 16, 13,
		"wait", "chan-close")
	p.expect("created "+key, "opened producer", "timeout 0",
		fmt.Sprint("sent ", tinyLargest), fmt.Sprint("put ", tinyLargest), "expecting -13",
		failed(errs.ErrTimeout, "chan_send %s: would block (timeout 0)", key),
		"timeout 100")
	timedOut(p, 100*time.Millisecond, failed(errs.ErrTimeout, "chan_reserve %s: timed out after 100ms", key))
	p.expect("waiting")

	c := start(t, consumer, "chan-open", key, "consumer", "chan-recv", 11, "chan-take", 12,
		"chan-timeout", 0, "expect", int(errs.ErrTimeout), "chan-recv", 1,
		"chan-timeout", 150, "expect", int(errs.ErrTimeout), "chan-take", 1,
		"chan-timeout", 300, "expect", int(errs.ErrTimeout), "chan-recv", 1,
		"chan-timeout", -1, "chan-recv", 1,
		"expect", int(errs.ErrEndOfStream), "chan-open", key, "producer",
		"chan-close", "destroy", key)
	c.expect("opened consumer", fmt.Sprint("received ", tinyLargest), fmt.Sprint("took ", tinyLargest),
		"timeout 0", "expecting -13", failed(errs.ErrTimeout, "chan_recv %s: would block (timeout 0)", key),
		"timeout 150")
	timedOut(c, 150*time.Millisecond, failed(errs.ErrTimeout, "chan_peek %s: timed out after 150ms", key))
	c.expect("timeout 300")
	timedOut(c, 300*time.Millisecond, failed(errs.ErrTimeout, "chan_recv %s: timed out after 300ms", key))
	c.expect("timeout -1")

	// Blocked, and asleep: a waiter spins briefly, then sleeps on a futex.
	before := cpuTime(t, c.pid)
	c.quiet(400 * time.Millisecond)
	if used := cpuTime(t, c.pid) - before; used > 100*time.Millisecond {
		c.fatalf("used %v of CPU in 400 ms blocked on an idle channel", used)
	}
	p.release()
	closed := p.expectAt("closed")
	p.end()
	if woke := c.expectAt("eos").Sub(closed); woke > 500*time.Millisecond {
		c.fatalf("woke with end of stream %v after the producer closed", woke)
	} else {
		t.Logf("the consumer woke with end of stream %v after the producer closed", woke)
	}
	c.expect("expecting -14",
		failed(errs.ErrEndOfStream, "chan_open %s: the channel is closed: its producer ended the stream", key),
		"closed", "destroyed").end()
}

// timedOut reads the line of a call that must fail with a timeout of d:
// it must come no earlier than d after the `expecting` line before it,
// and not much later.
func timedOut(p *proc, d time.Duration, want string) {
	p.t.Helper()
	asked := p.expectAt("expecting -13")
	at := p.expectAt(want)
	// The lines are stamped as the test reads them: the `expecting` line
	// may be stamped a little late, under load, and the gap look shorter
	// than it was. A call that did not wait at all still shows.
	const slack = 25 * time.Millisecond
	switch took := at.Sub(asked); {
	case took < d-slack:
		p.fatalf("timed out after %v, before its timeout of %v", took, d)
	case took > d+time.Second:
		p.fatalf("timed out after %v, for a timeout of %v", took, d)
	}
}

// cpuTime is the CPU time process pid has used, user and system, from
// /proc/PID/stat (fields 14 and 15, in clock ticks of 1/100 s on Linux).
func cpuTime(t *testing.T, pid int) time.Duration {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	// The name (field 2) may hold spaces: count from the last ')'.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		t.Fatalf("/proc/%d/stat: %q", pid, b)
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

// TestChannelKilledProducer: a producer commits two messages, reserves a
// third and fills it, and is killed with SIGKILL. The consumer, in another
// language, blocked meanwhile, receives exactly the two committed
// messages, then SHMLIB_EPEER naming the dead pid, within a second of the
// kill. A producer in a third language takes the dead end over, and the
// stream goes on past the abandoned reservation to end of stream, every
// byte checked.
func TestChannelKilledProducer(t *testing.T) {
	t.Parallel()
	for _, backend := range backends {
		for i := range chanLangs {
			victim, consumer, heir := rotation(i)
			t.Run(fmt.Sprintf("%s/%s-killed-%s-reads-%s-takes-over", backend, victim, consumer, heir), func(t *testing.T) {
				t.Parallel()
				testChannelKilledProducer(t, backend, victim, consumer, heir)
			})
		}
	}
}

func testChannelKilledProducer(t *testing.T, backend string, victim, consumer, heir lang) {
	const capacity, count, seed = 64 << 10, 64, 31
	key := newKey(t, backend)
	v := start(t, victim, "chan-create", key, capacity, "chan-open", key, "producer",
		"chan-send", 1000, 21, "chan-put", 2000, 22, "chan-reserve", 3000, 23, "wait")
	v.expect("created "+key, "opened producer", "sent 1000", "put 2000", "reserved 3000", "waiting")

	c := start(t, consumer, "chan-open", key, "consumer", "chan-recv", 21, "chan-take", 22,
		"expect", int(errs.ErrPeerGone), "chan-recv", 23, "wait",
		"chan-drain", count, seed, "chan-recv", 0, "chan-close", "destroy", key)
	c.expect("opened consumer", "received 1000", "took 2000", "expecting -15")
	c.quiet(200 * time.Millisecond) // the reservation is not a message

	killed := v.kill()
	died := c.expectAt(failed(errs.ErrPeerGone, "chan_recv %s: the producer (pid %d) died", key, v.pid))
	if took := died.Sub(killed); took > time.Second {
		c.fatalf("saw its producer gone %v after the kill", took)
	} else {
		t.Logf("the consumer saw its producer gone %v after the kill", took)
	}
	c.expect("waiting")

	total := pattern.StreamBytes(count, capacity/2-16)
	h := start(t, heir, "chan-open", key, "producer", "chan-stream", count, seed, "chan-close")
	h.expect("opened producer")
	c.release()
	h.expect(fmt.Sprintf("streamed %d %d", count, total), "closed").end()
	c.expect(fmt.Sprintf("drained %d %d", count, total), "eos", "closed", "destroyed").end()
}

// TestChannelKilledConsumer: a producer blocked on a full ring gets
// SHMLIB_EPEER, naming the dead pid, within a second of its consumer's
// SIGKILL. A consumer in a third language takes the dead end over and
// receives everything that was committed, then end of stream.
func TestChannelKilledConsumer(t *testing.T) {
	t.Parallel()
	for _, backend := range backends {
		for i := range chanLangs {
			producer, victim, heir := rotation(i)
			t.Run(fmt.Sprintf("%s/%s-killed-%s-sends-%s-takes-over", backend, victim, producer, heir), func(t *testing.T) {
				t.Parallel()
				testChannelKilledConsumer(t, backend, producer, victim, heir)
			})
		}
	}
}

func testChannelKilledConsumer(t *testing.T, backend string, producer, victim, heir lang) {
	key := newKey(t, backend)
	p := start(t, producer, "chan-create", key, tinyCapacity, "wait", "chan-open", key, "producer",
		"chan-send", 100, 51, "chan-put", tinyLargest, 52, "chan-send", 200, 53,
		"expect", int(errs.ErrPeerGone), "chan-send", tinyLargest, 54, "chan-close")
	p.expect("created "+key, "waiting")
	v := start(t, victim, "chan-open", key, "consumer", "chan-recv", 51, "wait")
	v.expect("opened consumer")
	p.release()
	// The consumer took the first message; the other two fill the ring.
	p.expect("opened producer", "sent 100", fmt.Sprint("put ", tinyLargest), "sent 200", "expecting -15")
	v.expect("received 100", "waiting")
	p.quiet(200 * time.Millisecond) // blocked: the ring is full

	killed := v.kill()
	died := p.expectAt(failed(errs.ErrPeerGone, "chan_send %s: the consumer (pid %d) died", key, v.pid))
	if took := died.Sub(killed); took > time.Second {
		p.fatalf("saw its consumer gone %v after the kill", took)
	} else {
		t.Logf("the producer saw its consumer gone %v after the kill", took)
	}
	p.expect("closed").end()

	start(t, heir, "chan-open", key, "consumer", "chan-take", 52, "chan-recv", 53, "chan-recv", 0,
		"chan-close", "destroy", key).
		expect("opened consumer", fmt.Sprint("took ", tinyLargest), "received 200", "eos", "closed", "destroyed").end()
}

// TestChannelCorrupt: a process attaches a channel as a plain segment and
// scribbles on its shared state, at the offsets of
// internal/channel/layout.go; consumers in every language report
// SHMLIB_ECORRUPT with the same message, naming the bad values, and go on
// running: no crash, no read out of bounds.
//
//   - The tail (offset 64) is set far past the head: receiving by copy or
//     in place, and opening the consumer end, are refused.
//   - The tail is put back, the producer commits a message, and its record
//     header (at 4096 + its offset in the ring) is given a length of
//     nearly 4 GiB: receiving it is refused both ways.
func TestChannelCorrupt(t *testing.T) {
	t.Parallel()
	for _, backend := range backends {
		for i := range chanLangs {
			consumer, producer, scribbler := rotation(i)
			t.Run(fmt.Sprintf("%s/%s-reads-%s-scribbles", backend, consumer, scribbler), func(t *testing.T) {
				t.Parallel()
				testChannelCorrupt(t, backend, producer, consumer, scribbler)
			})
		}
	}
}

func testChannelCorrupt(t *testing.T, backend string, producer, consumer, scribbler lang) {
	const (
		offTail  = 64   // layout.go: tail, bytes committed since create
		dataArea = 4096 // layout.go: the data area's offset
		head     = 16 + 112
		badTail  = 1 << 40
		length   = 0xfffffff0 // the scribbled record's length
		kind     = 1          // a message record
		tail     = head + 16 + 208
	)
	key := newKey(t, backend)
	p := start(t, producer, "chan-create", key, 64<<10, "chan-open", key, "producer",
		"chan-send", 100, 41, "wait", "chan-put", 200, 42, "wait", "chan-close")
	p.expect("created "+key, "opened producer", "sent 100", "waiting")
	c := start(t, consumer, "chan-open", key, "consumer", "chan-recv", 41, "wait",
		"expect", int(errs.ErrCorrupt), "chan-recv", 41, "expect", int(errs.ErrCorrupt), "chan-take", 41,
		"chan-close", "expect", int(errs.ErrCorrupt), "chan-open", key, "consumer", "wait",
		"chan-open", key, "consumer",
		"expect", int(errs.ErrCorrupt), "chan-recv", 42, "expect", int(errs.ErrCorrupt), "chan-take", 42,
		"chan-close", "wait", "destroy", key)
	c.expect("opened consumer", "received 100", "waiting")

	// Head and tail are both 128 now, one record of 100 bytes later.
	s := start(t, scribbler, "attach", key, "scribble", offTail, badTail, "wait",
		"scribble", offTail, head, "wait", "scribble", dataArea+head, uint64(kind)<<32|length, "detach")
	s.expect(fmt.Sprint("attached ", dataArea+64<<10), fmt.Sprintf("scribbled %d %d", offTail, badTail), "waiting")
	c.release()
	c.expect("expecting -16", failed(errs.ErrCorrupt, "chan_recv %s: tail %d does not fit head %d", key, badTail, head),
		"expecting -16", failed(errs.ErrCorrupt, "chan_peek %s: tail %d does not fit head %d", key, badTail, head),
		"closed",
		"expecting -16", failed(errs.ErrCorrupt, "chan_open %s: head %d and tail %d are inconsistent", key, head, badTail),
		"waiting")

	// Mended; then a message whose record lies about its length.
	s.release()
	s.expect(fmt.Sprintf("scribbled %d %d", offTail, head), "waiting")
	p.release()
	p.expect("put 200", "waiting")
	s.release()
	s.expect(fmt.Sprintf("scribbled %d %d", dataArea+head, uint64(kind)<<32|length), "detached").end()
	c.release()
	bad := fmt.Sprintf("bad record at offset %d: kind %d, length %d (head %d, tail %d)", head, kind, length, head, tail)
	c.expect("opened consumer",
		"expecting -16", failed(errs.ErrCorrupt, "chan_recv %s: %s", key, bad),
		"expecting -16", failed(errs.ErrCorrupt, "chan_peek %s: %s", key, bad),
		"closed", "waiting")
	p.release()
	p.expect("closed").end()
	c.release()
	c.expect("destroyed").end()
}

// TestChannelBusy: while one process holds a channel's producer end and
// another its consumer end, a third, in another language, gets
// SHMLIB_EBUSY for either, naming the holder's pid; so does the holder
// itself for a second open of its own end. Once the consumer closes its
// end, the third process opens it.
func TestChannelBusy(t *testing.T) {
	t.Parallel()
	for _, backend := range backends {
		for i := range chanLangs {
			contender, producer, consumer := rotation(i)
			t.Run(fmt.Sprintf("%s/%s-wants-%s-and-%s", backend, contender, producer, consumer), func(t *testing.T) {
				t.Parallel()
				testChannelBusy(t, backend, producer, consumer, contender)
			})
		}
	}
}

func testChannelBusy(t *testing.T, backend string, producer, consumer, contender lang) {
	key := newKey(t, backend)
	held := func(end string, pid int) string {
		return failed(errs.ErrBusy, "chan_open %s: its %s end is held by pid %d", key, end, pid)
	}
	p := start(t, producer, "chan-create", key, tinyCapacity, "chan-open", key, "producer",
		"expect", int(errs.ErrBusy), "chan-open", key, "producer", "wait", "chan-close", "destroy", key)
	p.expect("created "+key, "opened producer", "expecting -17", held("producer", p.pid), "waiting")
	c := start(t, consumer, "chan-open", key, "consumer", "wait", "chan-close")
	c.expect("opened consumer", "waiting")

	x := start(t, contender, "expect", int(errs.ErrBusy), "chan-open", key, "producer",
		"expect", int(errs.ErrBusy), "chan-open", key, "consumer", "wait",
		"chan-open", key, "consumer", "chan-close")
	x.expect("expecting -17", held("producer", p.pid), "expecting -17", held("consumer", c.pid), "waiting")
	c.release()
	c.expect("closed").end()
	x.release()
	x.expect("opened consumer", "closed").end()
	p.release()
	p.expect("closed", "destroyed").end()
}

// TestChannelMisuse: each language, alone, misuses channels, and gets the
// library's code and message for each mistake: opening a plain segment or
// a missing key as a channel, creating one of capacity 0 (which leaves
// nothing behind) or over a key in use, a message one byte over the limit
// (sent or reserved), and receiving on the producer end or sending on the
// consumer end. One process may hold both ends: its producer's message
// reaches its consumer.
func TestChannelMisuse(t *testing.T) {
	t.Parallel()
	for _, backend := range backends {
		for _, l := range chanLangs {
			t.Run(fmt.Sprintf("%s/%s", backend, l), func(t *testing.T) {
				t.Parallel()
				testChannelMisuse(t, backend, l)
			})
		}
	}
}

func testChannelMisuse(t *testing.T, backend string, l lang) {
	key, missing := newKey(t, backend), newKey(t, backend)
	einval, emsgsize := int(errs.ErrInvalid), int(errs.ErrTooLarge)
	p := start(t, l, "create", key, 8192, "expect", einval, "chan-open", key, "consumer",
		"expect", einval, "chan-create", missing, 0, "expect", int(errs.ErrNotExist), "chan-open", missing, "producer",
		"expect", int(errs.ErrExist), "chan-create", key, tinyCapacity, "destroy", key,
		"chan-create", key, tinyCapacity, "chan-open", key, "producer",
		"expect", emsgsize, "chan-send", tinyLargest+1, 1, "expect", emsgsize, "chan-put", tinyLargest+1, 1,
		"expect", einval, "chan-recv", 1, "expect", einval, "chan-take", 1,
		"chan-send", tinyLargest, 1, "chan-open", key, "consumer",
		"expect", einval, "chan-send", 1, 1, "expect", einval, "chan-put", 1, 1,
		"chan-recv", 1, "chan-close", "destroy", key)
	p.expect("created "+key,
		"expecting -1", failed(errs.ErrInvalid, "chan_open %s: not a channel (no channel header; was it made by shmlib_chan_create?)", key),
		"expecting -1", failed(errs.ErrInvalid, "chan_create %s: capacity 0 is outside 1..8589934592 bytes", missing),
		"expecting -2", failed(errs.ErrNotExist, "chan_open %s: no such segment", missing),
		"expecting -3", failed(errs.ErrExist, "chan_create %s: a segment with this key already exists", key),
		"destroyed", "created "+key, "opened producer")
	tooLarge := fmt.Sprintf("%d bytes is over this channel's limit of %d (half its capacity, less 16)", tinyLargest+1, tinyLargest)
	p.expect("expecting -18", failed(errs.ErrTooLarge, "chan_send %s: %s", key, tooLarge),
		"expecting -18", failed(errs.ErrTooLarge, "chan_reserve %s: %s", key, tooLarge))
	for _, op := range []string{"chan_recv", "chan_peek"} {
		p.expect("expecting -1", failed(errs.ErrInvalid, "%s %s: only the consumer end receives", op, key))
	}
	p.expect(fmt.Sprint("sent ", tinyLargest), "opened consumer")
	for _, op := range []string{"chan_send", "chan_reserve"} {
		p.expect("expecting -1", failed(errs.ErrInvalid, "%s %s: only the producer end sends", op, key))
	}
	p.expect(fmt.Sprint("received ", tinyLargest), "closed", "destroyed").end()
}

// TestChannelHeldMessage: a consumer end that goes away holding a message
// (peeked, not released) leaves it to the next consumer, in another
// language: first by closing, as the header says, then by dying of
// SIGKILL; the third consumer takes the dead end over and receives it,
// then the rest of the stream and end of stream.
func TestChannelHeldMessage(t *testing.T) {
	t.Parallel()
	for _, backend := range backends {
		for i := range chanLangs {
			first, second, third := rotation(i)
			producer := chanLangs[(i+3)%len(chanLangs)]
			t.Run(fmt.Sprintf("%s/%s-%s-%s-from-%s", backend, first, second, third, producer), func(t *testing.T) {
				t.Parallel()
				testChannelHeldMessage(t, backend, producer, first, second, third)
			})
		}
	}
}

func testChannelHeldMessage(t *testing.T, backend string, producer, first, second, third lang) {
	key := newKey(t, backend)
	start(t, producer, "chan-create", key, 64<<10, "chan-open", key, "producer",
		"chan-send", 500, 71, "chan-put", 600, 72, "chan-send", 700, 73, "chan-close").
		expect("created "+key, "opened producer", "sent 500", "put 600", "sent 700", "closed").end()

	start(t, first, "chan-open", key, "consumer", "chan-peek", 71, "chan-close").
		expect("opened consumer", "peeked 500", "closed").end()

	s := start(t, second, "chan-open", key, "consumer", "chan-recv", 71, "chan-peek", 72, "wait")
	s.expect("opened consumer", "received 500", "peeked 600", "waiting")
	s.kill()

	start(t, third, "chan-open", key, "consumer", "chan-take", 72, "chan-recv", 73, "chan-recv", 0,
		"chan-close", "destroy", key).
		expect("opened consumer", "took 600", "received 700", "eos", "closed", "destroyed").end()
}
