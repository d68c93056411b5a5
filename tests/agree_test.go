package tests

import (
	"fmt"
	"path/filepath"
	"testing"
	"unsafe"

	"github.com/libshm/libshm/internal/segment"
	"github.com/libshm/libshm/tests/internal/shmso"
)

// TestSameAnswers: the inspection calls give the same answers in every
// language, the Go core's: the version, the System V key of a file
// (shmlib_ftok), and whether a segment is in the list of all segments.
func TestSameAnswers(t *testing.T) {
	t.Parallel()
	file := filepath.Join(suite.root, "go.mod")
	ftok, err := segment.Ftok(file, 7)
	if err != nil {
		t.Fatal(err)
	}
	var words []any
	var want []string
	for _, backend := range backends {
		key, missing := newKey(t, backend), newKey(t, backend)
		if _, err := segment.Create(key, 4096, segment.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		words = append(words, "listed", key, "listed", missing)
		want = append(want, "listed yes", "listed no")
	}
	words = append(words, "version", "ftok", file, 7)
	want = append(want, "version "+segment.Version, "ftok "+ftok)
	for _, l := range langs {
		start(t, l, words...).expect(want...).end()
	}
}

// TestStatLayout: the Go struct this binding reads shmlib_stat_t into has
// the C struct's size and every field at the C struct's offset, as the C
// compiler lays it out from include/shmlib.h.
func TestStatLayout(t *testing.T) {
	t.Parallel()
	var s shmso.Stat
	want := fmt.Sprintf("layout sizeof=%d key=%d size=%d nattach=%d atime=%d dtime=%d ctime=%d"+
		" backend=%d mode=%d uid=%d gid=%d cuid=%d cgid=%d cpid=%d lpid=%d shmid=%d ipc_key=%d"+
		" flags=%d reserved0=%d reserved=%d",
		unsafe.Sizeof(s), unsafe.Offsetof(s.Key), unsafe.Offsetof(s.Size), unsafe.Offsetof(s.Nattach),
		unsafe.Offsetof(s.Atime), unsafe.Offsetof(s.Dtime), unsafe.Offsetof(s.Ctime),
		unsafe.Offsetof(s.Backend), unsafe.Offsetof(s.Mode), unsafe.Offsetof(s.UID),
		unsafe.Offsetof(s.GID), unsafe.Offsetof(s.CUID), unsafe.Offsetof(s.CGID),
		unsafe.Offsetof(s.CPID), unsafe.Offsetof(s.LPID), unsafe.Offsetof(s.ShmID),
		unsafe.Offsetof(s.IPCKey), unsafe.Offsetof(s.Flags), unsafe.Offsetof(s.Reserved0),
		unsafe.Offsetof(s.Reserved))
	if unsafe.Sizeof(s) != shmso.StatSize {
		t.Fatalf("shmso.Stat is %d bytes, the header says %d", unsafe.Sizeof(s), shmso.StatSize)
	}
	start(t, cPeer, "layout").expect(want).end()
}
