package main

import (
	"os"
	"slices"
	"strings"
	"testing"
)

func parseRepoHeader(t *testing.T) *Header {
	t.Helper()
	src, err := os.ReadFile("../../include/shmlib.h")
	if err != nil {
		t.Fatal(err)
	}
	h, err := Parse(string(src))
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func funcNamed(t *testing.T, h *Header, name string) Func {
	t.Helper()
	for _, f := range h.Funcs {
		if f.Name == name {
			return f
		}
	}
	t.Fatalf("%s not parsed", name)
	return Func{}
}

// TestDocumentedErrors: each function's codes are read from its own
// "Errors:" (or "Returns") paragraph, with the errors of the functions it
// names as "those of" or "as", and nothing from a mere mention.
func TestDocumentedErrors(t *testing.T) {
	h := parseRepoHeader(t)
	cases := []struct {
		fn      string
		has     []string
		hasNone []string
	}{
		// Its own list, and shmlib_attach's errors.
		{"shmlib_chan_open", []string{"SHMLIB_OK", "SHMLIB_EBUSY", "SHMLIB_EEOS", "SHMLIB_ENOENT", "SHMLIB_EACCES"}, []string{"SHMLIB_OPENED"}},
		// shmlib_create's errors, but not its SHMLIB_OPENED, which is no error.
		{"shmlib_chan_create", []string{"SHMLIB_EEXIST", "SHMLIB_ERANGE"}, []string{"SHMLIB_OPENED"}},
		// "Returns" rather than "Errors:".
		{"shmlib_create", []string{"SHMLIB_OPENED", "SHMLIB_EEXIST", "SHMLIB_ENOMEM"}, []string{"SHMLIB_EBUSY"}},
		// Names shmlib_attach() without taking its errors.
		{"shmlib_detach", []string{"SHMLIB_EINVAL", "SHMLIB_ENOTATTACHED"}, []string{"SHMLIB_ENOENT", "SHMLIB_EACCES"}},
		// SHMLIB_FIXED in the text is a flag, not a code.
		{"shmlib_attach", []string{"SHMLIB_EINVAL"}, []string{"SHMLIB_FIXED"}},
		// Never fails.
		{"shmlib_version", []string{"SHMLIB_OK"}, []string{"SHMLIB_EINVAL"}},
	}
	for _, c := range cases {
		codes := funcNamed(t, h, c.fn).Codes
		for _, want := range c.has {
			if !slices.Contains(codes, want) {
				t.Errorf("%s: %v lacks %s", c.fn, codes, want)
			}
		}
		for _, not := range c.hasNone {
			if slices.Contains(codes, not) {
				t.Errorf("%s: %v has %s", c.fn, codes, not)
			}
		}
	}
}

func TestDefinesAndTypes(t *testing.T) {
	h := parseRepoHeader(t)
	for name, want := range map[string]int64{"WAIT_FOREVER": -1, "OPEN_EXISTING": 0x100, "KEY_MAX": 272} {
		if d, ok := h.define(name); !ok || d.Value != want {
			t.Errorf("SHMLIB_%s = %v, want %d", name, d, want)
		}
	}
	d, _ := h.define("VERSION_NUMBER")
	if want := int64(strings.Count(h.Version, ".")); want != 2 || d.Value == 0 {
		t.Errorf("version %q, number %d", h.Version, d.Value)
	}
	peek := funcNamed(t, h, "shmlib_chan_peek")
	if got := []string{peek.Params[2].Type, peek.Params[2].Name}; got[0] != "const void **" || got[1] != "out_ptr" {
		t.Errorf("shmlib_chan_peek's third parameter: %v", got)
	}
	if len(h.Stat) == 0 || h.Stat[0] != (Field{"char", "key", "KEY_MAX"}) {
		t.Errorf("shmlib_stat_t starts with %v", h.Stat[:1])
	}
}

// TestRefusals: what the generator does not understand stops it, naming
// the line, rather than dropping a code or a function.
func TestRefusals(t *testing.T) {
	base := "#define SHMLIB_VERSION_MAJOR 0\n#define SHMLIB_VERSION_MINOR 1\n#define SHMLIB_VERSION_PATCH 0\n" +
		"#define SHMLIB_VERSION_STRING \"0.1.0\"\n" +
		"typedef struct shmlib_stat {\n    uint64_t size;\n} shmlib_stat_t;\n" +
		"/* Never fails. */\nunsigned int shmlib_version(void);\n"
	cases := map[string]string{
		"no strerror text": "#define SHMLIB_EINVAL -1 /* invalid argument */\n",
		"no Go name":       "#define SHMLIB_EINVAL -1 /* \"invalid argument\": bad */\n",
		"a gap":            "#define SHMLIB_EINVAL -1 /* \"a\" (Go ErrA): a */\n#define SHMLIB_EB -3 /* \"b\" (Go ErrB): b */\n",
		"no comment":       "#define SHMLIB_SOMETHING 1\nint shmlib_undocumented(int x);\n",
		"a bad version":    "",
	}
	if _, err := Parse(base); err != nil {
		t.Fatalf("the base header: %v", err)
	}
	for what, extra := range cases {
		src := base + extra
		if what == "a bad version" {
			src = strings.Replace(base, `"0.1.0"`, `"0.2.0"`, 1)
		}
		if _, err := Parse(src); err == nil {
			t.Errorf("%s: parsed without an error", what)
		}
	}
}
