package bridge

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
)

// ConnOptions are the ways NATS users name a server and prove who they are.
type ConnOptions struct {
	Servers string // comma-separated URLs, e.g. nats://host:4222; user:password@ or a token may be in them
	Creds   string // a .creds file (JWT and NKey seed)
	TLSCA   string // PEM file of the CAs that sign the server's certificate
	TLSCert string // client certificate, with TLSKey, for servers that want one
	TLSKey  string
	Name    string // the connection's name, which the server shows
	Log     func(format string, args ...any)
}

// Redact returns servers, a comma-separated list of URLs, with every
// password and token replaced by "xxxxx": what may be logged.
func Redact(servers string) string {
	list := strings.Split(servers, ",")
	for i, s := range list {
		s = strings.TrimSpace(s)
		u, err := url.Parse(s)
		if err != nil {
			// Not a URL we can read, so nothing we can show safely.
			if strings.Contains(s, "@") {
				list[i] = "(unreadable URL with credentials)"
			}
			continue
		}
		if u.User != nil {
			if _, has := u.User.Password(); has {
				u.User = url.UserPassword(u.User.Username(), "xxxxx")
			} else {
				u.User = url.User("xxxxx") // a token
			}
		}
		list[i] = u.String()
	}
	return strings.Join(list, ",")
}

// Connect connects to NATS and returns once the connection is up, or ctx
// ends. The connection reconnects by itself for ever, to any server of the
// list or of the cluster, and logs each loss and return. While it is down,
// what is published is kept in a bounded buffer (reconnectBuf); beyond it,
// publishing fails and the bridge waits, consuming nothing more.
func Connect(ctx context.Context, o ConnOptions) (*nats.Conn, error) {
	logf := o.Log
	if logf == nil {
		logf = func(string, ...any) {}
	}
	if o.Servers == "" {
		o.Servers = nats.DefaultURL
	}
	if (o.TLSCert == "") != (o.TLSKey == "") {
		return nil, errors.New("TLS client certificate: give both the certificate and its key")
	}
	opts := []nats.Option{
		nats.Name(o.Name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.ReconnectBufSize(reconnectBuf),
		nats.RetryOnFailedConnect(true),
		nats.DisconnectErrHandler(func(nc *nats.Conn, err error) {
			if nc.IsClosed() {
				return // our own Close
			}
			if err != nil {
				logf("disconnected from NATS: %v", err)
			} else {
				logf("disconnected from NATS")
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			logf("reconnected to NATS at %s", nc.ConnectedUrlRedacted())
		}),
		nats.ErrorHandler(func(nc *nats.Conn, sub *nats.Subscription, err error) {
			if errors.Is(err, nats.ErrSlowConsumer) {
				return // In reports what it dropped, in its own words
			}
			logf("NATS: %v", err)
		}),
	}
	if o.Creds != "" {
		opts = append(opts, nats.UserCredentials(o.Creds))
	}
	if o.TLSCA != "" {
		opts = append(opts, nats.RootCAs(o.TLSCA))
	}
	if o.TLSCert != "" {
		opts = append(opts, nats.ClientCert(o.TLSCert, o.TLSKey))
	}
	nc, err := nats.Connect(o.Servers, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", Redact(o.Servers), err)
	}
	if err := waitConnected(ctx, nc, logf, Redact(o.Servers)); err != nil {
		nc.Close()
		return nil, err
	}
	return nc, nil
}

// reconnectBuf is how many bytes of publications nats.go keeps while the
// connection is down.
const reconnectBuf = 32 << 20

// waitConnected waits until nc is connected, saying once that it waits,
// and each new reason it is refused (bad credentials, say).
func waitConnected(ctx context.Context, nc *nats.Conn, logf func(string, ...any), servers string) error {
	said, last := false, ""
	for !nc.IsConnected() {
		if nc.IsClosed() {
			if err := nc.LastError(); err != nil {
				return fmt.Errorf("connect to %s: %w", servers, err)
			}
			return fmt.Errorf("connect to %s: connection closed", servers)
		}
		if !said {
			logf("waiting for a NATS server at %s", servers)
			said = true
		}
		if err := nc.LastError(); err != nil && err.Error() != last {
			last = err.Error()
			logf("NATS: %s", last)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return nil
}
