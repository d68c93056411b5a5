package main

import (
	"fmt"
	"strings"
)

// ctypes spellings, by C type.
var ctypesTypes = map[string]string{
	"int": "c_int", "unsigned int": "c_uint", "size_t": "c_size_t",
	"uint32_t": "c_uint32", "int32_t": "c_int32", "uint64_t": "c_uint64", "int64_t": "c_int64",
	"char": "c_char", "shmlib_chan_t": "chan_t", "shmlib_stat_t": "Stat",
	"const char *": "c_char_p", "char *": "POINTER(c_char)",
	"void *": "c_void_p", "const void *": "c_void_p",
	"void **": "POINTER(c_void_p)", "const void **": "POINTER(c_void_p)",
}

func ctype(t string) (string, error) {
	if s, ok := ctypesTypes[t]; ok {
		return s, nil
	}
	if strings.HasSuffix(t, " *") {
		inner, err := ctype(strings.TrimPrefix(strings.TrimSuffix(t, " *"), "const "))
		return "POINTER(" + inner + ")", err
	}
	return "", fmt.Errorf("no ctypes type for %q: add it to ctypesTypes", t)
}

// genPython: every constant, shmlib_stat_t and every prototype, for _ffi.
func genPython(h *Header, _ *Tree) ([]byte, error) {
	var b strings.Builder
	fmt.Fprintln(&b, header("#"))
	b.WriteString(`"""include/shmlib.h for ctypes: its constants (without the SHMLIB_
prefix), shmlib_stat_t, and the (restype, argtypes) of every function."""

import ctypes
from ctypes import (POINTER, c_char, c_char_p, c_int, c_int32, c_int64,  # noqa: F401
                    c_size_t, c_uint, c_uint32, c_uint64, c_void_p)

`)
	for _, d := range h.Defines {
		line := ""
		if d.IsStr {
			line = fmt.Sprintf("%s = %q", d.Name, d.String)
		} else if d.Hex {
			line = fmt.Sprintf("%s = 0x%x", d.Name, d.Value)
		} else {
			line = fmt.Sprintf("%s = %d", d.Name, d.Value)
		}
		if d.Comment != "" {
			line += "  # " + d.Comment
		}
		b.WriteString(line + "\n")
	}
	b.WriteString("\nchan_t = c_uint64  # shmlib_chan_t\n\n\nclass Stat(ctypes.Structure):\n    \"\"\"shmlib_stat_t, field for field.\"\"\"\n\n    _fields_ = [\n")
	for _, f := range h.Stat {
		t, err := ctype(f.Type)
		if err != nil {
			return nil, err
		}
		if f.Len != "" {
			t += " * " + f.Len
		}
		fmt.Fprintf(&b, "        (%q, %s),\n", f.Name, t)
	}
	b.WriteString("    ]\n\n\n# (restype, argtypes) of every function, in the header's order.\nPROTOTYPES = {\n")
	for _, f := range h.Funcs {
		ret, err := ctype(f.Ret)
		if err != nil {
			return nil, err
		}
		var args []string
		for _, p := range f.Params {
			a, err := ctype(p.Type)
			if err != nil {
				return nil, fmt.Errorf("%s: %v", f.Name, err)
			}
			args = append(args, a)
		}
		fmt.Fprintf(&b, "    %q: (%s, [%s]),\n", f.Name, ret, strings.Join(args, ", "))
	}
	b.WriteString("}\n")
	return []byte(b.String()), nil
}
