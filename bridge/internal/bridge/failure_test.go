package bridge

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libshm/libshm/bindings/go/shmlib"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// The JetStream server stops mid-stream and comes back on the same port
// and store: every message arrives once, in order, whole. While it is
// away, the Out bridge stops taking messages from its channel, so the
// producer there is held back instead of anything being dropped.
func TestJetStreamServerRestart(t *testing.T) {
	dir := t.TempDir()
	o := jsOpts(t, dir)
	o.MaxPayload = 16 << 10
	s := startServer(t, o)
	port := s.Addr().(*net.TCPAddr).Port
	p := newPipeline(t, s.ClientURL(), Config{Subject: "test.restart", JetStream: true, Window: 32}, 128<<10, 128<<10)

	const n = 2000
	var produced, received atomic.Int64
	perr := make(chan error, 1)
	go func() { perr <- produce(p.src, n, mixedSizes, func(i uint64) { produced.Store(int64(i)) }) }()
	cerr := make(chan error, 1)
	go func() { _, err := consume(p.dst, n, mixedSizes, true, &received); cerr <- err }()

	waitFor(t, 30*time.Second, "a quarter of the stream", func() bool { return received.Load() >= n/4 })
	s.Shutdown()
	s.WaitForShutdown()
	time.Sleep(300 * time.Millisecond) // the channel fills
	before := produced.Load()
	time.Sleep(700 * time.Millisecond)
	if after := produced.Load(); after != before {
		t.Errorf("with the server away the producer went on from message %d to %d: the bridge did not hold it back", before, after)
	}
	if produced.Load() >= n-1 {
		t.Fatalf("the producer finished before the restart: make the stream longer")
	}
	o2 := jsOpts(t, dir)
	o2.MaxPayload, o2.Port = 16<<10, port
	startServer(t, o2)

	if err := <-cerr; err != nil {
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
	if p.outLog.find("disconnected") == "" || p.outLog.find("reconnected") == "" {
		t.Errorf("the out bridge logged no disconnection and reconnection")
	}
}

// startCluster runs three servers that route to each other, with
// JetStream if js, and waits until they see each other.
func startCluster(t *testing.T, js bool) ([]*server.Server, []string) {
	// The route ports are chosen first: with JetStream, a server is ready
	// for clients only once it has met the others.
	var routes []string
	for i := 0; i < 3; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		routes = append(routes, "nats://"+l.Addr().String())
		l.Close()
	}
	var servers []*server.Server
	for i := 0; i < 3; i++ {
		o := serverOpts()
		if js {
			o = jsOpts(t, "")
		}
		o.ServerName = fmt.Sprintf("s%d", i)
		port, _ := strconv.Atoi(routes[i][strings.LastIndex(routes[i], ":")+1:])
		o.Cluster = server.ClusterOpts{Name: "bridge-test", Host: "127.0.0.1", Port: port}
		o.Routes = server.RoutesFromStr(strings.Join(routes, ","))
		s, err := server.NewServer(o)
		if err != nil {
			t.Fatalf("nats server: %v", err)
		}
		go s.Start()
		t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
		servers = append(servers, s)
	}
	var urls []string
	for _, s := range servers {
		if !s.ReadyForConnections(20 * time.Second) {
			t.Fatal("a nats server of the cluster did not start within 20 s")
		}
		urls = append(urls, s.ClientURL())
	}
	waitFor(t, 20*time.Second, "the cluster to form", func() bool {
		for _, s := range servers {
			if s.NumRoutes() < 2 || (js && !s.JetStreamIsCurrent()) {
				return false
			}
		}
		return true
	})
	return servers, urls
}

// killConnected shuts down the server of urls that nc is connected to.
func killConnected(t *testing.T, servers []*server.Server, urls []string, nc *nats.Conn) int {
	for i, u := range urls {
		if u == nc.ConnectedUrl() {
			servers[i].Shutdown()
			return i
		}
	}
	t.Fatalf("connected to %s, none of %v", nc.ConnectedUrl(), urls)
	return -1
}

// Three servers in a cluster; the one the Out bridge is connected to is
// killed mid-stream. Core NATS may lose what was in flight, but what
// arrives is whole and in order, and delivery goes on to the end.
func TestClusterServerKilled(t *testing.T) {
	servers, urls := startCluster(t, false)
	p := newPipeline(t, strings.Join(urls, ","), Config{Subject: "test.cluster", Window: 100000, WindowBytes: 256 << 20}, 256<<10, 256<<10)

	const n = 1500
	size := func(i uint64) int { return 8 + int(i*37)%2000 }
	var produced atomic.Int64
	pace := func(i uint64) {
		produced.Store(int64(i))
		time.Sleep(time.Millisecond)
	}
	perr := make(chan error, 1)
	go func() { perr <- produce(p.src, n, size, pace) }()
	type result struct {
		seen []uint64
		err  error
	}
	cres := make(chan result, 1)
	go func() { seen, err := consume(p.dst, n, size, false, nil); cres <- result{seen, err} }()

	waitFor(t, 30*time.Second, "a third of the stream", func() bool { return produced.Load() >= n/3 })
	killedAt := produced.Load()
	victim := killConnected(t, servers, urls, p.outNC)
	t.Logf("killed server %d at message %d", victim, killedAt)

	var r result
	select {
	case r = <-cres:
	case <-time.After(60 * time.Second):
		t.Fatal("the consumer saw no end of the stream within 60 s")
	}
	if r.err != nil {
		t.Fatalf("consumer: %v", r.err)
	}
	if err := <-perr; err != nil {
		t.Fatalf("producer: %v", err)
	}
	if len(r.seen) == 0 || r.seen[len(r.seen)-1] != n-1 {
		t.Fatalf("delivery did not go on to the last message after the kill (%d messages received)", len(r.seen))
	}
	after := 0
	for _, i := range r.seen {
		if int64(i) > killedAt+50 {
			after++
		}
	}
	if want := (n - int(killedAt) - 50) * 9 / 10; after < want {
		t.Errorf("only %d messages after the kill arrived, want at least %d", after, want)
	}
	t.Logf("%d of %d messages arrived; %d lost around the kill", len(r.seen), n, n-len(r.seen))
}

// The same with JetStream and a stream of three replicas: nothing is lost
// or doubled when the server the Out bridge uses is killed.
func TestJetStreamClusterServerKilled(t *testing.T) {
	servers, urls := startCluster(t, true)
	p := newPipeline(t, strings.Join(urls, ","), Config{Subject: "test.jscluster", JetStream: true,
		MemoryStorage: true, Replicas: 3, Window: 32}, 256<<10, 256<<10)

	js, err := jetstream.New(p.inNC)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the stream and its leader", func() bool {
		st, err := js.Stream(context.Background(), StreamName("test.jscluster"))
		if err != nil {
			return false
		}
		info, err := st.Info(context.Background())
		return err == nil && info.Cluster != nil && info.Cluster.Leader != "" && len(info.Cluster.Replicas) == 2
	})
	const n = 600
	size := func(i uint64) int { return 8 + int(i*37)%2000 }
	var produced atomic.Int64
	pace := func(i uint64) {
		produced.Store(int64(i))
		time.Sleep(time.Millisecond)
	}
	perr := make(chan error, 1)
	go func() { perr <- produce(p.src, n, size, pace) }()
	cerr := make(chan error, 1)
	go func() { _, err := consume(p.dst, n, size, true, nil); cerr <- err }()

	waitFor(t, 30*time.Second, "a third of the stream", func() bool { return produced.Load() >= n/3 })
	victim := killConnected(t, servers, urls, p.outNC)
	t.Logf("killed server %d at message %d (%d acknowledged, %d taken by in)", victim, produced.Load(),
		p.out.st.Messages.Load(), p.in.st.Parts.Load())
	select {
	case err := <-cerr:
		if err != nil {
			t.Fatalf("consumer: %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("the consumer saw no end of the stream within 60 s")
	}
	if err := <-perr; err != nil {
		t.Fatalf("producer: %v", err)
	}
}

// A full channel on the In side stops the bridge taking messages from the
// stream: at most the window waits in the bridge, the rest in the stream.
func TestFullChannelHoldsBridgeBack(t *testing.T) {
	s := startServer(t, jsOpts(t, ""))
	const window = 8
	p := newPipeline(t, s.ClientURL(), Config{Subject: "test.full", JetStream: true, MemoryStorage: true, Window: window}, 1<<20, 64<<10)
	const n = 300
	size := func(uint64) int { return 4000 }
	if err := produce(p.src, n, size, nil); err != nil {
		t.Fatalf("producer: %v", err)
	}
	js, err := jetstream.New(p.inNC)
	if err != nil {
		t.Fatal(err)
	}
	stream, err := js.Stream(context.Background(), StreamName("test.full"))
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the whole stream in JetStream", func() bool {
		info, err := stream.Info(context.Background())
		return err == nil && info.State.Msgs == n+1 // and the end marker
	})
	// The channel holds 15 of these; wait until the bridge stops.
	var last uint64
	waitFor(t, 20*time.Second, "the in bridge to stop", func() bool {
		now := p.in.st.Messages.Load()
		stable := now == last && now > 0
		last = now
		time.Sleep(200 * time.Millisecond)
		return stable
	})
	inChannel := p.in.st.Messages.Load()
	var delivered uint64
	for ci := range stream.ListConsumers(context.Background()).Info() {
		delivered = max(delivered, ci.Delivered.Stream)
	}
	t.Logf("channel holds %d messages; the server delivered %d of %d", inChannel, delivered, n)
	if inChannel >= n/2 {
		t.Fatalf("%d messages went into a 64 KiB channel of 4000-byte messages", inChannel)
	}
	if delivered > inChannel+2*window+2 {
		t.Errorf("the server delivered %d messages to a bridge whose channel took %d, window %d: the bridge buffers",
			delivered, inChannel, window)
	}
	if _, err := consume(p.dst, n, size, true, nil); err != nil {
		t.Fatalf("consumer: %v", err)
	}
}

// Messages on the subject that the bridge cannot carry are dropped, each
// with a line that says why, and the ones after them are carried.
func TestMalformedMessages(t *testing.T) {
	for _, js := range []bool{false, true} {
		name := map[bool]string{false: "core", true: "jetstream"}[js]
		t.Run(name, func(t *testing.T) { testMalformed(t, js) })
	}
}

func testMalformed(t *testing.T, useJS bool) {
	s := startServer(t, jsOpts(t, ""))
	subject := "test.bad"
	dst := newChannel(t, 64<<10) // its largest message: 32752 bytes
	l := newLogs(t, "in")
	pub := connect(t, s.ClientURL(), l)
	var publish func(m *nats.Msg)
	if useJS {
		js, err := jetstream.New(pub)
		if err != nil {
			t.Fatal(err)
		}
		cfg := Config{Subject: subject, Stream: StreamName(subject), MemoryStorage: true, Replicas: 1, Log: l.logf}
		if err := ensureStream(context.Background(), js, &cfg); err != nil {
			t.Fatal(err)
		}
		publish = func(m *nats.Msg) {
			if _, err := js.PublishMsg(context.Background(), m); err != nil {
				t.Fatalf("publish: %v", err)
			}
		}
	} else {
		publish = func(m *nats.Msg) {
			if err := pub.PublishMsg(m); err != nil {
				t.Fatalf("publish: %v", err)
			}
		}
	}
	subs := s.NumSubscriptions()
	in := start(t, In, connect(t, s.ClientURL(), l), Config{Channel: dst, Subject: subject, JetStream: useJS, Log: l.logf})
	if !useJS {
		// Core NATS delivers only to who subscribed: wait for the bridge.
		waitSubscribed(t, s, subs)
	}

	size := func(i uint64) int { return []int{100, 200, 300, 20000}[i] }
	good := func(i uint64) []byte { b := make([]byte, size(i)); fill(i, b); return b }
	raw := func(data []byte, part string) *nats.Msg {
		m := nats.NewMsg(subject)
		m.Data = data
		if part != "" {
			m.Header.Set(hdrPart, part)
		}
		return m
	}
	third := good(3)
	steps := []struct {
		msg  *nats.Msg
		want string // what the log says about it; "" for a good one
	}{
		{raw(good(0), ""), ""},
		{raw(make([]byte, 40000), ""), "a message of 40000 bytes is larger than the channel's largest message (32752 bytes)"},
		{raw(good(1), ""), ""},
		{raw([]byte("x"), "bogus"), `Shmlib-Part "bogus": want four numbers`},
		{raw(make([]byte, 100), "7 1 3 300"), "part 1 of 3 of message 7 came without its first part"},
		{raw(make([]byte, 100), "8 0 2 100000000"), "message 8 is 100000000 bytes, more than the channel's largest message"},
		{raw(make([]byte, 100), "9 0 2 200"), ""},
		{raw(good(2), ""), "message 9 lost its parts 1 to 1 of 2"},
		{raw(third[:12000], fmt.Sprintf("10 0 2 %d", len(third))), ""},
		{raw(third[12000:], fmt.Sprintf("10 1 2 %d", len(third))), ""},
		{raw(make([]byte, 60), "11 0 1 50"), "message 11: its parts do not add up to the 50 bytes announced"},
		{endMarker(subject), ""},
	}
	for _, st := range steps {
		publish(st.msg)
	}
	if _, err := consume(dst, 4, size, true, nil); err != nil {
		t.Fatalf("consumer: %v", err)
	}
	if err := in.wait(10 * time.Second); err != nil {
		t.Fatalf("in bridge: %v", err)
	}
	for _, st := range steps {
		if st.want != "" && l.find(st.want) == "" {
			t.Errorf("no log line says %q", st.want)
		}
	}
	if got := in.st.Dropped.Load(); got != 6 {
		t.Errorf("%d messages dropped, want 6", got)
	}
}

// Stopping an In bridge closes its producer end: the consumer there sees
// the end of the stream, not a dead peer. Stopping an Out bridge closes
// its consumer end.
func TestStopClosesChannelEnds(t *testing.T) {
	s := startServer(t, serverOpts())
	subs := s.NumSubscriptions()
	p := newPipeline(t, s.ClientURL(), Config{Subject: "test.stop"}, 64<<10, 64<<10)
	waitSubscribed(t, s, subs)
	p.in.stop(t)
	ch, err := shmlib.OpenChannel(p.dst, shmlib.Consumer)
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	if _, err := ch.Recv(make([]byte, 64), time.Second); !errors.Is(err, shmlib.ErrEndOfStream) {
		t.Errorf("after the in bridge stopped, Recv: %v, want the end of the stream", err)
	}
	p.out.stop(t)
	// Its end is free again: a new consumer takes it at once.
	c2, err := shmlib.OpenChannel(p.src, shmlib.Consumer)
	if err != nil {
		t.Fatalf("after the out bridge stopped, opening its end: %v", err)
	}
	c2.Close()
}
