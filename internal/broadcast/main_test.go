package broadcast

import (
	"fmt"
	"os"
	"testing"

	"github.com/libshm/libshm/internal/segment"
)

// TestMain fails the package if a test leaked a segment.
func TestMain(m *testing.M) {
	before := keysNow()
	code := m.Run()
	for k := range keysNow() {
		if !before[k] {
			fmt.Fprintf(os.Stderr, "FAIL: leaked segment %s\n", k)
			code = 1
		}
	}
	os.Exit(code)
}

func keysNow() map[string]bool {
	infos, err := segment.List()
	if err != nil {
		panic(err)
	}
	m := map[string]bool{}
	for _, in := range infos {
		m[in.Key] = true
	}
	return m
}

func newBcast(t *testing.T, backend string, capacity uint64, slots uint32, p Policy) string {
	t.Helper()
	key, err := Create(backend, capacity, slots, p, segment.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { segment.Destroy(key) })
	return key
}

func open(t *testing.T, key string, end End) *Bcast {
	t.Helper()
	b, err := Open(key, end)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}
