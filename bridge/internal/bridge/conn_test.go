package bridge

import (
	"context"
	"strings"
	"testing"
	"time"
)

// Refused credentials are said while the bridge waits, and no password is.
func TestConnectSaysWhyRefused(t *testing.T) {
	o := serverOpts()
	o.Username, o.Password = "bridge", "right-pw"
	s := startServer(t, o)
	l := newLogs(t, "conn")
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	url := strings.Replace(s.ClientURL(), "nats://", "nats://bridge:wrong-pw@", 1)
	if _, err := Connect(ctx, ConnOptions{Servers: url, Log: l.logf}); err == nil {
		t.Fatal("Connect with a wrong password succeeded")
	}
	if l.find("authorization violation") == "" {
		t.Errorf("no log line says the server refused the credentials")
	}
	if l.find("wrong-pw") != "" {
		t.Errorf("the password is in the log")
	}
}
