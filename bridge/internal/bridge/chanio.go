package bridge

import (
	"context"
	"errors"
	"time"

	"github.com/libshm/libshm/bindings/go/shmlib"
)

// The channel's waits take a timeout, not a context: the bridge waits Poll
// at a time and looks at ctx in between.

// peek waits for the next message of ch (the consumer end) until ctx ends,
// when it returns ctx's error.
func peek(ctx context.Context, ch *shmlib.Channel, cfg *Config) ([]byte, error) {
	for {
		msg, err := ch.Peek(cfg.Poll)
		if !errors.Is(err, shmlib.ErrTimeout) {
			return msg, err
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
}

// send produces msg into ch (the producer end), waiting for room until ctx
// ends. Each Poll spent waiting calls waiting, if not nil.
func send(ctx context.Context, ch *shmlib.Channel, cfg *Config, msg []byte, waiting func()) error {
	for {
		err := ch.Send(msg, cfg.Poll)
		if !errors.Is(err, shmlib.ErrTimeout) {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if waiting != nil {
			waiting()
		}
	}
}

// sleep waits d, or less if ctx ends; false if it did.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
