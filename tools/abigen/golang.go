package main

import (
	"fmt"
	"go/format"
	"strings"
)

func gofmt(b *strings.Builder) ([]byte, error) {
	out, err := format.Source([]byte(b.String()))
	if err != nil {
		return nil, fmt.Errorf("gofmt: %v\n%s", err, b.String())
	}
	return out, nil
}

// genGoCodes: the core's Code constants, whose values the C boundary passes
// through unchanged, and their shmlib_strerror texts.
func genGoCodes(h *Header, _ *Tree) ([]byte, error) {
	var b strings.Builder
	fmt.Fprintln(&b, header("//"))
	b.WriteString("\npackage errs\n\n// The SHMLIB_E* codes of include/shmlib.h.\nconst (\n")
	for _, c := range h.errorCodes() {
		fmt.Fprintf(&b, "\t%s Code = %d // %s: %s\n", c.GoName, c.Value, c.Name, c.Doc)
	}
	b.WriteString(")\n\n// Error gives the same short text as shmlib_strerror.\nfunc (c Code) Error() string {\n\tswitch c {\n")
	for _, c := range h.errorCodes() {
		fmt.Fprintf(&b, "\tcase %s:\n\t\treturn %q\n", c.GoName, c.Text)
	}
	b.WriteString("\t}\n\treturn \"unknown error code\"\n}\n")
	return gofmt(&b)
}

func genGoVersion(h *Header, _ *Tree) ([]byte, error) {
	d, _ := h.define("VERSION_NUMBER")
	var b strings.Builder
	fmt.Fprintln(&b, header("//"))
	fmt.Fprintf(&b, "\npackage segment\n\n// The version of include/shmlib.h, SHMLIB_VERSION_STRING and\n"+
		"// SHMLIB_VERSION_NUMBER (major*10000 + minor*100 + patch).\nconst (\n\tVersion = %q\n\tVersionNumber = %d\n)\n",
		h.Version, d.Value)
	return gofmt(&b)
}

// genGoBindingCodes: the Go binding's names for the codes, the core's.
func genGoBindingCodes(h *Header, _ *Tree) ([]byte, error) {
	var b strings.Builder
	fmt.Fprintln(&b, header("//"))
	b.WriteString("\npackage shmlib\n\nimport \"github.com/libshm/libshm/internal/errs\"\n\n" +
		"// The codes, for errors.Is(err, shmlib.ErrNotExist) and for Error.Code.\nconst (\n")
	for _, c := range h.errorCodes() {
		fmt.Fprintf(&b, "\t%s = errs.%s // %s: %s\n", c.GoName, c.GoName, c.Name, c.Doc)
	}
	b.WriteString(")\n")
	return gofmt(&b)
}

// Go types of the purego binding, by C type; a pointer to any of the
// value types is a pointer to its Go type (puregoType).
var puregoTypes = map[string]string{
	"int": "int32", "unsigned int": "uint32", "size_t": "uintptr", "uint32_t": "uint32",
	"int32_t": "int32", "uint64_t": "uint64", "int64_t": "int64", "shmlib_chan_t": "uint64",
	"shmlib_stat_t": "Stat",
	"const char *":  "string", "char *": "*byte",
	"void *": "unsafe.Pointer", "const void *": "unsafe.Pointer",
	"void **": "*unsafe.Pointer", "const void **": "*unsafe.Pointer",
}

func puregoType(t string) (string, bool) {
	if g, ok := puregoTypes[t]; ok {
		return g, true
	}
	if base, ok := strings.CutSuffix(strings.TrimPrefix(t, "const "), " *"); ok {
		if g, ok := puregoTypes[base]; ok && !strings.HasSuffix(base, "*") {
			return "*" + g, true
		}
	}
	return "", false
}

// camel turns snake_case into camelCase (or CamelCase, upper).
func camel(s string, upper bool) string {
	var b strings.Builder
	for i, w := range strings.Split(strings.ToLower(s), "_") {
		if w == "" {
			continue
		}
		if i > 0 || upper {
			w = strings.ToUpper(w[:1]) + w[1:]
		}
		b.WriteString(w)
	}
	return b.String()
}

// genShmso: the purego binding's constants and one field per function.
func genShmso(h *Header, _ *Tree) ([]byte, error) {
	var b strings.Builder
	fmt.Fprintln(&b, header("//"))
	b.WriteString("\npackage shmso\n\nIMPORTS// The integer constants of include/shmlib.h, SHMLIB_KEY_MAX as KeyMax.\nconst (\n")
	for _, d := range h.Defines {
		if !d.IsStr {
			fmt.Fprintf(&b, "\t%s = %d\n", camel(d.Name, true), d.Value)
		}
	}
	b.WriteString(")\n\n// Codes names every return code of the header, by value.\nvar Codes = map[int]string{\n")
	for _, c := range h.Codes {
		fmt.Fprintf(&b, "\t%d: %q,\n", c.Value, c.Name)
	}
	b.WriteString("}\n\n// functions holds one field per function of the header.\ntype functions struct {\n")
	for _, f := range h.Funcs {
		var params []string
		for _, p := range f.Params {
			t, ok := puregoType(p.Type)
			if !ok {
				return nil, fmt.Errorf("%s: no Go type for %q: add it to puregoTypes", f.Name, p.Type)
			}
			params = append(params, t)
		}
		ret, ok := puregoType(f.Ret)
		if !ok {
			return nil, fmt.Errorf("%s: no Go type for %q", f.Name, f.Ret)
		}
		fmt.Fprintf(&b, "\t%s func(%s) %s\n", camel(strings.TrimPrefix(f.Name, "shmlib_"), false), strings.Join(params, ", "), ret)
	}
	b.WriteString("}\n\n// table maps each function's name to its field.\nfunc (f *functions) table() map[string]any {\n\treturn map[string]any{\n")
	for _, f := range h.Funcs {
		fmt.Fprintf(&b, "\t\t%q: &f.%s,\n", f.Name, camel(strings.TrimPrefix(f.Name, "shmlib_"), false))
	}
	b.WriteString("\t}\n}\n")
	imports := ""
	if strings.Contains(b.String(), "unsafe.") {
		imports = "import \"unsafe\"\n\n"
	}
	src := strings.Replace(b.String(), "IMPORTS", imports, 1)
	b.Reset()
	b.WriteString(src)
	return gofmt(&b)
}
