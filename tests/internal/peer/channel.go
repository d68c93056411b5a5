package peer

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/libshm/libshm/tests/internal/pattern"
	"github.com/libshm/libshm/tests/internal/shmso"
)

// Channels is what a binding that has channels adds to Lib.
type Channels interface {
	ChanCreate(key string, capacity uint64) (string, error)
	ChanOpen(key string, producer bool) (Channel, error)
}

// Channel is an open end of a channel. A negative timeout waits as long as
// it takes (the test harness bounds every peer's life), 0 does not wait.
type Channel interface {
	MaxMessage() (uint64, error)
	Send(msg []byte, timeout time.Duration) error
	Reserve(n int, timeout time.Duration) ([]byte, error)
	Commit(n int) error
	Recv(buf []byte, timeout time.Duration) (int, error)
	Peek(timeout time.Duration) ([]byte, error)
	Release() error
	Close() error
}

// Broadcasts is what a binding that has broadcast channels adds to Lib;
// their ends are Channels that also have Lost.
type Broadcasts interface {
	BcastCreate(key string, capacity uint64, slots uint32, overwrite bool) (string, error)
	BcastOpen(key string, producer bool) (Channel, error)
}

// doBcast runs the broadcast commands.
func (r *runner) doBcast(cmd string, args []string) (int, error) {
	lib, ok := r.lib.(Broadcasts)
	if !ok {
		return 0, usageError{fmt.Errorf("%s: this binding has no broadcast channels", cmd)}
	}
	switch cmd {
	case "bcast-create":
		capacity, err := strconv.ParseUint(args[1], 10, 64)
		if err != nil {
			return 0, usageError{err}
		}
		slots, err := strconv.ParseUint(args[2], 10, 32)
		if err != nil || (args[3] != "lossless" && args[3] != "overwrite") {
			return 0, usageError{fmt.Errorf("bcast-create: slots %q, policy %q", args[2], args[3])}
		}
		key, err := lib.BcastCreate(args[0], capacity, uint32(slots), args[3] == "overwrite")
		if err != nil {
			return 0, err
		}
		r.printf("created %s", key)
	case "bcast-open":
		if args[1] != "producer" && args[1] != "subscriber" {
			return 0, usageError{fmt.Errorf("bcast-open: end %q", args[1])}
		}
		ch, err := lib.BcastOpen(args[0], args[1] == "producer")
		if err != nil {
			return 0, err
		}
		r.ch = ch
		r.printf("opened %s", args[1])
	case "chan-lost":
		l, ok := r.ch.(interface{ Lost() (uint64, error) })
		if !ok {
			return 0, usageError{errors.New("chan-lost: not a broadcast end")}
		}
		n, err := l.Lost()
		if err != nil {
			return 0, err
		}
		r.printf("lost %d", n)
	}
	return 0, nil
}

// doChan runs the channel commands.
func (r *runner) doChan(cmd string, args []string) (int, error) {
	switch cmd {
	case "bcast-create", "bcast-open":
		return r.doBcast(cmd, args)
	case "chan-poll":
		p, ok := r.ch.(interface {
			Poll(time.Duration) (bool, error)
		})
		if !ok {
			return 0, usageError{errors.New("chan-poll: this binding has no pollable ends")}
		}
		ms, err := strconv.ParseInt(args[0], 10, 64)
		if err != nil {
			return 0, usageError{err}
		}
		ready, err := p.Poll(time.Duration(ms) * time.Millisecond)
		if err != nil {
			return 0, err
		}
		if ready {
			r.printf("polled")
		} else {
			r.printf("not ready")
		}
		return 0, nil
	case "chan-lost":
		if r.ch == nil {
			return 0, usageError{errors.New("no channel: bcast-open first")}
		}
		return r.doBcast(cmd, args)
	}
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
	case "chan-timeout":
		ms, err := strconv.ParseInt(args[0], 10, 64)
		if err != nil {
			return 0, usageError{err}
		}
		r.timeout = time.Duration(ms) * time.Millisecond
		if ms < 0 {
			r.timeout = -1
		}
		r.printf("timeout %d", ms)
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
	case "chan-send", "chan-put", "chan-reserve":
		n, err := strconv.Atoi(args[0])
		if err != nil {
			return 0, usageError{err}
		}
		rec, err := pattern.Parse(args[1])
		if err != nil {
			return 0, usageError{err}
		}
		if err := r.send(n, rec, cmd == "chan-send", cmd != "chan-reserve"); err != nil {
			return 0, err
		}
		r.printf("%s %d", map[string]string{"chan-send": "sent", "chan-put": "put", "chan-reserve": "reserved"}[cmd], n)
	case "chan-recv", "chan-take", "chan-peek":
		rec, err := pattern.Parse(args[0])
		if err != nil {
			return 0, usageError{err}
		}
		inPlace, release := cmd != "chan-recv", cmd != "chan-peek"
		msg, err := r.receive(inPlace, release, nil, func(msg []byte) (int, error) {
			if bad := pattern.Check(msg, rec); bad != nil {
				r.printf("mismatch %d %d %d", bad.Offset, bad.Got, bad.Want)
				return exitMismatch, nil
			}
			return 0, nil
		})
		var failed *shmso.Error
		switch {
		case errors.As(err, &failed) && failed.Code == shmso.Eeos && r.expected != shmso.Eeos:
			r.printf("eos")
		case err != nil || msg.status != 0:
			return msg.status, err
		default:
			r.printf("%s %d", map[string]string{"chan-recv": "received", "chan-take": "took", "chan-peek": "peeked"}[cmd], msg.n)
		}
	case "chan-stream", "chan-drain":
		n, err := strconv.Atoi(args[0])
		if err != nil {
			return 0, usageError{err}
		}
		seed, err := strconv.ParseUint(args[1], 10, 8)
		if err != nil {
			return 0, usageError{err}
		}
		if cmd == "chan-stream" {
			return r.stream(n, byte(seed))
		}
		return r.drain(n, byte(seed))
	case "chan-send-array":
		return r.sendArray(args[0], args[1], args[2])
	case "chan-recv-array":
		return r.recvArray(args[0])
	case "chan-close":
		if err := r.ch.Close(); err != nil {
			return 0, err
		}
		r.printf("closed")
	}
	return 0, nil
}

// send sends a message of n bytes of rec's content: by copy, or written
// in place between reserve and commit; commit false leaves it reserved.
func (r *runner) send(n int, rec pattern.Recipe, byCopy, commit bool) error {
	if byCopy {
		msg := make([]byte, n)
		pattern.Fill(msg, rec)
		return r.ch.Send(msg, r.timeout)
	}
	slot, err := r.ch.Reserve(n, r.timeout)
	if err != nil {
		return err
	}
	pattern.Fill(slot, rec)
	if !commit {
		return nil
	}
	return r.ch.Commit(n)
}

// received is the outcome of receive: the message's length, and the exit
// status the check of its content asked for.
type received struct{ n, status int }

// receive takes the next message, in place (peek, check, and release
// unless told not to) or by copy into buf (made as large as the largest
// message if nil), and hands it to check before it is released.
func (r *runner) receive(inPlace, release bool, buf []byte, check func([]byte) (int, error)) (received, error) {
	var msg []byte
	if inPlace {
		var err error
		if msg, err = r.ch.Peek(r.timeout); err != nil {
			return received{}, err
		}
	} else {
		if buf == nil {
			limit, err := r.ch.MaxMessage()
			if err != nil {
				return received{}, err
			}
			buf = make([]byte, limit)
		}
		n, err := r.ch.Recv(buf, r.timeout)
		if err != nil {
			return received{}, err
		}
		msg = buf[:n]
	}
	status, err := check(msg)
	if err != nil || status != 0 {
		return received{len(msg), status}, err
	}
	if inPlace && release {
		if err := r.ch.Release(); err != nil {
			return received{}, err
		}
	}
	return received{len(msg), 0}, nil
}

// stream sends the first n messages of the stream seed: even ones by
// copy, odd ones in place.
func (r *runner) stream(n int, seed byte) (int, error) {
	limit, err := r.ch.MaxMessage()
	if err != nil {
		return 0, err
	}
	total := 0
	for i := range n {
		size := pattern.StreamLen(i, limit)
		if err := r.send(size, pattern.StreamRecipe(seed, i), i%2 == 0, true); err != nil {
			return 0, err
		}
		total += size
	}
	r.printf("streamed %d %d", n, total)
	return 0, nil
}

// drain receives the first n messages of the stream seed and checks each
// one's length and every byte: every third in place, the others by copy.
func (r *runner) drain(n int, seed byte) (int, error) {
	limit, err := r.ch.MaxMessage()
	if err != nil {
		return 0, err
	}
	buf := make([]byte, limit)
	total := 0
	for i := range n {
		want, rec := pattern.StreamLen(i, limit), pattern.StreamRecipe(seed, i)
		got, err := r.receive(i%3 == 0, true, buf, func(msg []byte) (int, error) {
			if len(msg) != want {
				r.printf("mismatch message %d length %d %d", i, len(msg), want)
				return exitMismatch, nil
			}
			if bad := pattern.Check(msg, rec); bad != nil {
				r.printf("mismatch message %d offset %d %d %d", i, bad.Offset, bad.Got, bad.Want)
				return exitMismatch, nil
			}
			return 0, nil
		})
		if err != nil || got.status != 0 {
			return got.status, err
		}
		total += got.n
	}
	r.printf("drained %d %d", n, total)
	return 0, nil
}

// sendArray frames an array of dtype and shape whose element bytes are
// rec's content, written in place.
func (r *runner) sendArray(dtype, shapeText, recipe string) (int, error) {
	shape, err := parseShape(shapeText)
	if err != nil {
		return 0, usageError{err}
	}
	rec, err := pattern.Parse(recipe)
	if err != nil {
		return 0, usageError{err}
	}
	head, nbytes, err := arrayHeader(dtype, shape)
	if err != nil {
		return 0, usageError{err}
	}
	size := len(head) + nbytes
	slot, err := r.ch.Reserve(size, r.timeout)
	if err != nil {
		return 0, err
	}
	copy(slot, head)
	pattern.Fill(slot[len(head):], rec)
	if err := r.ch.Commit(size); err != nil {
		return 0, err
	}
	r.printf("sent-array %d", size)
	return 0, nil
}

// recvArray reads the next message in place as an array message and
// checks its element bytes against rec.
func (r *runner) recvArray(recipe string) (int, error) {
	rec, err := pattern.Parse(recipe)
	if err != nil {
		return 0, usageError{err}
	}
	var line string
	got, err := r.receive(true, true, nil, func(msg []byte) (int, error) {
		dtype, shape, offset, err := parseArray(msg)
		if err != nil {
			r.printf("bad-array %v", err)
			return exitMismatch, nil
		}
		if bad := pattern.Check(msg[offset:], rec); bad != nil {
			r.printf("mismatch %d %d %d", bad.Offset, bad.Got, bad.Want)
			return exitMismatch, nil
		}
		line = fmt.Sprintf("received-array %s %s %d", dtype, formatShape(shape), len(msg))
		return 0, nil
	})
	if err != nil || got.status != 0 {
		return got.status, err
	}
	r.printf("%s", line)
	return 0, nil
}
