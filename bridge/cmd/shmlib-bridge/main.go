// Command shmlib-bridge carries a libshm channel's messages between hosts
// over NATS:
//
//	shmlib-bridge out [options] CHANNEL SUBJECT   channel -> NATS
//	shmlib-bridge in  [options] CHANNEL SUBJECT   NATS -> channel
//
// Run `shmlib-bridge -h` for the options; README.md, "Beyond one machine",
// says how it fits a pipeline.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/libshm/libshm/bindings/go/shmlib"
	"github.com/libshm/libshm/bridge/internal/bridge"
)

const usage = `usage: shmlib-bridge out|in [options] CHANNEL SUBJECT

  out   take the consumer end of the local channel CHANNEL (a libshm key,
        e.g. posix:/frames) and publish each message to the NATS SUBJECT
  in    subscribe to SUBJECT and produce each message into CHANNEL, whose
        producer end it takes

Messages keep their bytes, boundaries and order. Core NATS (the default)
delivers at most once; --jetstream delivers every message exactly once
into the channel, through a stream, also across server restarts. When the
local producer closes its channel, out says so and in closes its own:
the consumer there sees the end of the stream (reliably with --jetstream).
SIGINT or SIGTERM stops either one, closing its end of the channel.

options:
`

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

func run(args []string, stderr io.Writer) int {
	if len(args) == 0 || (args[0] != "out" && args[0] != "in") {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			fmt.Fprint(stderr, usage)
			newFlags(stderr, new(bridge.Config), new(bridge.ConnOptions)).PrintDefaults()
			return 0
		}
		fmt.Fprint(stderr, "shmlib-bridge: give out or in first\n\n"+usage)
		newFlags(stderr, new(bridge.Config), new(bridge.ConnOptions)).PrintDefaults()
		return 2
	}
	dir := args[0]
	prog := "shmlib-bridge " + dir
	var cfg bridge.Config
	var conn bridge.ConnOptions
	fs := newFlags(stderr, &cfg, &conn)
	pos, err := parseInterspersed(fs, args[1:])
	if err != nil {
		return 2 // flag has said what
	}
	if len(pos) != 2 {
		fmt.Fprintf(stderr, "%s: give CHANNEL and SUBJECT (%d arguments given)\n", prog, len(pos))
		return 2
	}
	cfg.Channel, cfg.Subject = pos[0], pos[1]
	if err := cfg.Check(); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", prog, err)
		return 2
	}
	// A channel that is not there is said at once, not after a server is found.
	if info, err := shmlib.Stat(cfg.Channel); err != nil || !info.Channel {
		if err == nil {
			err = fmt.Errorf("%s is a segment, not a channel", info.Key)
		}
		fmt.Fprintf(stderr, "%s: %v\n", prog, err)
		return 1
	}
	if conn.Servers == "" {
		conn.Servers = envOr("NATS_URL", "nats://127.0.0.1:4222")
	}
	logf := func(format string, a ...any) {
		fmt.Fprintf(stderr, "%s %s: %s\n", time.Now().Format("15:04:05.000"), prog, fmt.Sprintf(format, a...))
	}
	cfg.Log, conn.Log = logf, logf
	conn.Name = prog + " " + cfg.Channel

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	nc, err := bridge.Connect(ctx, conn)
	if err != nil {
		if ctx.Err() != nil {
			return 0 // stopped while waiting for a server
		}
		fmt.Fprintf(stderr, "%s: %v\n", prog, err)
		return 1
	}
	defer nc.Close()
	logf("connected to %s (max_payload %d); %s %s, %s", nc.ConnectedUrlRedacted(), nc.MaxPayload(),
		cfg.Channel, map[string]string{"out": "->", "in": "<-"}[dir]+" "+cfg.Subject, mode(cfg))

	var st bridge.Stats
	if dir == "out" {
		err = bridge.Out(ctx, nc, cfg, &st)
	} else {
		err = bridge.In(ctx, nc, cfg, &st)
	}
	if err == nil {
		err = nc.FlushTimeout(5 * time.Second)
		if errors.Is(err, context.Canceled) || nc.IsClosed() {
			err = nil
		}
	}
	summary := fmt.Sprintf("%d messages, %.1f MiB, %d NATS messages", st.Messages.Load(),
		float64(st.Bytes.Load())/(1<<20), st.Parts.Load())
	if d := st.Dropped.Load(); d > 0 {
		summary += fmt.Sprintf(", %d dropped", d)
	}
	if err != nil {
		logf("FAILED after %s: %v", summary, err)
		return 1
	}
	why := "end of stream"
	if ctx.Err() != nil {
		why = "stopped"
	}
	logf("%s: %s", why, summary)
	return 0
}

func mode(cfg bridge.Config) string {
	if cfg.JetStream {
		return "JetStream, stream " + bridge.StreamOf(cfg)
	}
	return "core NATS"
}

func newFlags(stderr io.Writer, cfg *bridge.Config, conn *bridge.ConnOptions) *flag.FlagSet {
	fs := flag.NewFlagSet("shmlib-bridge", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&conn.Servers, "server", "",
		"NATS server URLs, comma-separated (default $NATS_URL, else nats://127.0.0.1:4222);\n"+
			"a password or token in them is never shown")
	fs.StringVar(&conn.Creds, "creds", os.Getenv("NATS_CREDS"), "NATS credentials file (default $NATS_CREDS)")
	fs.StringVar(&conn.TLSCA, "tlsca", os.Getenv("NATS_CA"), "PEM file of the CAs that sign the server's certificate (default $NATS_CA)")
	fs.StringVar(&conn.TLSCert, "tlscert", os.Getenv("NATS_CERT"), "client certificate, for servers that ask for one (default $NATS_CERT)")
	fs.StringVar(&conn.TLSKey, "tlskey", os.Getenv("NATS_KEY"), "the client certificate's key (default $NATS_KEY)")
	fs.BoolVar(&cfg.JetStream, "jetstream", false, "at-least-once through a JetStream stream, deduplicated into exactly once")
	fs.StringVar(&cfg.Stream, "stream", "", "the stream's name (default SHMLIB_ and the subject); made if missing, for this subject only")
	fs.BoolVar(&cfg.MemoryStorage, "memory", false, "a stream made by the bridge keeps messages in memory, not files")
	fs.IntVar(&cfg.Replicas, "replicas", 1, "replicas of a stream made by the bridge (a cluster)")
	fs.Uint64Var(&cfg.StartSeq, "start-seq", 0, "in, JetStream: the first stream sequence to produce (default: the stream's first)")
	fs.IntVar(&cfg.Window, "window", 256, "at most this many NATS messages held in the bridge (unacknowledged or not yet produced)")
	fs.IntVar(&cfg.WindowBytes, "window-bytes", 16<<20, "... and at most this many bytes (at least twice the server's max_payload)")
	return fs
}

// parseInterspersed parses flags that may come before, between or after
// the positional arguments, and returns those.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
