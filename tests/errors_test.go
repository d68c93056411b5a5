package tests

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/libshm/libshm/internal/errs"
	"github.com/libshm/libshm/internal/segment"
	"github.com/libshm/libshm/tests/internal/shmso"
)

// TestErrorsCrossIntact: the same bad call made from Go (purego), C and
// Python fails with the same code and the same message, and both are what
// the Go core itself says for that call: nothing is lost or changed at the
// C boundary or in a binding.
func TestErrorsCrossIntact(t *testing.T) {
	t.Parallel()
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			missing := newKey(t, backend) // never created
			unmade := newKey(t, backend)  // a create of 0 bytes makes nothing
			malformed := map[string]string{"posix": "posix:/a/b", "sysv": "sysv:key=banana"}[backend]

			_, errMalformed := segment.Attach(malformed, segment.AttachOptions{})
			_, errMissing := segment.Attach(missing, segment.AttachOptions{})
			errDestroy := segment.Destroy(missing)
			_, errStat := segment.Stat(missing)
			_, errZero := segment.Create(unmade, 0, segment.CreateOptions{})
			if want := "attach " + missing + ": no such segment"; errMissing == nil || errMissing.Error() != want {
				t.Fatalf("core: %v, want %q", errMissing, want)
			}
			for _, c := range []struct {
				words []any
				core  error
			}{
				{[]any{"attach", malformed}, errMalformed},
				{[]any{"attach", missing}, errMissing},
				{[]any{"destroy", missing}, errDestroy},
				{[]any{"stat", missing}, errStat},
				{[]any{"create", unmade, 0}, errZero},
			} {
				for _, l := range langs {
					p := start(t, l, c.words...)
					code, msg := failure(p)
					if want := int(errs.CodeOf(c.core)); code != want || msg != c.core.Error() {
						p.fatalf("got code %d %q, want %d %q (the core's)", code, msg, want, c.core.Error())
					}
				}
			}
		})
	}
}

// addr matches an address in a message: each process maps at its own.
var addr = regexp.MustCompile(`0x[0-9a-f]+`)

// TestDoubleDetach: detaching a mapping twice fails with
// SHMLIB_ENOTATTACHED and the core's message, the address aside, in Go and
// C. Python says the same code, in its own words: its Segment refuses
// before calling the library, because the address of a detached mapping
// may meanwhile belong to a new one, which a second shmlib_detach would
// tear down.
func TestDoubleDetach(t *testing.T) {
	t.Parallel()
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			key := newKey(t, backend)
			if _, err := segment.Create(key, 4096, segment.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			m, err := segment.Attach(key, segment.AttachOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if err := segment.Detach(m.Addr); err != nil {
				t.Fatal(err)
			}
			core := segment.Detach(m.Addr)
			if !errors.Is(core, errs.ErrNotAttached) {
				t.Fatalf("core: second detach: %v, want ErrNotAttached", core)
			}
			for _, l := range langs {
				p := start(t, l, "attach", key, "detach", "detach").expect("attached 4096", "detached")
				code, msg := failure(p)
				if code != int(errs.ErrNotAttached) {
					p.fatalf("code %d, want %d", code, errs.ErrNotAttached)
				}
				if l != pyPeer && addr.ReplaceAllString(msg, "ADDR") != addr.ReplaceAllString(core.Error(), "ADDR") {
					p.fatalf("message %q, want %q (the core's, address aside)", msg, core.Error())
				}
			}
		})
	}
}

// failure reads a peer's "error CODE MESSAGE" line and checks that it
// ended there, with the protocol's status 3.
func failure(p *proc) (int, string) {
	p.t.Helper()
	line := p.line()
	fields := strings.SplitN(line, " ", 3)
	if len(fields) != 3 || fields[0] != "error" {
		p.fatalf("printed %q, want an error line", line)
	}
	code, err := strconv.Atoi(fields[1])
	if err != nil {
		p.fatalf("error line %q: %v", line, err)
	}
	p.endWith(3)
	return code, fields[2]
}

// TestStrerror: in every language, shmlib_strerror gives the Go core's
// text for every SHMLIB_E* code of the header, and "unknown error code",
// as the header promises, for codes it does not define. For SHMLIB_OK and
// SHMLIB_OPENED, which are not failures and have no text in the core, the
// languages agree among themselves.
func TestStrerror(t *testing.T) {
	t.Parallel()
	codes := shmso.Codes // generated from the header
	lowest, highest := 0, 0
	for code := range codes {
		lowest, highest = min(lowest, code), max(highest, code)
	}
	var words []any
	var asked []int
	for code := lowest - 1; code <= highest+1; code++ {
		words = append(words, "strerror", code)
		asked = append(asked, code)
	}
	texts := map[int]string{} // the first language's, for codes 0 and 1
	for _, l := range langs {
		p := start(t, l, words...)
		for _, code := range asked {
			prefix := fmt.Sprintf("strerror %d ", code)
			line := p.line()
			text, ok := strings.CutPrefix(line, prefix)
			if !ok {
				p.fatalf("printed %q, want %q...", line, prefix)
			}
			var want string
			switch name, known := codes[code]; {
			case !known:
				want = "unknown error code"
			case strings.HasPrefix(name, "SHMLIB_E"):
				want = errs.Code(code).Error()
			default:
				if _, seen := texts[code]; !seen {
					texts[code] = text
				}
				want = texts[code]
			}
			if text != want {
				p.fatalf("strerror(%d) = %q, want %q", code, text, want)
			}
		}
		p.end()
	}
}
