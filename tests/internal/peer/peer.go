// Package peer is the Go side of the peer protocol (tests/peers/PROTOCOL.md):
// it runs a script of commands against a binding of libshm, printing one
// line per command, exactly as tests/peers/peer.c and peer.py do.
package peer

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/libshm/libshm/tests/internal/pattern"
	"github.com/libshm/libshm/tests/internal/shmso"
)

// Exit statuses of the protocol.
const (
	exitUsage    = 2
	exitFailed   = 3
	exitMismatch = 4
	exitStdinEOF = 5
	exitNoError  = 6 // the command after `expect` succeeded
)

// Lib is what a Go peer needs of a binding. Failures are *shmso.Error, so
// that the code and the message travel unchanged to the output.
type Lib interface {
	Create(key string, size uint64) (string, error)
	Attach(key string, readOnly bool) (Mapping, error)
	Destroy(key string) error
	Stat(key string) (Stat, error)
	Listed(key string) (bool, error)
	Ftok(path string, projID int) (string, error)
	Strerror(code int) string
	Version() string
	// MemfdSend and MemfdRecv pass a memfd segment over the connected Unix
	// socket sock, a descriptor the peer inherited.
	MemfdSend(sock int, key string) error
	MemfdRecv(sock int) (string, error)
}

// Mapping is one attach.
type Mapping interface {
	Bytes() []byte
	Detach() error
}

// Stat is what the protocol prints of a stat.
type Stat struct {
	Size    uint64
	Nattach int64  // -1 for POSIX
	Backend string // "posix", "sysv" or "memfd"
}

// arity is the number of arguments of each command the Go peer knows.
var arity = map[string]int{
	"create": 2, "attach": 1, "attach-ro": 1, "write": 1, "verify": 1,
	"step": 1, "detach": 0, "destroy": 1, "stat": 1, "listed": 1,
	"ftok": 2, "strerror": 1, "version": 0, "wait": 0, "poke": 0,
	"expect": 1, "scribble": 2,
	"chan-create": 2, "chan-open": 2, "chan-max": 0, "chan-timeout": 1,
	"chan-send": 2, "chan-put": 2, "chan-reserve": 2, "chan-recv": 1,
	"chan-take": 1, "chan-peek": 1, "chan-stream": 2, "chan-drain": 2,
	"chan-send-array": 3, "chan-recv-array": 1, "chan-close": 0,
	"memfd-send": 2, "memfd-recv": 1,
	"bcast-create": 4, "bcast-open": 2, "chan-lost": 0, "chan-poll": 1,
}

// usageError is a malformed script, a bug in the test that wrote it.
type usageError struct{ error }

type runner struct {
	lib Lib
	in  *bufio.Reader
	out io.Writer
	m   Mapping // the last attach, detached or not
	ch  Channel // the last channel end opened, closed or not

	timeout  time.Duration // of the channel calls that wait; negative: forever
	armed    int           // the code `expect` asked of the next command, or 0
	expected int           // the code the command being run must fail with, or 0
	made     string        // the key of the last `created` or `memfd-received` line: "@"
}

// Run runs the script args and returns the exit status.
func Run(lib Lib, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	r := &runner{lib: lib, in: bufio.NewReader(stdin), out: stdout, timeout: -1}
	for len(args) > 0 {
		cmd := args[0]
		n, known := arity[cmd]
		if !known || len(args) < 1+n {
			fmt.Fprintf(stderr, "peer: unknown command or missing arguments at %q\n", args)
			return exitUsage
		}
		r.expected, r.armed = r.armed, 0
		cmdArgs := append([]string(nil), args[1:1+n]...)
		for i, a := range cmdArgs {
			if a == "@" {
				if r.made == "" {
					fmt.Fprintf(stderr, "peer: %s: @ before any key was made\n", cmd)
					return exitUsage
				}
				cmdArgs[i] = r.made
			}
		}
		status, err := r.do(cmd, cmdArgs)
		args = args[1+n:]
		var failed *shmso.Error
		switch {
		case errors.As(err, &failed) && r.expected != 0 && failed.Code == r.expected:
			r.printf("failed %d %s", failed.Code, failed.Msg)
		case errors.As(err, &failed):
			r.printf("error %d %s", failed.Code, failed.Msg)
			return exitFailed
		case err != nil:
			fmt.Fprintf(stderr, "peer: %s: %v\n", cmd, err)
			return exitUsage
		case status != 0:
			return status
		case r.expected != 0:
			return exitNoError // its line is printed: the test sees what happened
		}
	}
	return 0
}

func (r *runner) printf(format string, args ...any) {
	line := fmt.Sprintf(format, args...)
	for _, made := range []string{"created ", "memfd-received "} {
		if key, ok := strings.CutPrefix(line, made); ok {
			r.made = key
		}
	}
	fmt.Fprintln(r.out, line)
}

// mapping is the memory of the current mapping.
func (r *runner) mapping() ([]byte, error) {
	if r.m == nil {
		return nil, usageError{errors.New("no mapping: attach first")}
	}
	return r.m.Bytes(), nil
}

// do runs one command: a nonzero status ends the script with it.
func (r *runner) do(cmd string, args []string) (int, error) {
	switch cmd {
	case "create":
		size, err := strconv.ParseUint(args[1], 10, 64)
		if err != nil {
			return 0, usageError{err}
		}
		made, err := r.lib.Create(args[0], size)
		if err != nil {
			return 0, err
		}
		r.printf("created %s", made)
	case "attach", "attach-ro":
		m, err := r.lib.Attach(args[0], cmd == "attach-ro")
		if err != nil {
			return 0, err
		}
		r.m = m
		r.printf("attached %d", len(m.Bytes()))
	case "write", "verify":
		rec, err := pattern.Parse(args[0])
		if err != nil {
			return 0, usageError{err}
		}
		mem, err := r.mapping()
		if err != nil {
			return 0, err
		}
		if cmd == "write" {
			pattern.Fill(mem, rec)
			r.printf("wrote %s", rec)
		} else if bad := pattern.Check(mem, rec); bad != nil {
			r.printf("mismatch %d %d %d", bad.Offset, bad.Got, bad.Want)
			return exitMismatch, nil
		} else {
			r.printf("verified %s", rec)
		}
	case "step":
		n, err := strconv.ParseUint(args[0], 10, 8)
		if err != nil {
			return 0, usageError{err}
		}
		mem, err := r.mapping()
		if err != nil {
			return 0, err
		}
		pattern.Step(mem, byte(n))
		r.printf("stepped %d", n)
	case "detach":
		if _, err := r.mapping(); err != nil {
			return 0, err
		}
		if err := r.m.Detach(); err != nil {
			return 0, err
		}
		r.printf("detached")
	case "destroy":
		if err := r.lib.Destroy(args[0]); err != nil {
			return 0, err
		}
		r.printf("destroyed")
	case "stat":
		st, err := r.lib.Stat(args[0])
		if err != nil {
			return 0, err
		}
		r.printf("stat size=%d nattach=%d backend=%s", st.Size, st.Nattach, st.Backend)
	case "listed":
		found, err := r.lib.Listed(args[0])
		if err != nil {
			return 0, err
		}
		r.printf("listed %s", map[bool]string{true: "yes", false: "no"}[found])
	case "memfd-send", "memfd-recv":
		sock, err := strconv.ParseUint(args[0], 10, 31)
		if err != nil {
			return 0, usageError{err}
		}
		if cmd == "memfd-send" {
			if err := r.lib.MemfdSend(int(sock), args[1]); err != nil {
				return 0, err
			}
			r.printf("memfd-sent")
			break
		}
		key, err := r.lib.MemfdRecv(int(sock))
		if err != nil {
			return 0, err
		}
		r.printf("memfd-received %s", key)
	case "ftok":
		proj, err := strconv.Atoi(args[1])
		if err != nil {
			return 0, usageError{err}
		}
		key, err := r.lib.Ftok(args[0], proj)
		if err != nil {
			return 0, err
		}
		r.printf("ftok %s", key)
	case "strerror":
		code, err := strconv.Atoi(args[0])
		if err != nil {
			return 0, usageError{err}
		}
		r.printf("strerror %d %s", code, r.lib.Strerror(code))
	case "version":
		r.printf("version %s", r.lib.Version())
	case "wait":
		r.printf("waiting")
		if _, err := r.in.ReadString('\n'); err != nil {
			return exitStdinEOF, nil
		}
	case "expect":
		code, err := strconv.Atoi(args[0])
		if err != nil || code >= 0 {
			return 0, usageError{fmt.Errorf("expect: not a failure code: %q", args[0])}
		}
		r.armed = code
		r.printf("expecting %d", code)
	case "scribble":
		off, err1 := strconv.ParseUint(args[0], 10, 64)
		v, err2 := strconv.ParseUint(args[1], 10, 64)
		if err := errors.Join(err1, err2); err != nil {
			return 0, usageError{err}
		}
		mem, err := r.mapping()
		if err != nil {
			return 0, err
		}
		if off+8 > uint64(len(mem)) {
			return 0, usageError{fmt.Errorf("scribble: offset %d past the mapping's %d bytes", off, len(mem))}
		}
		// In the machine's byte order, as the library reads its words.
		binary.NativeEndian.PutUint64(mem[off:], v)
		r.printf("scribbled %d %d", off, v)
	case "poke":
		mem, err := r.mapping()
		if err != nil {
			return 0, err
		}
		r.printf("poking")
		mem[0] ^= 0xff // faults if the mapping is read-only
		r.printf("poked")
	default:
		return r.doChan(cmd, args)
	}
	return 0, nil
}
