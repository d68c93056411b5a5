package bridge

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libshm/libshm/bindings/go/shmlib"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// In subscribes to cfg.Subject and produces every message into the channel
// cfg.Channel, until an Out bridge says its producer closed (then In
// closes its producer end, and the channel's consumer sees the end of the
// stream) or ctx ends (a shutdown, which closes the end too). It returns
// nil then; an error when it cannot go on.
//
// A full channel stops it taking more: at most cfg.Window NATS messages
// (cfg.WindowBytes) wait in the bridge. In JetStream mode the rest waits in
// the stream. Core NATS cannot wait: beyond the window nats.go drops, and
// In says how many.
//
// A message that cannot go into the channel (larger than the channel's
// largest message, or parts that do not make one) is dropped with a line
// in cfg.Log that says why, and counted in st.Dropped; the next one is
// carried as usual.
func In(ctx context.Context, nc *nats.Conn, c Config, st *Stats) error {
	cfg, err := c.withDefaults()
	if err != nil {
		return err
	}
	if st == nil {
		st = new(Stats)
	}
	if _, err := partSize(nc.MaxPayload()); err != nil {
		return err
	}
	// A part is at most max_payload: the window must hold two.
	cfg.WindowBytes = max(cfg.WindowBytes, 2*int(nc.MaxPayload()))
	ch, err := shmlib.OpenChannel(cfg.Channel, shmlib.Producer)
	if err != nil {
		return err
	}
	defer ch.Close()
	p := &producer{ch: ch, cfg: &cfg, st: st, asm: assembly{maxMessage: int(min(ch.MaxMessage(), 1<<40))}}
	if cfg.JetStream {
		return inJS(ctx, nc, &cfg, p)
	}
	return inCore(ctx, nc, &cfg, p)
}

// producer puts what arrives into the channel.
type producer struct {
	ch  *shmlib.Channel
	cfg *Config
	st  *Stats
	asm assembly
}

// errEnd is what put returns for the end-of-stream marker.
var errEnd = errors.New("end of stream")

// put produces the message that hdr and data carry (or adds the part they
// carry to it); waiting is called every Poll the channel stays full. It
// returns errEnd for the end marker, ctx's error if ctx ended, and another
// error only when the channel fails.
func (p *producer) put(ctx context.Context, hdr nats.Header, data []byte, waiting func()) error {
	if hdr.Get(hdrEnd) != "" {
		return errEnd
	}
	msg := data
	if v := hdr.Get(hdrPart); v != "" {
		whole, err := p.asm.add(v, data)
		if err != nil {
			p.drop("%v", err)
		}
		if whole == nil {
			return nil
		}
		msg = whole
	} else if uint64(len(msg)) > p.ch.MaxMessage() {
		p.drop("a message of %d bytes is larger than the channel's largest message (%d bytes): dropped",
			len(msg), p.ch.MaxMessage())
		return nil
	}
	if err := send(ctx, p.ch, p.cfg, msg, waiting); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("channel %s: %w", p.cfg.Channel, err)
	}
	p.st.Messages.Add(1)
	p.st.Bytes.Add(uint64(len(msg)))
	return nil
}

func (p *producer) drop(format string, args ...any) {
	p.st.Dropped.Add(1)
	p.cfg.Log("subject %s: "+format, append([]any{p.cfg.Subject}, args...)...)
}

// inCore is core NATS mode: a subscription whose handler produces into the
// channel, and whose pending messages nats.go bounds to the window (an
// asynchronous subscription: a synchronous one has a fixed queue of its own).
func inCore(ctx context.Context, nc *nats.Conn, cfg *Config, p *producer) error {
	done := make(chan error, 1)
	finish := func(err error) {
		select {
		case done <- err:
		default:
		}
	}
	// The handler runs holding mu, and does nothing once over is set: In
	// must not return, closing the channel, while it produces.
	var mu sync.Mutex
	var over atomic.Bool
	sub, err := nc.Subscribe(cfg.Subject, func(m *nats.Msg) {
		mu.Lock()
		defer mu.Unlock()
		if over.Load() {
			return
		}
		p.st.Parts.Add(1)
		err := p.put(ctx, m.Header, m.Data, nil)
		if errors.Is(err, errEnd) || ctx.Err() != nil {
			over.Store(true)
			finish(nil)
		} else if err != nil {
			over.Store(true)
			finish(err)
		}
	})
	if err != nil {
		return fmt.Errorf("subscribe to %s: %w", cfg.Subject, err)
	}
	defer func() {
		over.Store(true)
		sub.Unsubscribe()
		mu.Lock() // a handler running (until ctx's end) has returned
		mu.Unlock()
	}()
	if err := sub.SetPendingLimits(cfg.Window, cfg.WindowBytes); err != nil {
		return err
	}
	var dropped int
	tick := time.NewTicker(cfg.Poll)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-done:
			return err
		case <-tick.C:
			if n, _ := sub.Dropped(); n > dropped {
				cfg.Log("subject %s: the channel was full and core NATS does not wait: %d messages dropped "+
					"(JetStream mode waits instead)", cfg.Subject, n-dropped)
				dropped = n
			}
		}
	}
}

// inJS is JetStream mode: an ordered consumer, which delivers the stream's
// messages in order, each once, and starts again after the last one
// delivered when it sees a gap (a server restart, a lost connection). It
// fetches at most the window ahead; while the channel is full it fetches
// nothing more.
func inJS(ctx context.Context, nc *nats.Conn, cfg *Config, p *producer) error {
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	if err := ensureStream(ctx, js, cfg); err != nil {
		return err
	}
	occ := jetstream.OrderedConsumerConfig{FilterSubjects: []string{cfg.Subject}}
	if cfg.StartSeq > 0 {
		occ.DeliverPolicy = jetstream.DeliverByStartSequencePolicy
		occ.OptStartSeq = cfg.StartSeq
	}
	cons, err := js.OrderedConsumer(ctx, cfg.Stream, occ)
	if err != nil {
		return fmt.Errorf("stream %s: consumer: %w", cfg.Stream, err)
	}
	// Short pulls with heartbeats: when the server that holds the consumer
	// dies, a missing heartbeat makes the ordered consumer start again on
	// another within seconds (by default it would take half a minute).
	it, err := cons.Messages(jetstream.PullMaxMessagesWithBytesLimit(cfg.Window, cfg.WindowBytes),
		jetstream.PullExpiry(pullExpiry), jetstream.PullHeartbeat(pullExpiry/5))
	if err != nil {
		return fmt.Errorf("stream %s: consumer: %w", cfg.Stream, err)
	}
	defer it.Stop()
	var last uint64     // stream sequence of the last NATS message handled
	var boundary uint64 // ... that ended a channel message
	for {
		m, err := it.Next(jetstream.NextContext(ctx))
		if ctx.Err() != nil {
			p.resumeHint(boundary)
			return nil
		}
		if err != nil {
			if transient(err) {
				continue
			}
			return fmt.Errorf("stream %s: %w", cfg.Stream, err)
		}
		meta, err := m.Metadata()
		if err != nil {
			p.drop("not a JetStream message (%v): dropped", err)
			continue
		}
		if meta.Sequence.Stream <= last {
			continue // delivered again; the channel has it
		}
		p.st.Parts.Add(1)
		err = p.put(ctx, m.Headers(), m.Data(), nil)
		if errors.Is(err, errEnd) {
			return nil
		}
		if ctx.Err() != nil {
			p.resumeHint(boundary)
			return nil
		}
		if err != nil {
			return err
		}
		last = meta.Sequence.Stream
		if p.asm.cur.count == 0 {
			boundary = last
		}
	}
}

// pullExpiry is how long one pull request of In lasts.
const pullExpiry = 5 * time.Second

// resumeHint tells, at a shutdown, where a new In bridge should start.
func (p *producer) resumeHint(last uint64) {
	p.cfg.Log("stopped after stream sequence %d of %s: a new In bridge continues with --start-seq %d",
		last, p.cfg.Stream, last+1)
}
