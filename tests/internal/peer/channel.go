package peer

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/libshm/libshm/tests/internal/pattern"
	"github.com/libshm/libshm/tests/internal/shmso"
)

// Channels is what a binding that has channels adds to Lib.
type Channels interface {
	ChanCreate(key string, capacity uint64) (string, error)
	ChanOpen(key string, producer bool) (Channel, error)
}

// Channel is an open end of a channel. Calls that may wait, wait as long
// as it takes: the test harness bounds every peer's life.
type Channel interface {
	MaxMessage() (uint64, error)
	Send(msg []byte) error
	Reserve(n int) ([]byte, error)
	Commit(n int) error
	Recv(buf []byte) (int, error)
	Peek() ([]byte, error)
	Release() error
	Close() error
}

// doChan runs the channel commands.
func (r *runner) doChan(cmd string, args []string) (int, error) {
	lib, ok := r.lib.(Channels)
	if !ok {
		return 0, usageError{fmt.Errorf("%s: this binding has no channels", cmd)}
	}
	switch cmd {
	case "chan-create":
		capacity, err := strconv.ParseUint(args[1], 10, 64)
		if err != nil {
			return 0, usageError{err}
		}
		key, err := lib.ChanCreate(args[0], capacity)
		if err != nil {
			return 0, err
		}
		r.printf("created %s", key)
		return 0, nil
	case "chan-open":
		if args[1] != "producer" && args[1] != "consumer" {
			return 0, usageError{fmt.Errorf("chan-open: end %q", args[1])}
		}
		ch, err := lib.ChanOpen(args[0], args[1] == "producer")
		if err != nil {
			return 0, err
		}
		r.ch = ch
		r.printf("opened %s", args[1])
		return 0, nil
	}
	if r.ch == nil {
		return 0, usageError{errors.New("no channel: chan-open first")}
	}
	switch cmd {
	case "chan-max":
		n, err := r.ch.MaxMessage()
		if err != nil {
			return 0, err
		}
		r.printf("max %d", n)
	case "chan-send", "chan-put":
		n, err := strconv.Atoi(args[0])
		if err != nil {
			return 0, usageError{err}
		}
		rec, err := pattern.Parse(args[1])
		if err != nil {
			return 0, usageError{err}
		}
		if cmd == "chan-send" {
			msg := make([]byte, n)
			pattern.Fill(msg, rec)
			if err := r.ch.Send(msg); err != nil {
				return 0, err
			}
			r.printf("sent %d", n)
			return 0, nil
		}
		msg, err := r.ch.Reserve(n)
		if err != nil {
			return 0, err
		}
		pattern.Fill(msg, rec)
		if err := r.ch.Commit(n); err != nil {
			return 0, err
		}
		r.printf("put %d", n)
	case "chan-recv", "chan-take":
		rec, err := pattern.Parse(args[0])
		if err != nil {
			return 0, usageError{err}
		}
		return r.receive(cmd, rec)
	case "chan-close":
		if err := r.ch.Close(); err != nil {
			return 0, err
		}
		r.printf("closed")
	}
	return 0, nil
}

// receive takes the next message, by copy (chan-recv) or in place
// (chan-take), and checks it against rec; "eos" at the end of the stream.
func (r *runner) receive(cmd string, rec pattern.Recipe) (int, error) {
	var msg []byte
	var err error
	if cmd == "chan-recv" {
		var limit uint64
		if limit, err = r.ch.MaxMessage(); err != nil {
			return 0, err
		}
		buf := make([]byte, limit)
		var n int
		n, err = r.ch.Recv(buf)
		msg = buf[:n]
	} else {
		msg, err = r.ch.Peek()
	}
	var failed *shmso.Error
	if errors.As(err, &failed) && failed.Code == shmso.EEOS {
		r.printf("eos")
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	if bad := pattern.Check(msg, rec); bad != nil {
		r.printf("mismatch %d %d %d", bad.Offset, bad.Got, bad.Want)
		return exitMismatch, nil
	}
	if cmd == "chan-take" {
		if err := r.ch.Release(); err != nil {
			return 0, err
		}
		r.printf("took %d", len(msg))
	} else {
		r.printf("received %d", len(msg))
	}
	return 0, nil
}
