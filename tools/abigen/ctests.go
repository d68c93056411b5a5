package main

import (
	"fmt"
	"strings"
)

// genCTests: for the C tests and the stress programs, the name of each
// code, and the codes each function's comment documents.
func genCTests(h *Header, _ *Tree) ([]byte, error) {
	var b strings.Builder
	fmt.Fprintln(&b, header("/*"), "*/")
	errs := h.errorCodes()
	fmt.Fprintf(&b, `#ifndef LIBSHM_TEST_ABI_H
#define LIBSHM_TEST_ABI_H

#include <limits.h>
#include <stddef.h>
#include <string.h>

#include "shmlib.h"

/* The error codes run from -1 down to ABI_LOWEST_CODE without a gap. */
#define ABI_LOWEST_CODE %s
/* How many functions the header declares. */
#define ABI_FUNCTIONS %d

/* The SHMLIB_* name of a return code, NULL for a value that is none. */
static inline const char *abi_code_name(int rc)
{
    switch (rc) {
`, errs[len(errs)-1].Name, len(h.Funcs))
	for _, c := range h.Codes {
		fmt.Fprintf(&b, "    case %s: return %q;\n", c.Name, c.Name)
	}
	b.WriteString(`    }
    return NULL;
}

/* The name of the i-th function of the header (0-based), NULL past the last. */
static inline const char *abi_function(size_t i)
{
    static const char *const names[] = {
`)
	for _, f := range h.Funcs {
		fmt.Fprintf(&b, "        %q,\n", f.Name)
	}
	b.WriteString(`    };
    return i < sizeof names / sizeof names[0] ? names[i] : NULL;
}

/*
 * The codes the header documents for function name: SHMLIB_OK, and those
 * its "Errors:" (or "Returns") paragraph names, with the errors of the
 * functions it refers to ("those of shmlib_create"). Ends with INT_MIN;
 * NULL for a name the header does not declare.
 */
static inline const int *abi_documented(const char *name)
{
`)
	for _, f := range h.Funcs {
		fmt.Fprintf(&b, "    if (strcmp(name, %q) == 0) {\n        static const int codes[] = {%s, INT_MIN};\n        return codes;\n    }\n",
			f.Name, strings.Join(f.Codes, ", "))
	}
	b.WriteString("    return NULL;\n}\n\n#endif /* LIBSHM_TEST_ABI_H */\n")
	return []byte(b.String()), nil
}
