package keys

import (
	"errors"
	"strings"
	"testing"
)

func TestParseValid(t *testing.T) {
	cases := []struct {
		in, canonical string
		want          Key
	}{
		{"", "posix:", Key{Backend: Posix, Form: Auto}},
		{"posix:", "posix:", Key{Backend: Posix, Form: Auto}},
		{"posix:/frames", "posix:/frames", ForPosix("frames")},
		{"/frames", "posix:/frames", ForPosix("frames")},
		{"posix:/" + strings.Repeat("a", MaxName), "posix:/" + strings.Repeat("a", MaxName), ForPosix(strings.Repeat("a", MaxName))},
		{"posix:/psm_3f2a", "posix:/psm_3f2a", ForPosix("psm_3f2a")},
		{"sysv:", "sysv:", Key{Backend: SysV, Form: Auto}},
		{"sysv:private", "sysv:private", Key{Backend: SysV, Form: Private}},
		{"sysv:key=0x5a01c0de", "sysv:key=0x5a01c0de", ForIPCKey(0x5a01c0de)},
		{"sysv:key=0x5A01C0DE", "sysv:key=0x5a01c0de", ForIPCKey(0x5a01c0de)},
		{"sysv:key=123", "sysv:key=0x0000007b", ForIPCKey(123)},
		{"sysv:key=4294967295", "sysv:key=0xffffffff", ForIPCKey(0xffffffff)},
		{"sysv:id=0", "sysv:id=0", ForID(0)},
		{"sysv:id=131075", "sysv:id=131075", ForID(131075)},
		{"sysv:id=2147483647", "sysv:id=2147483647", ForID(2147483647)},
		{"memfd:", "memfd:", Key{Backend: Memfd, Form: Auto}},
		{"memfd:pid=1234,fd=7,ino=99", "memfd:pid=1234,fd=7,ino=99", ForMemfd(1234, 7, 99)},
		{"memfd:pid=1,fd=0,ino=0", "memfd:pid=1,fd=0,ino=0", ForMemfd(1, 0, 0)},
	}
	for _, c := range cases {
		k, err := Parse(c.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", c.in, err)
			continue
		}
		if k != c.want {
			t.Errorf("Parse(%q) = %+v, want %+v", c.in, k, c.want)
		}
		if got := k.String(); got != c.canonical {
			t.Errorf("Parse(%q).String() = %q, want %q", c.in, got, c.canonical)
		}
	}
}

func TestParseInvalid(t *testing.T) {
	cases := map[string]string{
		"frames":        "starts with",
		"posix:frames":  "one slash",
		"posix:/":       "empty",
		"/":             "empty",
		"posix://x":     "single leading slash",
		"posix:/a/b":    "single leading slash",
		"posix:/.":      "not a usable",
		"posix:/..":     "not a usable",
		"posix:/a\x00b": "NUL",
		"posix:/" + strings.Repeat("a", MaxName+1): "256 bytes long",
		"sysv:key=0":               "IPC_PRIVATE",
		"sysv:key=0x0":             "IPC_PRIVATE",
		"sysv:key=":                "not a 32-bit number",
		"sysv:key=0x":              "not a 32-bit number",
		"sysv:key=zz":              "not a 32-bit number",
		"sysv:key=-1":              "not a 32-bit number",
		"sysv:key=+1":              "not a 32-bit number",
		"sysv:key=0x-1":            "not a 32-bit number",
		"sysv:key=4294967296":      "not a 32-bit number",
		"sysv:key=0x1_0":           "not a 32-bit number",
		"sysv:id=":                 "not a non-negative",
		"sysv:id=-1":               "not a non-negative",
		"sysv:id=abc":              "not a non-negative",
		"sysv:id=2147483648":       "below 2^31",
		"sysv:nope":                "System V key is",
		"memfd:pid=0,fd=3,ino=1":   "not a positive",
		"memfd:pid=12":             "memfd:pid=P,fd=F,ino=I",
		"memfd:pid=12,fd=3":        "memfd:pid=P,fd=F,ino=I",
		"memfd:fd=3,pid=12,ino=1":  "memfd:pid=P,fd=F,ino=I",
		"memfd:pid=12,fd=-1,ino=1": "descriptor",
		"memfd:pid=12,fd=,ino=1":   "descriptor",
		"memfd:pid=x,fd=1,ino=1":   "pid",
		"memfd:pid=1,fd=1,ino=x":   "inode",
		"memfd:pid=1,fd=1,ino=-1":  "inode",
		"bogus:x":                  "starts with",
		"\xff\xfe":                 "starts with",
	}
	for in, wantMsg := range cases {
		_, err := Parse(in)
		if err == nil {
			t.Errorf("Parse(%q) succeeded, want an error", in)
			continue
		}
		if !errors.Is(err, ErrSyntax) {
			t.Errorf("Parse(%q) error %v does not wrap ErrSyntax", in, err)
		}
		if !strings.Contains(err.Error(), wantMsg) {
			t.Errorf("Parse(%q) error %q does not mention %q", in, err, wantMsg)
		}
	}
}

func TestCreateOnly(t *testing.T) {
	for in, want := range map[string]bool{
		"": true, "posix:": true, "sysv:": true, "sysv:private": true, "memfd:": true,
		"posix:/x": false, "sysv:key=1": false, "sysv:id=1": false, "memfd:pid=1,fd=2,ino=3": false,
	} {
		k, err := Parse(in)
		if err != nil {
			t.Fatal(err)
		}
		if k.CreateOnly() != want {
			t.Errorf("Parse(%q).CreateOnly() = %v, want %v", in, !want, want)
		}
	}
}

// FuzzParse: a peer or a user may hand over any bytes as a key. Parse must
// never panic, and whatever it accepts must print to a canonical key that
// parses back to the same thing.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"", "posix:", "posix:/x", "/x", "sysv:", "sysv:private",
		"sysv:key=0x1", "sysv:key=42", "sysv:id=7", "posix:/a/b", "sysv:key=0x", "\xff",
		"memfd:", "memfd:pid=9,fd=3,ino=4"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		k, err := Parse(s)
		if err != nil {
			if !errors.Is(err, ErrSyntax) {
				t.Fatalf("Parse(%q): error %v does not wrap ErrSyntax", s, err)
			}
			return
		}
		again, err := Parse(k.String())
		if err != nil {
			t.Fatalf("Parse(%q) = %+v, whose String %q does not parse: %v", s, k, k.String(), err)
		}
		if again != k {
			t.Fatalf("Parse(%q) = %+v, but its String %q parses to %+v", s, k, k.String(), again)
		}
	})
}

func TestDisplay(t *testing.T) {
	for in, want := range map[string]string{
		"posix:/frames":    "posix:/frames",
		"posix:/été 2":     "posix:/été 2",
		"posix:/a\nb":      `"posix:/a\nb"`,
		"posix:/a\rb":      `"posix:/a\rb"`,
		"posix:/\x1b[2J":   `"posix:/\x1b[2J"`,
		"posix:/\xff":      `"posix:/\xff"`,
		"posix:/a\u2028b":  `"posix:/a\u2028b"`,
		"/tmp/with\ttab":   `"/tmp/with\ttab"`,
		`posix:/"quoted"`:  `posix:/"quoted"`,
		"sysv:key=0x00001": "sysv:key=0x00001",
	} {
		if got := Display(in); got != want {
			t.Errorf("Display(%q) = %s, want %s", in, got, want)
		}
	}
}
