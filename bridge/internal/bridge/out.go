package bridge

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/libshm/libshm/bindings/go/shmlib"
	"github.com/nats-io/nats.go"
)

// Out consumes the channel cfg.Channel and publishes every message to
// cfg.Subject, until the channel's producer closes it (then it tells the
// subject so, in JetStream mode reliably) or ctx ends (a shutdown). Either
// way it returns nil having closed its consumer end; an error otherwise.
//
// It takes the next message from the channel only once the previous one is
// handed to NATS: in core mode, once nats.go has it (in its socket buffer,
// or while the server is away in its bounded reconnect buffer); in
// JetStream mode, while fewer than cfg.Window NATS messages
// (cfg.WindowBytes) wait for the stream's acknowledgement. A slow or absent
// server thus holds the channel's producer back; nothing is dropped.
func Out(ctx context.Context, nc *nats.Conn, c Config, st *Stats) error {
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
	ch, err := shmlib.OpenChannel(cfg.Channel, shmlib.Consumer)
	if err != nil {
		return err
	}
	defer ch.Close()
	if cfg.JetStream {
		o, err := newJSOut(ctx, nc, &cfg, st)
		if err != nil {
			return err
		}
		return o.run(ctx, ch)
	}
	return outCore(ctx, nc, &cfg, st, ch)
}

// outCore is core NATS mode: each message is published from where it lies
// in the channel (Peek), and released once nats.go has copied it.
func outCore(ctx context.Context, nc *nats.Conn, cfg *Config, st *Stats, ch *shmlib.Channel) error {
	p := corePublisher{nc: nc, cfg: cfg}
	for seq := uint64(0); ; seq++ {
		msg, err := peek(ctx, ch, cfg)
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, shmlib.ErrEndOfStream) {
			// At most once, like everything in this mode: an In bridge
			// that misses it does not close its channel.
			if err := p.publish(ctx, endMarker(cfg.Subject)); err != nil {
				return err
			}
			fctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			if err := nc.FlushWithContext(fctx); err != nil && ctx.Err() == nil {
				cfg.Log("the end of the stream may not have reached the server: %v", err)
			}
			return nil
		}
		if err != nil {
			return fmt.Errorf("channel %s: %w", cfg.Channel, err)
		}
		n, err := p.message(ctx, seq, msg)
		if err != nil {
			return err
		}
		if ctx.Err() != nil {
			return nil
		}
		if err := ch.Release(); err != nil {
			return fmt.Errorf("channel %s: %w", cfg.Channel, err)
		}
		st.Messages.Add(1)
		st.Bytes.Add(uint64(len(msg)))
		st.Parts.Add(uint64(n))
	}
}

// corePublisher publishes with nats.go, waiting while it cannot take more.
type corePublisher struct {
	nc      *nats.Conn
	cfg     *Config
	waiting bool // said that we wait for the server
}

// message publishes msg, the channel message numbered seq, in as many
// parts as the server's max_payload requires, and returns how many. A
// server of a smaller max_payload met after a reconnect makes it start
// again with smaller parts.
func (p *corePublisher) message(ctx context.Context, seq uint64, msg []byte) (int, error) {
	for {
		maxPayload := p.nc.MaxPayload()
		size, err := partSize(maxPayload)
		if err != nil {
			return 0, err
		}
		if int64(len(msg)) <= maxPayload {
			return 1, p.publish(ctx, &nats.Msg{Subject: p.cfg.Subject, Data: msg})
		}
		ps := parts(p.cfg.Subject, seq, msg, size, false)
		for _, m := range ps {
			err = p.publish(ctx, m)
			if err != nil {
				break
			}
		}
		if !errors.Is(err, nats.ErrMaxPayload) {
			return len(ps), err
		}
	}
}

// publish publishes m, waiting while nats.go's buffer for an absent server
// is full; it returns nil early if ctx ends, and nats.ErrMaxPayload for a
// message the server now refuses as too large.
func (p *corePublisher) publish(ctx context.Context, m *nats.Msg) error {
	for {
		var err error
		if m.Header == nil {
			err = p.nc.Publish(m.Subject, m.Data)
		} else {
			err = p.nc.PublishMsg(m)
		}
		switch {
		case err == nil:
			if p.waiting {
				p.cfg.Log("publishing again")
				p.waiting = false
			}
			return nil
		case errors.Is(err, nats.ErrMaxPayload):
			return err // message() cuts it again, for this server
		case errors.Is(err, nats.ErrConnectionClosed), errors.Is(err, nats.ErrBadSubject):
			return fmt.Errorf("publish to %s: %w", m.Subject, err)
		}
		if !p.waiting {
			p.cfg.Log("cannot publish (%v): waiting, and holding the channel's producer back", err)
			p.waiting = true
		}
		if !sleep(ctx, p.cfg.Poll) {
			return nil
		}
	}
}
