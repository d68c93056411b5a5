// Package bridge carries the messages of a libshm channel over NATS: Out
// consumes a local channel and publishes each message to a subject, In
// subscribes to a subject and produces each message into a local channel.
// The command shmlib-bridge (bridge/cmd/shmlib-bridge) is its face; the
// wire format is in wire.go.
package bridge

import (
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"
)

// Config says what one bridge end carries and how.
type Config struct {
	Channel string // key of the local channel; Out takes its consumer end, In its producer end
	Subject string // the NATS subject the messages travel on

	// JetStream selects at-least-once delivery through a stream instead of
	// core NATS's at-most-once.
	JetStream     bool
	Stream        string // the stream's name; "" derives one from Subject
	MemoryStorage bool   // a new stream keeps its messages in memory, not in files
	Replicas      int    // a new stream's replicas; 0 means 1
	StartSeq      uint64 // In, JetStream: first stream sequence to deliver; 0 means from the start

	// Window bounds what the bridge holds in memory: Out's published but
	// not yet acknowledged NATS messages (JetStream), In's messages taken
	// from the server but not yet produced into the channel. 0: defaults.
	Window      int // messages; default 256
	WindowBytes int // bytes; default 16 MiB, and at least two of the server's max_payload

	// Poll is how long one wait on the channel or the server lasts before
	// the bridge looks whether it should stop; 0 means 100 ms. It bounds
	// how long a shutdown takes, not how fast messages move.
	Poll time.Duration

	// Log receives one line for each event worth a person's attention:
	// reconnects, dropped or malformed messages. nil: silent.
	Log func(format string, args ...any)
}

// Stats counts what a bridge end did; read it while the bridge runs.
type Stats struct {
	Messages atomic.Uint64 // channel messages carried
	Bytes    atomic.Uint64 // their bytes
	Parts    atomic.Uint64 // NATS messages published or taken
	Dropped  atomic.Uint64 // In: messages refused (malformed, oversized, incomplete)
	Pending  atomic.Int64  // In: NATS messages taken and not yet produced (or refused)
}

const (
	defaultWindow      = 256
	defaultWindowBytes = 16 << 20
	defaultPoll        = 100 * time.Millisecond
)

// Check says what is wrong with c, before any connection is made.
func (c *Config) Check() error {
	_, err := c.withDefaults()
	return err
}

func (c *Config) withDefaults() (Config, error) {
	o := *c
	if o.Channel == "" {
		return o, errors.New("no channel: give the key of a local channel")
	}
	if o.Subject == "" || strings.ContainsAny(o.Subject, " \t\r\n*>") {
		return o, fmt.Errorf("subject %q: give one literal NATS subject (no spaces or wildcards)", o.Subject)
	}
	if o.Window == 0 {
		o.Window = defaultWindow
	}
	if o.WindowBytes == 0 {
		o.WindowBytes = defaultWindowBytes
	}
	if o.Window < 1 || o.WindowBytes < 1 {
		return o, fmt.Errorf("window %d messages, %d bytes: both must be at least 1", o.Window, o.WindowBytes)
	}
	if o.Poll <= 0 {
		o.Poll = defaultPoll
	}
	if o.Stream == "" {
		o.Stream = StreamName(o.Subject)
	}
	if o.Replicas == 0 {
		o.Replicas = 1
	}
	if o.Log == nil {
		o.Log = func(string, ...any) {}
	}
	return o, nil
}

// StreamName is the stream a bridge uses for subject when none is given:
// "SHMLIB_" and the subject with every character a stream name cannot
// hold replaced by '_'.
func StreamName(subject string) string {
	b := []byte("SHMLIB_" + subject)
	for i, c := range b {
		if c == '.' || c == '*' || c == '>' || c == '/' || c == '\\' || c <= ' ' || c >= 0x7f {
			b[i] = '_'
		}
	}
	return string(b)
}

// StreamOf is the stream the bridge described by cfg uses.
func StreamOf(cfg Config) string {
	if cfg.Stream != "" {
		return cfg.Stream
	}
	return StreamName(cfg.Subject)
}
