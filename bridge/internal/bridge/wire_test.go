package bridge

import (
	"bytes"
	"strings"
	"testing"
)

// Cutting a message into parts and assembling them gives the message back,
// for lengths around every part boundary.
func TestPartsAssemble(t *testing.T) {
	const size = 100
	a := assembly{maxMessage: 1000}
	for _, n := range []int{101, 199, 200, 201, 999, 1000} {
		msg := make([]byte, n)
		fill(uint64(n), msg)
		ps := parts("s", 7, msg, size, false)
		if want := (n + size - 1) / size; len(ps) != want {
			t.Fatalf("%d bytes: %d parts, want %d", n, len(ps), want)
		}
		var whole []byte
		for i, m := range ps {
			if len(m.Data) > size {
				t.Fatalf("%d bytes: part %d has %d bytes", n, i, len(m.Data))
			}
			got, err := a.add(m.Header.Get(hdrPart), m.Data)
			if err != nil {
				t.Fatalf("%d bytes: part %d: %v", n, i, err)
			}
			if (got != nil) != (i == len(ps)-1) {
				t.Fatalf("%d bytes: part %d of %d: whole %v", n, i, len(ps), got != nil)
			}
			whole = got
		}
		if !bytes.Equal(whole, msg) {
			t.Fatalf("%d bytes: assembled message differs", n)
		}
	}
}

func TestParsePartRefuses(t *testing.T) {
	for _, v := range []string{"", "1 2 3", "1 2 3 4 5", "a 0 1 1", "1 -1 2 3", "1 2 2 3", "1 0 0 3",
		"1 0 1 99999999999999999999", "1 0 2000000000000 3"} {
		if _, err := parsePart(v); err == nil || !strings.Contains(err.Error(), hdrPart) {
			t.Errorf("parsePart(%q): %v, want an error naming %s", v, err, hdrPart)
		}
	}
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"nats://127.0.0.1:4222":                        "nats://127.0.0.1:4222",
		"nats://alice:pw@h:4222,tls://bob:pw2@h2:4222": "nats://alice:xxxxx@h:4222,tls://bob:xxxxx@h2:4222",
		"nats://s3cr3ttoken@h:4222":                    "nats://xxxxx@h:4222",
		"nats://a:b@h:4222/%zz":                        "(unreadable URL with credentials)",
	} {
		if got := Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestStreamName(t *testing.T) {
	if got := StreamName("frames.cam-1 x>"); got != "SHMLIB_frames_cam-1_x_" {
		t.Errorf("StreamName: %q", got)
	}
}
