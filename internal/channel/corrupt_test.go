package channel

import (
	"testing"
	"unsafe"

	"github.com/libshm/libshm/internal/errs"
	"github.com/libshm/libshm/internal/segment"
)

func uintptrOf(b []byte) uintptr { return uintptr(unsafe.Pointer(unsafe.SliceData(b))) }

// scribble writes v at off of the channel's segment through a mapping of
// its own, as a hostile or buggy process attached to it would.
func scribble(t *testing.T, key string, off uintptr, v uint64, width int) {
	t.Helper()
	m, err := segment.Attach(key, segment.AttachOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer segment.Detach(m.Addr)
	p := unsafe.Add(m.Addr, off)
	if width == 4 {
		*(*uint32)(p) = uint32(v)
	} else {
		*(*uint64)(p) = v
	}
}

func TestCorruptionIsReportedNotFollowed(t *testing.T) {
	cases := []struct {
		name  string
		off   uintptr
		v     uint64
		width int
		frag  string
	}{
		{"tail far ahead", offTail, 1 << 40, 8, "tail"},
		{"tail behind head", offTail, 0, 8, "tail 0 does not fit head"},
		{"record longer than the limit", dataOffset + 32, 1 << 31, 4, "bad record"},
		{"record longer than what was committed", dataOffset + 32, 2000, 4, "bad record"},
		{"unknown record kind", dataOffset + 32 + 4, 7, 4, "kind 7"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			key := newChannel(t, "posix:", 4096)
			p, c := open(t, key, Producer), open(t, key, Consumer)
			for _, m := range []string{"first message!!!", "second"} {
				if err := p.Send([]byte(m), 0); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := c.Recv(make([]byte, 64), 0); err != nil {
				t.Fatal(err)
			}
			scribble(t, key, tc.off, tc.v, tc.width)
			_, err := c.Recv(make([]byte, 4096), 0)
			wantCode(t, err, errs.ErrCorrupt, tc.frag)
		})
	}
	key := newChannel(t, "posix:", 4096)
	scribble(t, key, offCapacity, 1<<20, 8)
	_, err := Open(key, Consumer)
	wantCode(t, err, errs.ErrCorrupt, "does not fit the segment")
	scribble(t, key, offVersion, 99, 4)
	_, err = Open(key, Consumer)
	wantCode(t, err, errs.ErrNotSupported, "version 99")
}
