// Command capi is built with -buildmode=c-shared into libshm.so. It is the
// only cgo in libshm: thin //export shims that convert C arguments, call the
// core in internal/segment, and turn its errors into SHMLIB_E* codes and a
// per-thread message. The public shmlib_* symbols are the C guards in
// guard.c, which forward here; see include/shmlib.h for the contract.
package main

// The forwarders, the export map and every binding's tables are written
// from include/shmlib.h.
//go:generate go run ../tools/abigen

// #cgo CFLAGS: -I${SRCDIR}/../include -std=gnu11 -Wall
import "C"

import (
	"math"
	"runtime/debug"
)

func main() {}

// The host's GOGC and GOMEMLIMIT were set for some Go program of its own,
// not for this library: GOGC=off would let the heap grow by every failed
// call for as long as the host runs. The library keeps the runtime's
// defaults whatever the environment says. (GODEBUG it never sees:
// environment.c.)
func init() {
	debug.SetGCPercent(100)
	debug.SetMemoryLimit(math.MaxInt64)
}
