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
	_, err := Connect(ctx, ConnOptions{Servers: url, Log: l.logf})
	if err == nil {
		t.Fatal("Connect with a wrong password succeeded")
	}
	// nats.go gives up at once on some refusals (the error says why) and
	// retries on others (a log line says why while it waits).
	said := strings.ToLower(err.Error() + "\n" + l.all())
	if !strings.Contains(said, "authorization violation") {
		t.Errorf("neither the error (%v) nor a log line says the server refused the credentials", err)
	}
	if strings.Contains(err.Error(), "wrong-pw") || l.find("wrong-pw") != "" {
		t.Errorf("the password is in the error or the log")
	}
}
