package tests

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// lang is the language a peer is written in.
type lang string

const (
	goPeer     lang = "go"        // this test binary, loading libshm.so with purego
	cPeer      lang = "c"         // tests/peers/peer.c, linked with -lshm
	pyPeer     lang = "python"    // tests/peers/peer.py, the shmlib package
	nativePeer lang = "go-native" // this test binary, bindings/go/shmlib: no libshm.so
)

// langs are the languages that go through libshm.so; allLangs adds the
// native Go package, which meets them on the same segments.
var (
	langs    = []lang{goPeer, cPeer, pyPeer}
	allLangs = append(langs[:len(langs):len(langs)], nativePeer)
)

// peerTimeout bounds every peer process: one that hangs is killed, and its
// test fails instead of hanging the suite.
const peerTimeout = 30 * time.Second

// proc is a running peer. Its stdout is read line by line as the test
// asks; stdin releases its `wait` commands.
type proc struct {
	t      *testing.T
	name   string
	pid    int
	ctx    context.Context
	stdin  io.WriteCloser
	lines  chan stamped // stdout; closed at its end
	seen   []string
	stderr lockedBuffer
	exited chan struct{}
	state  *os.ProcessState // set when exited is closed
}

// start runs a peer of language l with the script made of words
// (tests/peers/PROTOCOL.md). It is killed, if still running, when t ends.
func start(t *testing.T, l lang, words ...any) *proc {
	t.Helper()
	return startWith(t, l, nil, words...)
}

// startWith is start with files handed down to the peer as descriptors 3,
// 4...: how a test gives two peers the ends of a Unix socket.
func startWith(t *testing.T, l lang, files []*os.File, words ...any) *proc {
	t.Helper()
	script := make([]string, len(words))
	for i, w := range words {
		script[i] = fmt.Sprint(w)
	}
	ctx, cancel := context.WithTimeout(context.Background(), peerTimeout)
	var cmd *exec.Cmd
	switch l {
	case goPeer:
		cmd = exec.CommandContext(ctx, suite.self, script...)
		cmd.Env = append(os.Environ(), peerEnv+"=go", libEnv+"="+suite.lib)
	case nativePeer:
		cmd = exec.CommandContext(ctx, suite.self, script...)
		cmd.Env = append(os.Environ(), peerEnv+"=go-native")
	case cPeer:
		cmd = exec.CommandContext(ctx, suite.cPeer, script...)
	case pyPeer:
		args := append([]string{filepath.Join(suite.root, "tests", "peers", "peer.py")}, script...)
		cmd = exec.CommandContext(ctx, suite.python, args...)
		cmd.Env = append(os.Environ(),
			"PYTHONPATH="+filepath.Join(suite.root, "bindings", "python"),
			"SHMLIB_LIBRARY="+suite.lib, // the library just built, not a copy
			"PYTHONDONTWRITEBYTECODE=1")
	default:
		cancel()
		t.Fatalf("unknown language %q", l)
	}
	cmd.WaitDelay = time.Second
	cmd.ExtraFiles = files
	// The buffer lets the reader stamp each line as it comes, whether or
	// not the test is reading yet: tests time the gaps between lines.
	p := &proc{t: t, name: fmt.Sprintf("%s peer %q", l, strings.Join(script, " ")), ctx: ctx,
		lines: make(chan stamped, 4096), exited: make(chan struct{})}
	cmd.Stderr = &p.stderr
	stdout, err := cmd.StdoutPipe()
	if err == nil {
		p.stdin, err = cmd.StdinPipe()
	}
	if err == nil {
		err = cmd.Start()
	}
	if err != nil {
		cancel()
		t.Fatalf("%s: %v", p.name, err)
	}
	p.pid = cmd.Process.Pid
	registry.addPid(p.pid)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			p.lines <- stamped{sc.Text(), time.Now()}
		}
		close(p.lines)
		cmd.Wait()
		p.state = cmd.ProcessState
		close(p.exited)
	}()
	t.Cleanup(func() {
		cancel()
		for range p.lines {
		}
		<-p.exited
	})
	return p
}

// stamped is a line of a peer's output and when it was read.
type stamped struct {
	text string
	at   time.Time
}

// line is the peer's next line of output.
func (p *proc) line() string {
	p.t.Helper()
	return p.lineAt().text
}

// lineAt is the peer's next line of output, with the time it came.
func (p *proc) lineAt() stamped {
	p.t.Helper()
	line, ok := <-p.lines
	if !ok {
		p.fatalf("ended before the next line")
	}
	p.seen = append(p.seen, line.text)
	return line
}

// expectAt checks the peer's next line and returns when it came.
func (p *proc) expectAt(want string) time.Time {
	p.t.Helper()
	line := p.lineAt()
	if line.text != want {
		p.fatalf("printed %q, want %q", line.text, want)
	}
	return line.at
}

// quiet checks that the peer prints nothing for d: that it is blocked.
func (p *proc) quiet(d time.Duration) {
	p.t.Helper()
	select {
	case line, ok := <-p.lines:
		if ok {
			p.seen = append(p.seen, line.text)
			p.fatalf("printed %q, want nothing for %v", line.text, d)
		}
		p.fatalf("ended, want it blocked for %v", d)
	case <-time.After(d):
	}
}

// kill sends the peer SIGKILL, waits for its end and checks that the
// signal is what ended it. It returns when the signal was sent.
func (p *proc) kill() time.Time {
	p.t.Helper()
	at := time.Now()
	if err := syscall.Kill(p.pid, syscall.SIGKILL); err != nil {
		p.fatalf("kill: %v", err)
	}
	if ws := p.finish(); !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		p.fatalf("want death by SIGKILL")
	}
	return at
}

// expect checks the peer's next lines.
func (p *proc) expect(want ...string) *proc {
	p.t.Helper()
	for _, w := range want {
		if got := p.line(); got != w {
			p.fatalf("printed %q, want %q", got, w)
		}
	}
	return p
}

// release lets the peer go on past its `wait`.
func (p *proc) release() {
	p.t.Helper()
	if _, err := io.WriteString(p.stdin, "go on\n"); err != nil {
		p.fatalf("releasing it: %v", err)
	}
}

// finish waits for the peer to exit and fails the test if it printed
// anything more.
func (p *proc) finish() syscall.WaitStatus {
	p.t.Helper()
	var extra []string
	for line := range p.lines {
		extra = append(extra, line.text)
	}
	p.seen = append(p.seen, extra...)
	<-p.exited
	if len(extra) > 0 {
		p.fatalf("printed more than expected: %q", extra)
	}
	return p.state.Sys().(syscall.WaitStatus)
}

// end checks that the peer exits with status 0 and prints nothing more.
func (p *proc) end() { p.t.Helper(); p.endWith(0) }

// endWith checks that the peer exits with status code and prints nothing
// more.
func (p *proc) endWith(code int) {
	p.t.Helper()
	if ws := p.finish(); !ws.Exited() || ws.ExitStatus() != code {
		p.fatalf("exit status: want %d", code)
	}
}

func (p *proc) fatalf(format string, args ...any) {
	p.t.Helper()
	// A peer that went wrong usually exits at once; its status and stderr
	// tell why.
	state := "still running"
	select {
	case <-p.exited:
		state = p.state.String()
		if p.ctx.Err() != nil {
			state += fmt.Sprintf(" (killed after %v: timed out)", peerTimeout)
		}
	case <-time.After(time.Second):
	}
	p.t.Fatalf("%s: %s\n\tstdout so far:\n\t\t%s\n\tstderr:\n\t\t%s\n\texit: %s",
		p.name, fmt.Sprintf(format, args...),
		strings.Join(p.seen, "\n\t\t"),
		strings.ReplaceAll(strings.TrimSpace(p.stderr.String()), "\n", "\n\t\t"), state)
}

// lockedBuffer collects a peer's stderr, readable while it is written.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
