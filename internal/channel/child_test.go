package channel

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/libshm/libshm/internal/errs"
)

// roleEnv makes the test binary play a process holding one end of a
// channel, so that tests can kill it with SIGKILL as a crash would.
const roleEnv = "LIBSHM_CHANNEL_TEST_ROLE"

// playRole runs in the child: it takes an end of the channel key, does its
// part, says "ready" on stdout and waits to be killed.
func playRole(role, key string) int {
	end := Producer
	if role == "consumer" {
		end = Consumer
	}
	c, err := Open(key, end)
	if err != nil {
		fmt.Println(err)
		return 1
	}
	if end == Producer {
		for _, m := range []string{"one", "two"} {
			if err := c.Send([]byte(m), 0); err != nil {
				fmt.Println(err)
				return 1
			}
		}
		// A reservation that is never committed must stay invisible.
		if _, err := c.Reserve(10, 0); err != nil {
			fmt.Println(err)
			return 1
		}
	}
	fmt.Println("ready")
	time.Sleep(time.Minute)
	return 0
}

// startRole starts a child holding an end and waits until it is ready.
func startRole(t *testing.T, role, key string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$", key)
	cmd.Env = append(os.Environ(), roleEnv+"="+role)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, _ := bufio.NewReader(out).ReadString('\n')
	if line != "ready\n" {
		t.Fatalf("%s child: %q", role, line)
	}
	return cmd
}

func kill9(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
}

func TestKilledProducer(t *testing.T) {
	key := newChannel(t, "posix:", 4096)
	producer := startRole(t, "producer", key)
	c := open(t, key, Consumer)
	kill9(t, producer)
	buf := make([]byte, 16)
	for _, want := range []string{"one", "two"} {
		n, err := c.Recv(buf, second)
		if err != nil || string(buf[:n]) != want {
			t.Fatalf("committed data after the producer died: %q, %v; want %q", buf[:n], err, want)
		}
	}
	start := time.Now()
	_, err := c.Recv(buf, 3*second)
	wantCode(t, err, errs.ErrPeerGone, fmt.Sprintf("producer (pid %d) died", producer.Process.Pid))
	if time.Since(start) > 2*second {
		t.Errorf("noticed the dead producer after %v", time.Since(start))
	}
	_, err = c.Recv(buf, Forever)
	wantCode(t, err, errs.ErrPeerGone, "died")
	// The dead producer's end can be taken over, and the stream goes on.
	p := open(t, key, Producer)
	if err := p.Send([]byte("three"), 0); err != nil {
		t.Fatal(err)
	}
	if n, err := c.Recv(buf, second); err != nil || string(buf[:n]) != "three" {
		t.Fatalf("after takeover: %q, %v", buf[:n], err)
	}
}

func TestKilledConsumer(t *testing.T) {
	key := newChannel(t, "sysv:", 4096)
	consumer := startRole(t, "consumer", key)
	p := open(t, key, Producer)
	_, err := Open(key, Consumer)
	wantCode(t, err, errs.ErrBusy, fmt.Sprintf("held by pid %d", consumer.Process.Pid))
	kill9(t, consumer)
	msg := make([]byte, p.MaxMessage())
	for p.Send(msg, 0) == nil {
	}
	wantCode(t, p.Send(msg, 3*second), errs.ErrPeerGone, "consumer")
	c := open(t, key, Consumer) // the dead consumer's end is free to take
	if _, err := c.Recv(msg, 0); err != nil {
		t.Fatalf("a new consumer cannot read what was sent: %v", err)
	}
}

// TestUnreapedProducerIsGone: a killed producer that its parent (here, the
// very process waiting on the channel) has not reaped yet is a zombie. It
// has died all the same.
func TestUnreapedProducerIsGone(t *testing.T) {
	key := newChannel(t, "posix:", 4096)
	producer := startRole(t, "producer", key)
	c := open(t, key, Consumer)
	producer.Process.Signal(syscall.SIGKILL) // and no Wait: it stays a zombie
	buf := make([]byte, 16)
	for range 2 {
		if _, err := c.Recv(buf, second); err != nil {
			t.Fatal(err)
		}
	}
	_, err := c.Recv(buf, 3*second)
	wantCode(t, err, errs.ErrPeerGone, "died")
}
