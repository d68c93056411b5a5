// Command shmlib-bridge-bench measures shmlib-bridge against plain NATS,
// for `make bench` (bench/run.py runs it and adds its entries):
//
//	bridge.nats.64B, bridge.nats.1MiB
//	    MB/s of a stream of messages of that size from a producer, through
//	    a channel, an Out bridge, a NATS server, an In bridge and a channel,
//	    to a consumer; against a plain nats.go publisher and subscriber
//	    moving the same messages through the same server. Core NATS both.
//
// Everything runs in this process, the server too (127.0.0.1, a free
// port), the bridge's ends and the baseline's taking turns, RUNS times
// each; the medians are reported. Prints a JSON list of entries.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/libshm/libshm/bindings/go/shmlib"
	"github.com/libshm/libshm/bridge/internal/bridge"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

const runs = 5

type entry struct {
	Name          string    `json:"name"`
	Value         float64   `json:"value"`
	Unit          string    `json:"unit"`
	Baseline      string    `json:"baseline"`
	BaselineValue float64   `json:"baseline_value"`
	Target        float64   `json:"target"`
	Better        string    `json:"better"`
	Runs          []float64 `json:"runs"`
	BaselineRuns  []float64 `json:"baseline_runs"`
	Notes         string    `json:"notes"`
}

// channels made, destroyed at the end or on SIGINT/SIGTERM.
var (
	madeMu sync.Mutex
	made   []string
)

func destroyAll() {
	madeMu.Lock()
	defer madeMu.Unlock()
	for _, k := range made {
		shmlib.Destroy(k)
	}
	made = nil
}

func main() {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sig
		destroyAll()
		os.Exit(1)
	}()
	err := run()
	destroyAll()
	if err != nil {
		fmt.Fprintf(os.Stderr, "shmlib-bridge-bench: %v\n", err)
		os.Exit(1)
	}
}

func run() error {
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true,
		MaxPending: 1 << 30})
	if err != nil {
		return err
	}
	go s.Start()
	defer s.Shutdown()
	if !s.ReadyForConnections(10 * time.Second) {
		return errors.New("the NATS server did not start")
	}
	var entries []entry
	for _, c := range []struct {
		name  string
		size  int
		count int
	}{
		{"bridge.nats.64B", 64, 300000},
		{"bridge.nats.1MiB", 1 << 20, 200},
	} {
		var br, base []float64
		for i := 0; i < runs; i++ {
			v, err := bridged(s.ClientURL(), c.size, c.count, i)
			if err != nil {
				return fmt.Errorf("%s: %w", c.name, err)
			}
			br = append(br, v)
			v, err = plain(s.ClientURL(), c.size, c.count, i)
			if err != nil {
				return fmt.Errorf("%s baseline: %w", c.name, err)
			}
			base = append(base, v)
		}
		entries = append(entries, entry{
			Name: c.name, Value: median(br), Unit: "MB/s", Baseline: "nats.go",
			BaselineValue: median(base), Target: 0.8, Better: "higher", Runs: br, BaselineRuns: base,
			Notes: fmt.Sprintf("MB/s (10^6 bytes/s) of %d messages of %d bytes, first send to last receive, "+
				"one process, an embedded nats-server on 127.0.0.1, core NATS; shmlib-bridge: a goroutine "+
				"commits each message in place into a channel (shmlib Go binding, Reserve/Commit, as "+
				"frame_producer does), Out publishes it, In produces it into a second channel, a goroutine "+
				"takes it in place (Peek/Release, as numpy_stage does); nats.go: a connection publishes a "+
				"buffer of that size, another's SubscribeSync receives it (NextMsg); neither side writes or "+
				"reads the bytes; median of %d interleaved runs",
				c.count, c.size, runs),
		})
	}
	return json.NewEncoder(os.Stdout).Encode(entries)
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

func mbps(bytes int, d time.Duration) float64 { return float64(bytes) / d.Seconds() / 1e6 }

// plain is the baseline: a publisher and a subscriber of nats.go.
func plain(url string, size, count, run int) (float64, error) {
	subj := fmt.Sprintf("bench.plain.%d.%d", size, run)
	pub, err := nats.Connect(url)
	if err != nil {
		return 0, err
	}
	defer pub.Close()
	subc, err := nats.Connect(url)
	if err != nil {
		return 0, err
	}
	defer subc.Close()
	sub, err := subc.SubscribeSync(subj)
	if err != nil {
		return 0, err
	}
	sub.SetPendingLimits(-1, -1)
	if err := subc.Flush(); err != nil {
		return 0, err
	}
	msg := make([]byte, size)
	t0 := time.Now()
	go func() {
		for i := 0; i < count; i++ {
			pub.Publish(subj, msg)
		}
		pub.Flush()
	}()
	total := 0
	for i := 0; i < count; i++ {
		m, err := sub.NextMsg(10 * time.Second)
		if err != nil {
			return 0, fmt.Errorf("after %d messages: %w", i, err)
		}
		total += len(m.Data)
	}
	return mbps(total, time.Since(t0)), nil
}

// bridged is the same stream through channel -> Out -> NATS -> In -> channel.
func bridged(url string, size, count, run int) (float64, error) {
	subj := fmt.Sprintf("bench.bridge.%d.%d", size, run)
	capacity := uint64(max(1<<20, 4*(size+64)))
	var keys [2]string
	for i := range keys {
		k, err := shmlib.CreateChannel(fmt.Sprintf("posix:/shmlib-bench-%d-bridge-%d-%d", os.Getpid(), run, i), capacity, nil)
		if err != nil {
			return 0, err
		}
		madeMu.Lock()
		made = append(made, k)
		madeMu.Unlock()
		keys[i] = k
		defer shmlib.Destroy(k)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg := bridge.Config{Subject: subj, Window: 1 << 20, WindowBytes: 1 << 30, Log: logf}
	errs := make(chan error, 3)
	var wg sync.WaitGroup
	for _, end := range []struct {
		fn  func(context.Context, *nats.Conn, bridge.Config, *bridge.Stats) error
		key string
	}{{bridge.In, keys[1]}, {bridge.Out, keys[0]}} {
		nc, err := bridge.Connect(ctx, bridge.ConnOptions{Servers: url})
		if err != nil {
			return 0, err
		}
		defer nc.Close()
		c := cfg
		c.Channel = end.key
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := end.fn(ctx, nc, c, nil); err != nil {
				errs <- err
			}
		}()
	}
	defer wg.Wait()
	rx, err := shmlib.OpenChannel(keys[1], shmlib.Consumer)
	if err != nil {
		return 0, err
	}
	defer rx.Close()
	// The In bridge subscribes before the first message is published: it
	// has once its producer end is taken (it subscribes right after).
	time.Sleep(200 * time.Millisecond)
	t0 := time.Now()
	go func() {
		tx, err := shmlib.OpenChannel(keys[0], shmlib.Producer)
		if err != nil {
			errs <- err
			return
		}
		defer tx.Close()
		for i := 0; i < count; i++ {
			if _, err := tx.Reserve(size, 10*time.Second); err != nil {
				errs <- err
				return
			}
			if err := tx.Commit(size); err != nil {
				errs <- err
				return
			}
		}
	}()
	total := 0
	for i := 0; i < count; i++ {
		m, err := rx.Peek(10 * time.Second)
		if err == nil {
			err = rx.Release()
		}
		if err != nil {
			select {
			case e := <-errs:
				return 0, e
			default:
			}
			return 0, fmt.Errorf("after %d messages: %w", i, err)
		}
		total += len(m)
	}
	v := mbps(total, time.Since(t0))
	// Both bridges end by themselves with the end of the stream.
	ended := make(chan struct{})
	go func() { wg.Wait(); close(ended) }()
	select {
	case <-ended:
	case <-time.After(10 * time.Second):
		return 0, errors.New("the bridges did not end with the stream")
	}
	select {
	case err := <-errs:
		return 0, err
	default:
	}
	return v, nil
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "shmlib-bridge-bench: bridge: "+format+"\n", args...)
}
