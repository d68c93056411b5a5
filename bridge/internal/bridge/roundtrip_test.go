package bridge

import (
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// pipeline is channel -> Out -> NATS -> In -> channel, both bridges in
// this process, each with a connection of its own.
type pipeline struct {
	src, dst    string // the channels' keys
	out, in     *running
	outNC, inNC *nats.Conn
	outLog      *logs
	inLog       *logs
}

func newPipeline(t *testing.T, servers string, cfg Config, srcCap, dstCap uint64) *pipeline {
	p := &pipeline{src: newChannel(t, srcCap), dst: newChannel(t, dstCap),
		outLog: newLogs(t, "out"), inLog: newLogs(t, "in")}
	in := cfg
	in.Channel, in.Log = p.dst, p.inLog.logf
	p.inNC = connect(t, servers, p.inLog)
	p.in = start(t, In, p.inNC, in)
	out := cfg
	out.Channel, out.Log = p.src, p.outLog.logf
	p.outNC = connect(t, servers, p.outLog)
	p.out = start(t, Out, p.outNC, out)
	return p
}

// run sends n messages through the pipeline and checks that every one
// arrives, whole, once, in order, followed by the end of the stream, and
// that both bridges then end by themselves.
func (p *pipeline) run(t *testing.T, n int, size func(uint64) int, pause func(uint64)) {
	t.Helper()
	perr := make(chan error, 1)
	go func() { perr <- produce(p.src, n, size, pause) }()
	if _, err := consume(p.dst, n, size, true, nil); err != nil {
		t.Fatalf("consumer: %v", err)
	}
	if err := <-perr; err != nil {
		t.Fatalf("producer: %v", err)
	}
	for name, r := range map[string]*running{"out": p.out, "in": p.in} {
		if err := r.wait(10 * time.Second); err != nil {
			t.Fatalf("%s bridge after the end of the stream: %v", name, err)
		}
	}
	if got := p.in.st.Messages.Load(); got != uint64(n) {
		t.Errorf("in bridge counted %d messages, want %d", got, n)
	}
}

// mixedSizes has empty, tiny, and multi-part messages (the servers of these
// tests have a max_payload of 16 KiB), up to 40 KiB.
func mixedSizes(i uint64) int {
	switch i % 7 {
	case 0:
		return 0
	case 1:
		return 1
	case 2:
		return 15 << 10 // one part, just
	case 3:
		return 16<<10 + 1 // two parts
	case 4:
		return 40 << 10 // three parts
	}
	return int(i*131) % 3000
}

func TestRoundTripCore(t *testing.T) {
	o := serverOpts()
	o.MaxPayload = 16 << 10
	s := startServer(t, o)
	// Core NATS drops what a subscriber cannot keep up with: a window far
	// larger than the stream keeps this test about bytes, not about that.
	p := newPipeline(t, s.ClientURL(), Config{Subject: "test.core", Window: 100000, WindowBytes: 256 << 20}, 256<<10, 256<<10)
	p.run(t, 700, mixedSizes, nil)
}

func TestRoundTripJetStream(t *testing.T) {
	o := jsOpts(t, "")
	o.MaxPayload = 16 << 10
	s := startServer(t, o)
	p := newPipeline(t, s.ClientURL(), Config{Subject: "test.js", JetStream: true, MemoryStorage: true, Window: 32}, 128<<10, 128<<10)
	p.run(t, 700, mixedSizes, nil)
}

// A 1 MiB frame with its header is more than the default max_payload of
// 1 MiB: it travels in parts.
func TestRoundTripFramesOverMaxPayload(t *testing.T) {
	s := startServer(t, serverOpts())
	const frame = 1<<20 + 32
	p := newPipeline(t, s.ClientURL(), Config{Subject: "test.frames", Window: 100000, WindowBytes: 256 << 20}, 4*(frame+64), 4*(frame+64))
	p.run(t, 24, func(uint64) int { return frame }, nil)
	if parts := p.out.st.Parts.Load(); parts != 48 {
		t.Errorf("out published %d NATS messages for 24 frames, want 48 (two parts each)", parts)
	}
}
