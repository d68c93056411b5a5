package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// Tree is what the generator reads of capi/'s hand-written C: the public
// functions written there by hand (they get no forwarder), and the data
// plane's C implementations (libshm_NAME in a capi/*.h), which a forwarder
// calls instead of Go.
type Tree struct {
	handWritten map[string]bool   // shmlib_version, shmlib_last_error, ...
	inC         map[string]string // shmlib_chan_send -> chan.h, where libshm_chan_send is declared
}

var (
	definedRE  = regexp.MustCompile(`(?m)^[a-z][\w ]*[ *](shmlib_\w+)\([^;{]*\)\s*\{`)
	declaredRE = regexp.MustCompile(`(?m)^[a-z][\w ]*[ *]libshm_(\w+)\(`)
)

func readTree(root string) (*Tree, error) {
	t := &Tree{handWritten: map[string]bool{}, inC: map[string]string{}}
	files, err := filepath.Glob(filepath.Join(root, "capi", "*.[ch]"))
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		if strings.HasSuffix(f, "_gen.c") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		if strings.HasSuffix(f, ".c") {
			for _, m := range definedRE.FindAllStringSubmatch(string(src), -1) {
				t.handWritten[m[1]] = true
			}
		} else {
			for _, m := range declaredRE.FindAllStringSubmatch(string(src), -1) {
				t.inC["shmlib_"+m[1]] = filepath.Base(f)
			}
		}
	}
	return t, nil
}

// How a call into Go treats the host's signals (capi/guard.h), where the
// parameters do not say: LIBSHM_GO_BRIEF unless named here, and a call
// with a timeout_ns may wait (LIBSHM_GO_MAY_WAIT).
var goCallKind = map[string]string{
	"shmlib_chan_max_message": "LIBSHM_GO_INSTANT",
	"shmlib_memfd_recv":       "LIBSHM_GO_MAY_WAIT",
}

// A low pointer is refused with SHMLIB_EFAULT, except where an argument
// that is not a valid pointer has a code of its own.
var lowPointerCode = map[string][2]string{
	"shmlib_detach": {"SHMLIB_ENOTATTACHED", "not the address of a live mapping made by shmlib_attach"},
}

func genForwarders(h *Header, t *Tree) ([]byte, error) {
	var b strings.Builder
	fmt.Fprintln(&b, header("/*"), "*/")
	b.WriteString(`
/*
 * The public shmlib_* functions that capi/ does not write by hand: each
 * refuses to run in a child forked without exec (GUARD) and refuses
 * pointers below 4096 (POINTERS: see capi/guard.h), then calls the data
 * plane's C implementation (libshm_NAME) if capi/ has one, or else the Go
 * export shmlib_go_NAME through INTO_GO. Pointer checks come from the
 * parameter types: every pointer, but a buffer (void *) only when its
 * length is not 0, and an address hint (*_hint) never. And
 * shmlib_strerror, from the codes' comments.
 */
#include <stdint.h>

#include "shmlib.h"
#include "_cgo_export.h"
#include "guard.h"
`)
	for _, f := range t.headers(h) {
		fmt.Fprintf(&b, "#include %q\n", f)
	}
	b.WriteString("\nconst char *shmlib_strerror(int code)\n{\n    switch (code) {\n")
	for _, c := range h.Codes {
		fmt.Fprintf(&b, "    case %s: return %q;\n", c.Name, c.Text)
	}
	b.WriteString("    }\n    return \"unknown error code\";\n}\n")
	for _, f := range h.Funcs {
		if t.handWritten[f.Name] || f.Name == "shmlib_strerror" {
			continue
		}
		if f.Ret != "int" {
			return nil, fmt.Errorf("%s returns %s: only int functions are forwarded; write it in capi/ by hand", f.Name, f.Ret)
		}
		b.WriteString("\n" + forwarder(f, t.inC[f.Name] != ""))
	}
	return []byte(b.String()), nil
}

// headers are the capi/*.h files that declare C implementations.
func (t *Tree) headers(h *Header) []string {
	seen := map[string]bool{}
	var out []string
	for _, f := range h.Funcs {
		if file := t.inC[f.Name]; file != "" && !seen[file] {
			seen[file] = true
			out = append(out, file)
		}
	}
	sort.Strings(out)
	return out
}

func forwarder(f Func, inC bool) string {
	op := strings.TrimPrefix(f.Name, "shmlib_")
	var b strings.Builder
	var decl, args, low []string
	kind := "LIBSHM_GO_BRIEF"
	if k, ok := goCallKind[f.Name]; ok {
		kind = k
	}
	for i, p := range f.Params {
		decl = append(decl, cDecl(p))
		arg := p.Name
		ptr := strings.HasSuffix(p.Type, "*")
		switch {
		case strings.HasSuffix(p.Name, "_hint"):
			if !inC {
				arg = "(uintptr_t)" + p.Name
			}
			ptr = false
		case !inC && strings.HasPrefix(p.Type, "const ") && ptr:
			arg = "(" + strings.TrimPrefix(p.Type, "const ") + ")" + p.Name
		}
		if p.Name == "timeout_ns" {
			kind = "LIBSHM_GO_MAY_WAIT"
		}
		args = append(args, arg)
		if !ptr {
			continue
		}
		check := "low(" + p.Name + ")"
		if strings.TrimPrefix(p.Type, "const ") == "void *" && i+1 < len(f.Params) && f.Params[i+1].Type == "size_t" {
			check = "(" + f.Params[i+1].Name + " > 0 && " + check + ")"
		}
		low = append(low, check)
	}
	fmt.Fprintf(&b, "%s %s(%s)\n{\n", f.Ret, f.Name, strings.Join(decl, ", "))
	fmt.Fprintf(&b, "    GUARD(%q);\n", op)
	if c, ok := lowPointerCode[f.Name]; ok {
		fmt.Fprintf(&b, "    if (%s)\n        return libshm_refuse_low(%q, %s, %q);\n", strings.Join(low, " || "), op, c[0], c[1])
	} else if len(low) > 0 {
		fmt.Fprintf(&b, "    POINTERS(%q, %s);\n", op, strings.Join(low, " || "))
	}
	if inC {
		fmt.Fprintf(&b, "    return libshm_%s(%s);\n}\n", op, strings.Join(args, ", "))
	} else {
		fmt.Fprintf(&b, "    return INTO_GO(%s, shmlib_go_%s(%s));\n}\n", kind, op, strings.Join(args, ", "))
	}
	return b.String()
}

// cDecl writes a parameter back as C: "const char *key", "size_t len".
func cDecl(p Param) string {
	if strings.HasSuffix(p.Type, "*") {
		return p.Type + p.Name
	}
	return p.Type + " " + p.Name
}

func genExportMap(h *Header, _ *Tree) ([]byte, error) {
	var b strings.Builder
	fmt.Fprintln(&b, header("/*"), "*/")
	b.WriteString("/* Only the functions of include/shmlib.h leave the library; Go's own\n" +
		" * symbols and the shmlib_go_* forwarders stay inside. */\n{\n  global:\n")
	for _, f := range h.Funcs {
		fmt.Fprintf(&b, "    %s;\n", f.Name)
	}
	b.WriteString("  local:\n    *;\n};\n")
	return []byte(b.String()), nil
}
