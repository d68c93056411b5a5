package bridge

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// ensureStream finds the stream cfg.Stream, or makes it, taking
// cfg.Subject only. Either bridge may start first, so both call it. A
// server that does not answer yet (starting, electing a leader) is asked
// again until ctx ends.
func ensureStream(ctx context.Context, js jetstream.JetStream, cfg *Config) error {
	said := false
	for {
		err := findOrMakeStream(ctx, js, cfg)
		if err == nil || ctx.Err() != nil || !transient(err) {
			return err
		}
		if !said {
			cfg.Log("stream %s: %v; asking again", cfg.Stream, err)
			said = true
		}
		if !sleep(ctx, 250*time.Millisecond) {
			return ctx.Err()
		}
	}
}

func findOrMakeStream(ctx context.Context, js jetstream.JetStream, cfg *Config) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, cfg.Stream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		storage := jetstream.FileStorage
		if cfg.MemoryStorage {
			storage = jetstream.MemoryStorage
		}
		s, err = js.CreateStream(ctx, jetstream.StreamConfig{
			Name:        cfg.Stream,
			Description: "libshm channel messages, carried by shmlib-bridge",
			Subjects:    []string{cfg.Subject},
			Storage:     storage,
			Replicas:    cfg.Replicas,
		})
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			s, err = js.Stream(ctx, cfg.Stream) // the other bridge made it meanwhile
		}
	}
	if errors.Is(err, jetstream.ErrJetStreamNotEnabled) || errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount) {
		return fmt.Errorf("stream %s: JetStream is not enabled on the server (or for this account): "+
			"enable it, or use core NATS mode", cfg.Stream)
	}
	if err != nil {
		return fmt.Errorf("stream %s: %w", cfg.Stream, err)
	}
	info := s.CachedInfo()
	if !slices.Contains(info.Config.Subjects, cfg.Subject) {
		return fmt.Errorf("stream %s takes subjects %q, not %q: name another stream", cfg.Stream, info.Config.Subjects, cfg.Subject)
	}
	if info.Cluster != nil && info.Cluster.Leader == "" {
		return errNoLeader
	}
	return nil
}

// errNoLeader: a replicated stream that has not elected its leader yet
// takes no messages; the bridge waits for it.
var errNoLeader = errors.New("no leader elected yet")

// transient says whether err may go away by itself: the server not
// answering, rather than refusing.
func transient(err error) bool {
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) ||
		errors.Is(err, nats.ErrNoResponders) || errors.Is(err, jetstream.ErrNoStreamResponse) ||
		errors.Is(err, nats.ErrDisconnected) || errors.Is(err, nats.ErrConnectionReconnecting) ||
		errors.Is(err, errNoLeader)
}
