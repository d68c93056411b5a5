package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/libshm/libshm/bindings/go/shmlib"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// The test binary plays the command when this variable is set, so that
// the tests can run it as a process of its own and send it signals.
const asCommand = "SHMLIB_BRIDGE_TEST_AS_COMMAND"

func TestMain(m *testing.M) {
	if os.Getenv(asCommand) != "" {
		os.Exit(run(os.Args[1:], os.Stderr))
	}
	os.Exit(m.Run())
}

// syncBuffer is the command's stderr, read while it runs.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func command(args ...string) (*exec.Cmd, *syncBuffer) {
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), asCommand+"=1", "NATS_URL=")
	var stderr syncBuffer
	cmd.Stderr = &stderr
	return cmd, &stderr
}

// An In bridge as a process: it carries a message, shows no password, and
// on SIGTERM closes its producer end (the consumer sees the end of the
// stream) and exits 0.
func TestCommandCarriesAndStopsOnSIGTERM(t *testing.T) {
	const password = "s3cret-pw"
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true,
		Username: "bridge", Password: password})
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	defer s.Shutdown()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats server did not start")
	}
	key, err := shmlib.CreateChannel(fmt.Sprintf("posix:/shmlib-bridge-cmdtest-%d", os.Getpid()), 64<<10, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer shmlib.Destroy(key)

	url := fmt.Sprintf("nats://bridge:%s@%s", password, strings.TrimPrefix(s.ClientURL(), "nats://"))
	subs := s.NumSubscriptions()
	cmd, stderr := command("in", key, "test.cmd", "--server", url)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	deadline := time.Now().Add(20 * time.Second)
	for s.NumSubscriptions() <= subs {
		if time.Now().After(deadline) {
			t.Fatalf("the bridge did not subscribe within 20 s; it said:\n%s", stderr)
		}
		time.Sleep(10 * time.Millisecond)
	}

	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if err := nc.Publish("test.cmd", []byte("hello, channel")); err != nil {
		t.Fatal(err)
	}
	ch, err := shmlib.OpenChannel(key, shmlib.Consumer)
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	buf := make([]byte, 64)
	n, err := ch.Recv(buf, 10*time.Second)
	if err != nil || string(buf[:n]) != "hello, channel" {
		t.Fatalf("Recv: %q, %v", buf[:n], err)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("after SIGTERM: %v; it said:\n%s", err, stderr)
	}
	if _, err := ch.Recv(buf, 5*time.Second); !errors.Is(err, shmlib.ErrEndOfStream) {
		t.Errorf("after the bridge stopped, Recv: %v, want the end of the stream", err)
	}
	out := stderr.String()
	t.Logf("it said:\n%s", out)
	if strings.Contains(out, password) {
		t.Errorf("the password is in its output")
	}
	if !strings.Contains(out, "stopped: 1 messages") {
		t.Errorf("no summary line saying it stopped after 1 message")
	}
}

func TestCommandUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		says string
	}{
		{nil, 2, "give out or in first"},
		{[]string{"sideways"}, 2, "give out or in first"},
		{[]string{"out", "posix:/x"}, 2, "give CHANNEL and SUBJECT"},
		{[]string{"out", "--window", "lots", "posix:/x", "s"}, 2, "invalid value"},
		{[]string{"in", "posix:/x", "a b"}, 2, "give one literal NATS subject"},
		{[]string{"in", "posix:/shmlib-bridge-no-such-channel", "s"}, 1, "no such segment"},
		{[]string{"-h"}, 0, "usage: shmlib-bridge"},
	} {
		cmd, stderr := command(tc.args...)
		err := cmd.Run()
		code := 0
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			code = exit.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if code != tc.code || !strings.Contains(stderr.String(), tc.says) {
			t.Errorf("%q: exit %d, said %q; want exit %d and %q", tc.args, code, stderr, tc.code, tc.says)
		}
	}
}
