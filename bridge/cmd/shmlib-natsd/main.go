// Command shmlib-natsd is a NATS server for trying shmlib-bridge on one
// machine: nats-server itself, embedded, listening on 127.0.0.1 only.
//
//	shmlib-natsd [--port N] [--jetstream DIR] [--url-file FILE]
//
// It prints its client URL on stdout once it takes connections (and writes
// it to FILE, if given), and runs until SIGINT or SIGTERM. For anything
// beyond a demo, run a real nats-server.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

func main() {
	port := flag.Int("port", -1, "port to listen on; -1 picks a free one")
	store := flag.String("jetstream", "", "enable JetStream, storing streams in this directory")
	urlFile := flag.String("url-file", "", "write the client URL to this file once ready")
	flag.Parse()

	opts := &server.Options{Host: "127.0.0.1", Port: *port, NoSigs: true, NoLog: true}
	if *store != "" {
		opts.JetStream, opts.StoreDir = true, *store
	}
	s, err := server.NewServer(opts)
	if err != nil {
		fmt.Fprintf(os.Stderr, "shmlib-natsd: %v\n", err)
		os.Exit(1)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		fmt.Fprintln(os.Stderr, "shmlib-natsd: the server did not start within 10 s")
		os.Exit(1)
	}
	url := s.ClientURL()
	if *urlFile != "" {
		// Written whole, then renamed: a reader never sees half a URL.
		if err := os.WriteFile(*urlFile+".tmp", []byte(url+"\n"), 0o644); err == nil {
			err = os.Rename(*urlFile+".tmp", *urlFile)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "shmlib-natsd: %v\n", err)
			s.Shutdown()
			os.Exit(1)
		}
	}
	fmt.Println(url)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
	s.Shutdown()
	s.WaitForShutdown()
}
