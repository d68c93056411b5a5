package bridge

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/libshm/libshm/bindings/go/shmlib"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"
)

// How long the stream may take to acknowledge a message before the bridge
// sends it again, and how long a shutdown waits for the last ones.
const (
	ackTimeout = 5 * time.Second
	drainGrace = 10 * time.Second
)

// jsErrWrongLastMsgID is the server's error code for a message whose
// Nats-Expected-Last-Msg-Id is not the stream's last message id.
const jsErrWrongLastMsgID = 10070

// flight is one NATS message published and not yet acknowledged.
type flight struct {
	msg  *nats.Msg
	id   string
	fut  jetstream.PubAckFuture // nil: not (re)sent yet
	last bool                   // the last part of a channel message
	size int                    // the channel message's length, on its last part
}

// jsOut is Out in JetStream mode: a window of messages in flight, in
// order, each with an id and its predecessor's, resent in order after any
// failure.
type jsOut struct {
	nc      *nats.Conn
	js      jetstream.JetStream
	cfg     *Config
	st      *Stats
	runID   string // prefix of this start's message ids
	n       uint64 // NATS messages published so far
	prevID  string
	pending []*flight
	bytes   int // payload bytes in pending
	failing bool
}

func newJSOut(ctx context.Context, nc *nats.Conn, cfg *Config, st *Stats) (*jsOut, error) {
	js, err := jetstream.New(nc,
		jetstream.WithPublishAsyncMaxPending(cfg.Window+1),
		jetstream.WithPublishAsyncTimeout(ackTimeout))
	if err != nil {
		return nil, err
	}
	if err := ensureStream(ctx, js, cfg); err != nil {
		return nil, err
	}
	return &jsOut{nc: nc, js: js, cfg: cfg, st: st, runID: nuid.Next()}, nil
}

func (o *jsOut) run(ctx context.Context, ch *shmlib.Channel) error {
	var seq uint64 // the channel messages taken
	for {
		if ctx.Err() != nil {
			return o.drain("shutting down")
		}
		if err := o.settle(ctx, 0); err != nil {
			return err
		}
		if len(o.pending) >= o.cfg.Window || o.bytes >= o.cfg.WindowBytes {
			if err := o.settle(ctx, o.cfg.Poll); err != nil {
				return err
			}
			continue
		}
		wait := o.cfg.Poll
		if len(o.pending) > 0 {
			wait = 0 // rather look at the acknowledgements than sleep
		}
		msg, err := ch.Peek(wait)
		switch {
		case errors.Is(err, shmlib.ErrTimeout):
			if err := o.settle(ctx, o.cfg.Poll); err != nil {
				return err
			}
			continue
		case errors.Is(err, shmlib.ErrEndOfStream):
			o.add(endMarker(o.cfg.Subject), true, 0)
			if err := o.settleAll(ctx); err != nil {
				return err
			}
			if ctx.Err() != nil {
				return o.drain("shutting down")
			}
			return nil
		case err != nil:
			return fmt.Errorf("channel %s: %w", o.cfg.Channel, err)
		}
		// Our own copy: it stays until the stream has it, for resending.
		buf := append([]byte(nil), msg...)
		if err := ch.Release(); err != nil {
			return fmt.Errorf("channel %s: %w", o.cfg.Channel, err)
		}
		size, err := partSize(o.nc.MaxPayload())
		if err != nil {
			return err
		}
		ps := parts(o.cfg.Subject, seq, buf, size, len(buf) <= size)
		for i, m := range ps {
			if m.Header == nil {
				m.Header = nats.Header{}
			}
			o.add(m, i == len(ps)-1, len(buf))
		}
		seq++
	}
}

// add gives m the next id and its predecessor's, and publishes it.
func (o *jsOut) add(m *nats.Msg, last bool, size int) {
	o.n++
	id := o.runID + "." + strconv.FormatUint(o.n, 10)
	m.Header.Set(jetstream.MsgIDHeader, id)
	if o.prevID != "" {
		m.Header.Set(jetstream.ExpectedLastMsgIDHeader, o.prevID)
	}
	o.prevID = id
	f := &flight{msg: m, id: id, last: last, size: size}
	o.pending = append(o.pending, f)
	o.bytes += len(m.Data)
	if o.pendingSent() == len(o.pending)-1 {
		o.send(f)
	}
}

// pendingSent is how many of the pending messages are sent (the rest,
// after a failure, wait to be resent in order).
func (o *jsOut) pendingSent() int {
	for i, f := range o.pending {
		if f.fut == nil {
			return i
		}
	}
	return len(o.pending)
}

// send publishes f; on an immediate failure (nats.go's buffers full while
// the server is away) f stays unsent, to be resent by settle.
func (o *jsOut) send(f *flight) bool {
	fut, err := o.js.PublishMsgAsync(f.msg)
	if err != nil {
		o.trouble(err)
		return false
	}
	f.fut = fut
	return true
}

// trouble says once per outage that the stream does not take messages.
func (o *jsOut) trouble(err error) {
	if !o.failing {
		o.cfg.Log("JetStream did not take or acknowledge a message (%v): resending, "+
			"and holding the channel's producer back", err)
		o.failing = true
	}
}

// settle takes the acknowledgements that have come, oldest first, waiting
// up to wait for the oldest. A failure sends the failed message and every
// one after it again, in order.
func (o *jsOut) settle(ctx context.Context, wait time.Duration) error {
	var timer <-chan time.Time
	if wait > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		timer = t.C
	}
	for len(o.pending) > 0 {
		f := o.pending[0]
		if f.fut == nil {
			if !sleep(ctx, o.cfg.Poll) {
				return nil
			}
			o.resend()
			return nil
		}
		var err error
		select {
		case <-f.fut.Ok():
			o.done(1)
			timer = nil // the oldest came: wait no more
			continue
		case err = <-f.fut.Err():
		default:
			if timer == nil {
				return nil
			}
			select {
			case <-f.fut.Ok():
				o.done(1)
				timer = nil
				continue
			case err = <-f.fut.Err():
			case <-timer:
				return nil
			case <-ctx.Done():
				return nil
			}
		}
		if err := o.failed(err); err != nil {
			return err
		}
		timer = nil
	}
	return nil
}

// settleAll waits until every pending message is acknowledged, or ctx ends.
func (o *jsOut) settleAll(ctx context.Context) error {
	for len(o.pending) > 0 && ctx.Err() == nil {
		if err := o.settle(ctx, o.cfg.Poll); err != nil {
			return err
		}
	}
	return nil
}

// drain is the end of a shutdown: it waits a while for what is in flight.
func (o *jsOut) drain(why string) error {
	ctx, cancel := context.WithTimeout(context.Background(), drainGrace)
	defer cancel()
	if err := o.settleAll(ctx); err != nil {
		return err
	}
	if n := len(o.pending); n > 0 {
		o.cfg.Log("%s with %d NATS messages unacknowledged: the stream may or may not have them", why, n)
	}
	return nil
}

// done drops the n oldest pending messages: the stream has them.
func (o *jsOut) done(n int) {
	for _, f := range o.pending[:n] {
		o.bytes -= len(f.msg.Data)
		o.st.Parts.Add(1)
		if f.last && f.msg.Header.Get(hdrEnd) == "" {
			o.st.Messages.Add(1)
			o.st.Bytes.Add(uint64(f.size))
		}
	}
	clear(o.pending[:n])
	o.pending = o.pending[n:]
	if o.failing {
		o.cfg.Log("JetStream acknowledges again")
		o.failing = false
	}
}

// failed handles the failure of the oldest pending message.
func (o *jsOut) failed(err error) error {
	var api *jetstream.APIError
	if errors.As(err, &api) {
		if api.ErrorCode != jsErrWrongLastMsgID {
			return fmt.Errorf("stream %s refused a message: %w", o.cfg.Stream, err)
		}
		// The stream's last message is not the one before the oldest
		// pending: either a later one of ours got in (an acknowledgement
		// lost, or the duplicate window passed), and everything up to it
		// is stored, or another publisher writes to the stream.
		last := api.Description[strings.LastIndex(api.Description, " ")+1:]
		stored := -1
		for i, f := range o.pending {
			if f.id == last {
				stored = i
			}
		}
		if stored < 0 {
			return fmt.Errorf("stream %s: its last message %q is not one this bridge published: "+
				"another publisher writes to it; give each Out bridge a stream of its own", o.cfg.Stream, last)
		}
		o.done(stored + 1)
	} else {
		o.trouble(err)
		sleep(context.Background(), o.cfg.Poll)
	}
	o.resend()
	return nil
}

// resend sends every pending message again, oldest first. Those the stream
// already has come back as duplicates, acknowledged.
func (o *jsOut) resend() {
	for _, f := range o.pending {
		f.fut = nil
	}
	for _, f := range o.pending {
		if !o.send(f) {
			return
		}
	}
}
