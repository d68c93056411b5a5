package channel

import (
	"bytes"
	"testing"

	"github.com/libshm/libshm/internal/errs"
)

// TestGiveBack: a reservation given back publishes nothing, and a peeked
// message given back stays first; both are refused on the wrong end and
// without a loan. As shmlib_chan_unreserve and shmlib_chan_unpeek do in C
// (test_chan_giveback.c).
func TestGiveBack(t *testing.T) {
	key := newChannel(t, "posix:", 4096)
	p, c := open(t, key, Producer), open(t, key, Consumer)
	buf, err := p.Reserve(100, 0)
	if err != nil {
		t.Fatal(err)
	}
	copy(buf, "dropped")
	if err := p.Unreserve(); err != nil {
		t.Fatal(err)
	}
	_, err = c.Peek(0)
	wantCode(t, err, errs.ErrTimeout, "")
	wantCode(t, p.Unreserve(), errs.ErrInvalid, "chan_unreserve "+key+": nothing is reserved")
	wantCode(t, p.Commit(0), errs.ErrInvalid, "nothing is reserved")
	if err := p.Send([]byte("first"), 0); err != nil {
		t.Fatal(err)
	}
	if err := p.Send([]byte("second"), 0); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		msg, err := c.Peek(0)
		if err != nil || !bytes.Equal(msg, []byte("first")) {
			t.Fatalf("peek %d: %q, %v", i, msg, err)
		}
		if err := c.Unpeek(); err != nil {
			t.Fatal(err)
		}
	}
	wantCode(t, c.Unpeek(), errs.ErrInvalid, "no message is held")
	wantCode(t, c.Release(), errs.ErrInvalid, "no message is held")
	got := make([]byte, 16)
	for _, want := range []string{"first", "second"} {
		n, err := c.Recv(got, 0)
		if err != nil || string(got[:n]) != want {
			t.Fatalf("recv: %q, %v; want %q", got[:n], err, want)
		}
	}
	wantCode(t, c.Unreserve(), errs.ErrInvalid, "only the producer end reserves")
	wantCode(t, p.Unpeek(), errs.ErrInvalid, "only the consumer end peeks")
}
