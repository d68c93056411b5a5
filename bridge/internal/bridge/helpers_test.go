package bridge

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libshm/libshm/bindings/go/shmlib"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// Every channel the tests make is a POSIX object named with this prefix,
// so that TestMain can tell the ones this run left behind.
var ourPrefix = fmt.Sprintf("shmlib-bridge-test-%d-", os.Getpid())

var nameSeq atomic.Int64

// TestMain fails the run if a channel the tests made is still in /dev/shm.
func TestMain(m *testing.M) {
	code := m.Run()
	left, _ := filepath.Glob("/dev/shm/" + ourPrefix + "*")
	if len(left) > 0 {
		fmt.Fprintf(os.Stderr, "FAIL: channels the tests left behind: %v\n", left)
		for _, f := range left {
			os.Remove(f)
		}
		code = 1
	}
	os.Exit(code)
}

// newChannel makes a channel of the given capacity, destroyed when the
// test ends.
func newChannel(t testing.TB, capacity uint64) string {
	t.Helper()
	key, err := shmlib.CreateChannel(fmt.Sprintf("posix:/%s%d", ourPrefix, nameSeq.Add(1)), capacity, nil)
	if err != nil {
		t.Fatalf("CreateChannel: %v", err)
	}
	t.Cleanup(func() {
		if err := shmlib.Destroy(key); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	return key
}

// serverOpts are those of a NATS server on 127.0.0.1 at a port of its
// choosing, silent, that leaves signals to the test.
func serverOpts() *server.Options {
	return &server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true}
}

// jsOpts add JetStream, storing in dir.
func jsOpts(t testing.TB, dir string) *server.Options {
	o := serverOpts()
	o.JetStream = true
	o.StoreDir = dir
	if dir == "" {
		o.StoreDir = t.TempDir()
	}
	return o
}

// startServer runs a NATS server in this process until the test ends.
func startServer(t testing.TB, o *server.Options) *server.Server {
	t.Helper()
	s, err := server.NewServer(o)
	if err != nil {
		t.Fatalf("nats server: %v", err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		s.Shutdown()
		t.Fatal("nats server did not start within 10 s")
	}
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	return s
}

// logs collects what the bridges log, for the test to look at.
type logs struct {
	mu    sync.Mutex
	lines []string
	t     testing.TB
	name  string
}

func newLogs(t testing.TB, name string) *logs { return &logs{t: t, name: name} }

func (l *logs) logf(format string, args ...any) {
	line := fmt.Sprintf(format, args...)
	l.mu.Lock()
	l.lines = append(l.lines, line)
	l.mu.Unlock()
	l.t.Logf("%s: %s", l.name, line)
}

// all returns every line so far, one string.
func (l *logs) all() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// find returns the first line that contains s, or "".
func (l *logs) find(s string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, line := range l.lines {
		if strings.Contains(line, s) {
			return line
		}
	}
	return ""
}

// connect connects to servers as the command does, closed when the test ends.
func connect(t testing.TB, servers string, l *logs) *nats.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	nc, err := Connect(ctx, ConnOptions{Servers: servers, Log: l.logf})
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// running is a bridge end running in a goroutine.
type running struct {
	cancel context.CancelFunc
	done   chan error
	st     Stats
}

// start runs Out or In with cfg on nc until it returns or stop is called;
// the test fails if it returned an error, and waits for it at its end.
func start(t testing.TB, fn func(context.Context, *nats.Conn, Config, *Stats) error, nc *nats.Conn, cfg Config) *running {
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- fn(ctx, nc, cfg, &r.st) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// stop ends the bridge and checks it ended well.
func (r *running) stop(t testing.TB) {
	t.Helper()
	r.cancel()
	if err := r.wait(10 * time.Second); err != nil {
		t.Errorf("bridge: %v", err)
	}
}

// wait waits for the bridge to return, at most d.
func (r *running) wait(d time.Duration) error {
	select {
	case err, ok := <-r.done:
		if ok {
			close(r.done)
		}
		return err
	case <-time.After(d):
		return fmt.Errorf("did not return within %v", d)
	}
}

// The test stream: message i is size(i) bytes, the first 8 its number, the
// rest a pattern that depends on i and on the position, so that a byte
// lost, doubled or moved shows.

func fill(i uint64, b []byte) {
	x := i*0x9E3779B97F4A7C15 + 1
	for k := range b {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		b[k] = byte(x)
	}
	if len(b) >= 8 {
		binary.LittleEndian.PutUint64(b, i)
	}
}

// check says what is wrong with msg as message i, or "".
func check(i uint64, msg []byte, size int) string {
	if len(msg) != size {
		if len(msg) >= 8 {
			return fmt.Sprintf("message %d: %d bytes (number %d inside), want %d", i, len(msg),
				binary.LittleEndian.Uint64(msg), size)
		}
		return fmt.Sprintf("message %d: %d bytes, want %d", i, len(msg), size)
	}
	want := make([]byte, size)
	fill(i, want)
	for k := range want {
		if msg[k] != want[k] {
			return fmt.Sprintf("message %d: byte %d is %#x, want %#x", i, k, msg[k], want[k])
		}
	}
	return ""
}

// produce sends n messages of sizes size(i) into the channel key, then
// closes the producer end: the end of the stream. pause,
// if not nil, is called before each message.
func produce(key string, n int, size func(uint64) int, pause func(i uint64)) error {
	ch, err := shmlib.OpenChannel(key, shmlib.Producer)
	if err != nil {
		return err
	}
	defer ch.Close()
	buf := make([]byte, 0, 1<<20)
	for i := uint64(0); i < uint64(n); i++ {
		if pause != nil {
			pause(i)
		}
		if cap(buf) < size(i) {
			buf = make([]byte, 0, size(i))
		}
		b := buf[:size(i)]
		fill(i, b)
		if err := ch.Send(b, 30*time.Second); err != nil {
			return fmt.Errorf("send %d: %w", i, err)
		}
	}
	return nil
}

// consume receives from the channel key until the end of the stream and
// checks each message against the pattern: with exact, every one of 0..n-1
// in order; otherwise increasing numbers with gaps allowed. It returns the
// numbers received. got, if not nil, is set to how many so far.
func consume(key string, n int, size func(uint64) int, exact bool, got *atomic.Int64) ([]uint64, error) {
	ch, err := shmlib.OpenChannel(key, shmlib.Consumer)
	if err != nil {
		return nil, err
	}
	defer ch.Close()
	var seen []uint64
	buf := make([]byte, ch.MaxMessage())
	for {
		m, err := ch.Recv(buf, 30*time.Second)
		if errors.Is(err, shmlib.ErrEndOfStream) {
			if exact && len(seen) != n {
				return seen, fmt.Errorf("end of stream after %d messages, want %d", len(seen), n)
			}
			return seen, nil
		}
		if err != nil {
			return seen, fmt.Errorf("after %d messages: %w", len(seen), err)
		}
		msg := buf[:m]
		i := uint64(len(seen))
		if !exact {
			if m < 8 {
				return seen, fmt.Errorf("a %d-byte message, too short to carry its number", m)
			}
			i = binary.LittleEndian.Uint64(msg)
			if len(seen) > 0 && i <= seen[len(seen)-1] {
				return seen, fmt.Errorf("message %d after message %d: out of order or repeated", i, seen[len(seen)-1])
			}
		}
		if i >= uint64(n) {
			return seen, fmt.Errorf("message %d of a stream of %d", i, n)
		}
		if bad := check(i, msg, size(i)); bad != "" {
			return seen, errors.New(bad)
		}
		seen = append(seen, i)
		if got != nil {
			got.Store(int64(len(seen)))
		}
	}
}

// waitFor polls cond every 10 ms for at most d.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitSubscribed waits until s has more subscriptions than before: a core
// NATS message published earlier would reach nobody.
func waitSubscribed(t testing.TB, s *server.Server, before uint32) {
	t.Helper()
	waitFor(t, 10*time.Second, "the in bridge to subscribe", func() bool { return s.NumSubscriptions() > before })
}
