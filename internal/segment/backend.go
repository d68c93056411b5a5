package segment

import "github.com/libshm/libshm/internal/errs"

import "github.com/libshm/libshm/internal/keys"

// A backend is one kind of segment: POSIX objects, System V segments,
// memfds. The lifecycle (Create, Map, Destroy, Stat, List, Head, Reap)
// checks what every kind shares, then asks the key's backend. A new kind
// of segment is one file that implements backend, and one line in the
// registry.
type backend interface {
	kind() keys.Backend
	// create makes the segment k names (or, with OpenExisting, opens it).
	create(shown string, k keys.Key, size uint64, opt CreateOptions) (Created, error)
	// attach maps it, with every option but Lock applied.
	attach(shown string, k keys.Key, opt AttachOptions) (*mapping, error)
	// unmap ends one of its mappings.
	unmap(m *mapping) error
	// destroy removes it; the error says why not, as Destroy returns it.
	destroy(k keys.Key) error
	// stat describes it; the cause of a failure, for statError.
	stat(k keys.Key) (Info, error)
	// statError explains a failed stat as op's *errs.Error.
	statError(op string, k keys.Key, err error) *errs.Error
	// list describes every one the caller can see, in its order.
	list() ([]Info, error)
	// head reads its first n bytes without keeping a mapping; nil if the
	// caller may not, or it is shorter.
	head(info *Info, n int) []byte
	// openFile opens the file behind a mapping as a description of its own
	// (OpenFile); -1 and no error for a backend without files.
	openFile(m Mapping) (int, error)
	// orphaned reports whether libshm made it and nobody will destroy it:
	// its creator is dead and nobody uses it. It may fill in what the
	// kernel does not know of it (a POSIX creator's pid, from the name).
	orphaned(in *Info, r *reaping) bool
}

// registry: every kind of segment, in the order List gives them.
var registry = []backend{
	posixBackend{},
	sysvBackend{},
	memfdBackend{},
}

// backendOf is the backend of a kind of key; every kind keys parses has one.
func backendOf(kind keys.Backend) backend {
	for _, b := range registry {
		if b.kind() == kind {
			return b
		}
	}
	panic("segment: no backend for " + kind.String())
}
