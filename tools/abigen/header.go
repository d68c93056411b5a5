package main

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Header is what include/shmlib.h says, as the mirrors need it.
type Header struct {
	Defines []Define // every #define SHMLIB_* with an integer or string value, in order
	Codes   []Code   // SHMLIB_OK, SHMLIB_E*, SHMLIB_OPENED, by value, highest first
	Funcs   []Func   // every shmlib_* function, in order
	Stat    []Field  // shmlib_stat_t's fields, in order
	Version string   // SHMLIB_VERSION_STRING, checked against MAJOR.MINOR.PATCH
}

// Define is one #define SHMLIB_NAME VALUE /* comment */.
type Define struct {
	Name    string // without SHMLIB_
	Value   int64
	String  string // for a string literal; Value is then unused
	IsStr   bool
	Hex     bool   // written in hex (flags)
	Comment string // one line, "" if none
}

// Code is a return code: its value, its shmlib_strerror text and the name
// the Go binding gives it (none for SHMLIB_OK and SHMLIB_OPENED).
type Code struct {
	Name   string // SHMLIB_ENOENT
	Value  int64
	Text   string // "no such segment"
	GoName string // ErrNotExist
	Doc    string // what it means
}

// Func is one prototype and the codes its comment documents.
type Func struct {
	Name   string // shmlib_attach
	Ret    string // int, unsigned int, const char *
	Params []Param
	Doc    string
	Codes  []string // documented return codes (SHMLIB_OK first), for int functions
}

// Param is one parameter: its C type, normalised ("const char *"), and name.
type Param struct{ Type, Name string }

// Field is one field of shmlib_stat_t: a C type, a name, and an array
// length (a number or a SHMLIB_ constant's name; "" if not an array).
type Field struct{ Type, Name, Len string }

var (
	protoRE   = regexp.MustCompile(`(?m)^((?:const\s+)?(?:unsigned\s+)?\w+[\s*]*?)\b(shmlib_\w+)\(([^)]*)\);`)
	codeRE    = regexp.MustCompile(`^"([^"]+)"(?: \(Go (\w+)\))?:?\s*(.*)$`)
	nameRE    = regexp.MustCompile(`SHMLIB_[A-Z0-9_]+`)
	inheritRE = regexp.MustCompile(`(?:those of|as) (shmlib_\w+)`)
	fieldRE   = regexp.MustCompile(`^\s*([a-z0-9_]+)\s+(\w+)(?:\[(\w+)\])?;`)
)

// Parse reads the header's text. Anything it cannot read is an error that
// names the line, so a change to the header that the generator does not
// understand stops it instead of dropping something.
func Parse(src string) (*Header, error) {
	h := &Header{}
	if err := h.parseDefines(src); err != nil {
		return nil, err
	}
	if err := h.parseFuncs(src); err != nil {
		return nil, err
	}
	if err := h.parseStat(src); err != nil {
		return nil, err
	}
	return h, h.checkVersion()
}

// define returns the value of the define SHMLIB_name.
func (h *Header) define(name string) (Define, bool) {
	for _, d := range h.Defines {
		if d.Name == name {
			return d, true
		}
	}
	return Define{}, false
}

func (h *Header) parseDefines(src string) error {
	lines := strings.Split(src, "\n")
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		if !strings.HasPrefix(line, "#define SHMLIB_") {
			continue
		}
		// Join continued lines, and a comment that runs on.
		for strings.HasSuffix(line, "\\") && i+1 < len(lines) {
			i++
			line = strings.TrimSuffix(line, "\\") + " " + strings.TrimSpace(lines[i])
		}
		for strings.Count(line, "/*") > strings.Count(line, "*/") && i+1 < len(lines) {
			i++
			line += " " + strings.TrimSpace(lines[i])
		}
		body, comment := line, ""
		if j := strings.Index(line, "/*"); j >= 0 {
			body = line[:j]
			comment = strings.Join(strings.Fields(strings.TrimSuffix(strings.TrimSpace(line[j+2:]), "*/")), " ")
		}
		fields := strings.Fields(body)
		name := strings.TrimPrefix(fields[1], "SHMLIB_")
		if len(fields) < 3 || name == "H" {
			continue // the include guard
		}
		expr := strings.Join(fields[2:], " ")
		d := Define{Name: name, Comment: comment, Hex: strings.HasPrefix(expr, "0x")}
		if strings.HasPrefix(expr, `"`) {
			s, err := strconv.Unquote(expr)
			if err != nil {
				return fmt.Errorf("include/shmlib.h: SHMLIB_%s: %v", name, err)
			}
			d.String, d.IsStr = s, true
		} else {
			v, err := h.eval(expr)
			if err != nil {
				return fmt.Errorf("include/shmlib.h: SHMLIB_%s %s: %v", name, expr, err)
			}
			d.Value = v
		}
		h.Defines = append(h.Defines, d)
		// The codes: SHMLIB_OK, SHMLIB_OPENED, and SHMLIB_E followed by
		// letters alone (SHMLIB_ERROR_MAX is a size, not a code).
		if name == "OK" || name == "OPENED" || (strings.HasPrefix(name, "E") && !strings.Contains(name, "_") && !d.IsStr) {
			m := codeRE.FindStringSubmatch(comment)
			if m == nil {
				return fmt.Errorf(`include/shmlib.h: SHMLIB_%s: its comment must start with its strerror text in quotes, e.g. /* "no such segment" (Go ErrNotExist): ... */`, name)
			}
			if d.Value < 0 && m[2] == "" {
				return fmt.Errorf("include/shmlib.h: SHMLIB_%s: its comment does not say its Go name, (Go ErrSomething)", name)
			}
			h.Codes = append(h.Codes, Code{Name: "SHMLIB_" + name, Value: d.Value, Text: m[1], GoName: m[2], Doc: m[3]})
		}
	}
	sort.SliceStable(h.Codes, func(a, b int) bool { return h.Codes[a].Value > h.Codes[b].Value })
	for i, c := range h.errorCodes() {
		if c.Value != int64(-1-i) {
			return fmt.Errorf("include/shmlib.h: the error codes must run -1, -2, ... without a gap; %s is %d", c.Name, c.Value)
		}
	}
	return nil
}

// errorCodes are the negative codes, -1 first.
func (h *Header) errorCodes() []Code {
	var out []Code
	for _, c := range h.Codes {
		if c.Value < 0 {
			out = append(out, c)
		}
	}
	return out
}

func (h *Header) isCode(name string) bool {
	for _, c := range h.Codes {
		if c.Name == name {
			return true
		}
	}
	return false
}

// eval computes an integer #define: literals (decimal, hex, with a u
// suffix), casts, parentheses, other SHMLIB_ names, + and *.
func (h *Header) eval(expr string) (int64, error) {
	expr = regexp.MustCompile(`\((?:u?int\d+_t|unsigned|int|size_t)\)`).ReplaceAllString(expr, "")
	p := &exprParser{toks: regexp.MustCompile(`0[xX][0-9a-fA-F]+[uU]?|\d+[uU]?|\w+|[-+*()]`).FindAllString(expr, -1), h: h}
	v, err := p.sum()
	if err == nil && p.i != len(p.toks) {
		err = fmt.Errorf("cannot read %q", strings.Join(p.toks[p.i:], " "))
	}
	return v, err
}

type exprParser struct {
	toks []string
	i    int
	h    *Header
}

func (p *exprParser) sum() (int64, error) {
	v, err := p.product()
	for err == nil && p.i < len(p.toks) && (p.toks[p.i] == "+" || p.toks[p.i] == "-") {
		op := p.toks[p.i]
		p.i++
		var w int64
		if w, err = p.product(); op == "+" {
			v += w
		} else {
			v -= w
		}
	}
	return v, err
}

func (p *exprParser) product() (int64, error) {
	v, err := p.unary()
	for err == nil && p.i < len(p.toks) && p.toks[p.i] == "*" {
		p.i++
		var w int64
		w, err = p.unary()
		v *= w
	}
	return v, err
}

func (p *exprParser) unary() (int64, error) {
	if p.i >= len(p.toks) {
		return 0, fmt.Errorf("expression ends early")
	}
	t := p.toks[p.i]
	p.i++
	switch {
	case t == "-":
		v, err := p.unary()
		return -v, err
	case t == "(":
		v, err := p.sum()
		if err == nil && (p.i >= len(p.toks) || p.toks[p.i] != ")") {
			err = fmt.Errorf("missing )")
		}
		p.i++
		return v, err
	case strings.HasPrefix(t, "SHMLIB_"):
		d, ok := p.h.define(strings.TrimPrefix(t, "SHMLIB_"))
		if !ok || d.IsStr {
			return 0, fmt.Errorf("%s is not an integer defined before", t)
		}
		return d.Value, nil
	}
	return strconv.ParseInt(strings.TrimRight(t, "uU"), 0, 64)
}

func (h *Header) parseFuncs(src string) error {
	prevEnd := -1
	for _, m := range protoRE.FindAllStringSubmatchIndex(src, -1) {
		f := Func{Name: src[m[4]:m[5]], Ret: normType(src[m[2]:m[3]])}
		if params := strings.TrimSpace(src[m[6]:m[7]]); params != "void" {
			for _, p := range strings.Split(params, ",") {
				p = strings.Join(strings.Fields(p), " ")
				k := strings.LastIndexAny(p, " *")
				if k < 0 {
					return fmt.Errorf("include/shmlib.h: %s: parameter %q has no name", f.Name, p)
				}
				f.Params = append(f.Params, Param{Type: normType(p[:k+1]), Name: p[k+1:]})
			}
		}
		f.Doc = docBefore(src[:m[0]])
		if f.Doc == "" && prevEnd >= 0 && strings.TrimSpace(src[prevEnd:m[0]]) == "" {
			f.Doc = h.Funcs[len(h.Funcs)-1].Doc // prototypes that share one comment
		}
		if f.Doc == "" {
			return fmt.Errorf("include/shmlib.h: %s has no comment before it", f.Name)
		}
		h.Funcs = append(h.Funcs, f)
		prevEnd = m[1]
	}
	if len(h.Funcs) == 0 {
		return fmt.Errorf("include/shmlib.h: no shmlib_ functions found")
	}
	for i := range h.Funcs {
		codes, err := h.documented(h.Funcs[i].Name, 0)
		if err != nil {
			return err
		}
		h.Funcs[i].Codes = codes
	}
	return nil
}

// normType writes a C type with single spaces and its stars last:
// "const char *", "void **", "uint64_t".
func normType(t string) string {
	stars := strings.Count(t, "*")
	base := strings.Join(strings.Fields(strings.ReplaceAll(t, "*", " ")), " ")
	if stars == 0 {
		return base
	}
	return base + " " + strings.Repeat("*", stars)
}

// docBefore is the text of the block comment that ends right before a
// prototype, without its frame.
func docBefore(src string) string {
	src = strings.TrimRight(src, " \t\n")
	if !strings.HasSuffix(src, "*/") {
		return ""
	}
	start := strings.LastIndex(src, "/*")
	var lines []string
	for _, l := range strings.Split(src[start+2:len(src)-2], "\n") {
		l = strings.TrimSpace(l)
		l = strings.TrimSpace(strings.TrimPrefix(l, "*"))
		lines = append(lines, l)
	}
	return strings.TrimSpace(strings.Join(lines, "\n"))
}

// documented is what a function's comment says it returns: SHMLIB_OK (for
// an int function), and the codes named from its "Errors:" (or else its
// "Returns") paragraph to the end of the comment, with the error codes of
// any function it refers to ("those of shmlib_create", "as
// shmlib_chan_send").
func (h *Header) documented(name string, depth int) ([]string, error) {
	var f *Func
	for i := range h.Funcs {
		if h.Funcs[i].Name == name {
			f = &h.Funcs[i]
		}
	}
	if f == nil || depth > 5 {
		return nil, fmt.Errorf("include/shmlib.h: errors refer to %s, which is not declared (or refers back)", name)
	}
	if f.Ret != "int" {
		return []string{"SHMLIB_OK"}, nil
	}
	set := map[string]bool{"SHMLIB_OK": true}
	section := ""
	if i := strings.LastIndex(f.Doc, "Errors:"); i >= 0 {
		section = f.Doc[i:]
	} else if i := strings.Index(f.Doc, "Returns "); i >= 0 {
		section = f.Doc[i:]
	}
	for _, n := range nameRE.FindAllString(section, -1) {
		if h.isCode(n) {
			set[n] = true
		}
	}
	for _, m := range inheritRE.FindAllStringSubmatch(section, -1) {
		inherited, err := h.documented(m[1], depth+1)
		if err != nil {
			return nil, err
		}
		for _, n := range inherited {
			if d, _ := h.define(strings.TrimPrefix(n, "SHMLIB_")); d.Value < 0 {
				set[n] = true
			}
		}
	}
	var out []string
	for _, c := range h.Codes {
		if set[c.Name] {
			out = append(out, c.Name)
		}
	}
	return out, nil
}

func (h *Header) parseStat(src string) error {
	start := strings.Index(src, "typedef struct shmlib_stat {")
	end := strings.Index(src, "} shmlib_stat_t;")
	if start < 0 || end < start {
		return fmt.Errorf("include/shmlib.h: typedef struct shmlib_stat { ... } shmlib_stat_t; not found")
	}
	body := regexp.MustCompile(`(?s)/\*.*?\*/`).ReplaceAllString(src[start:end], "")
	for _, line := range strings.Split(body, "\n")[1:] {
		if strings.TrimSpace(line) == "" {
			continue
		}
		m := fieldRE.FindStringSubmatch(line)
		if m == nil {
			return fmt.Errorf("include/shmlib.h: shmlib_stat_t: cannot read field %q", strings.TrimSpace(line))
		}
		h.Stat = append(h.Stat, Field{Type: m[1], Name: m[2], Len: strings.TrimPrefix(m[3], "SHMLIB_")})
	}
	return nil
}

func (h *Header) checkVersion() error {
	var parts [3]int64
	for i, n := range []string{"VERSION_MAJOR", "VERSION_MINOR", "VERSION_PATCH"} {
		d, ok := h.define(n)
		if !ok {
			return fmt.Errorf("include/shmlib.h: SHMLIB_%s is missing", n)
		}
		parts[i] = d.Value
	}
	s, ok := h.define("VERSION_STRING")
	want := fmt.Sprintf("%d.%d.%d", parts[0], parts[1], parts[2])
	if !ok || s.String != want {
		return fmt.Errorf("include/shmlib.h: SHMLIB_VERSION_STRING is %q, MAJOR.MINOR.PATCH say %q", s.String, want)
	}
	h.Version = want
	return nil
}
