package segment

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/libshm/libshm/internal/errs"
	"github.com/libshm/libshm/internal/posix"
)

func TestLifecycle(t *testing.T) {
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			key := mustCreate(t, backend, 10007, CreateOptions{})
			if !strings.HasPrefix(key, backend) || key == backend {
				t.Fatalf("Create(%q) gave key %q", backend, key)
			}
			a := mustAttach(t, key, AttachOptions{})
			b := mustAttach(t, key, AttachOptions{})
			if a.Size != 10007 || b.Size != 10007 {
				t.Fatalf("sizes %d and %d, want 10007", a.Size, b.Size)
			}
			if a.Addr == b.Addr {
				t.Fatal("two attaches gave one address; want two independent mappings")
			}
			if !bytes.Equal(bytesOf(a), make([]byte, 10007)) {
				t.Fatal("a new segment is not zero-filled")
			}
			copy(bytesOf(a)[10000:], "shared!")
			if got := string(bytesOf(b)[10000:]); got != "shared!" {
				t.Fatalf("second mapping sees %q, want %q", got, "shared!")
			}
			if err := Detach(a.Addr); err != nil {
				t.Fatal(err)
			}
			// Detach ended one mapping; the segment and the other live on.
			if got := string(bytesOf(b)[10000:]); got != "shared!" {
				t.Fatalf("after detaching the first, the second sees %q", got)
			}
			c := mustAttach(t, key, AttachOptions{})
			if got := string(bytesOf(c)[10000:]); got != "shared!" {
				t.Fatalf("a new attach after a detach sees %q", got)
			}
			if err := Destroy(key); err != nil {
				t.Fatal(err)
			}
			_, err := Attach(key, AttachOptions{})
			wantCode(t, err, errs.ErrNotExist, "attach "+key, "no such segment")
			if !errors.Is(err, fs.ErrNotExist) || !errors.Is(err, unix.ENOENT) {
				t.Errorf("%v: errors.Is fs.ErrNotExist and unix.ENOENT should both hold", err)
			}
		})
	}
}

func TestCreateNamedKeys(t *testing.T) {
	key := mustCreate(t, "/"+strings.TrimPrefix(uniquePosix(t), "posix:/"), 1, CreateOptions{})
	if key != uniquePosix(t) {
		t.Fatalf("/NAME created %q, want the canonical %q", key, uniquePosix(t))
	}
	if _, err := os.Stat(posix.Path(strings.TrimPrefix(key, "posix:/"))); err != nil {
		t.Fatalf("the POSIX object is not the file shm_open uses: %v", err)
	}

	priv := mustCreate(t, "sysv:private", 1, CreateOptions{})
	if !strings.HasPrefix(priv, "sysv:id=") {
		t.Fatalf("sysv:private created %q, want a sysv:id=N key", priv)
	}
	info, err := Stat(priv)
	if err != nil || info.IPCKey != 0 || info.Key != priv {
		t.Fatalf("Stat(%q) = %+v, %v; want an IPC_PRIVATE segment named by id", priv, info, err)
	}

	auto := mustCreate(t, "sysv:", 1, CreateOptions{})
	byKey, err := Stat(auto)
	if err != nil {
		t.Fatal(err)
	}
	m := mustAttach(t, "sysv:id="+strconv.Itoa(int(byKey.ShmID)), AttachOptions{})
	if m.Size != 1 {
		t.Fatalf("attach by id: size %d, want 1", m.Size)
	}
}

func TestCreateErrors(t *testing.T) {
	key := mustCreate(t, uniquePosix(t), 4096, CreateOptions{})
	cases := []struct {
		key   string
		size  uint64
		opt   CreateOptions
		code  errs.Code
		frags []string
	}{
		{"posix:", 0, CreateOptions{}, errs.ErrInvalid, []string{"size is 0"}},
		{"sysv:", 0, CreateOptions{}, errs.ErrInvalid, []string{"size is 0"}},
		{"posix:", 1, CreateOptions{Mode: 0o1777}, errs.ErrInvalid, []string{"mode 01777"}},
		{"sysv:id=1", 1, CreateOptions{}, errs.ErrInvalid, []string{"cannot be created by id"}},
		{"nope", 1, CreateOptions{}, errs.ErrInvalid, []string{`create "nope": malformed key`}},
		{key, 4096, CreateOptions{}, errs.ErrExist, []string{"already exists"}},
		{key, 8192, CreateOptions{OpenExisting: true}, errs.ErrInvalid, []string{"4096 bytes, fewer than the 8192"}},
		{"posix:", 1, CreateOptions{HugeTLB: true}, errs.ErrNotSupported, []string{"huge pages"}},
		{"sysv:", 1, CreateOptions{Sparse: true}, errs.ErrNotSupported, []string{"SPARSE"}},
		// Whichever is tighter here, /dev/shm or memory, names itself
		// (TestCreateMoreThanMemory and TestCreateOnAFullDevShm take each).
		{"posix:", 1 << 62, CreateOptions{}, errs.ErrNoMemory, []string{"nothing was created"}},
		{"sysv:", 1 << 62, CreateOptions{}, errs.ErrNoMemory, nil},
	}
	for _, c := range cases {
		before := snapshot()
		_, err := Create(c.key, c.size, c.opt)
		wantCode(t, err, c.code, c.frags...)
		if left := diff(before, snapshot()); len(left) > 0 {
			t.Errorf("Create(%q, %d) failed but left %v behind", c.key, c.size, left)
		}
	}
	made, err := Create(key, 100, CreateOptions{OpenExisting: true})
	if err != nil || !made.Opened || made.Key != key {
		t.Fatalf("Create with OpenExisting = %+v, %v; want the existing %q opened", made, err, key)
	}
}

func TestHugeTLB(t *testing.T) {
	made, err := Create("sysv:", 2<<20, CreateOptions{HugeTLB: true})
	if hugePagesTotal() == 0 {
		wantCode(t, err, errs.ErrNotSupported, "HugePages_Total is 0")
		return
	}
	// The system reserves huge pages: the segment must be made.
	if err != nil {
		t.Fatalf("huge pages are reserved, but Create failed: %v", err)
	}
	if err := Destroy(made.Key); err != nil {
		t.Fatal(err)
	}
}

func TestModeIsExactDespiteUmask(t *testing.T) {
	old := unix.Umask(0o077)
	defer unix.Umask(old)
	for _, backend := range backends {
		key := mustCreate(t, backend, 1, CreateOptions{Mode: 0o666})
		info, err := Stat(key)
		if err != nil || info.Mode != 0o666 {
			t.Errorf("%s: mode %#o (%v), want 0666 despite umask 077", backend, info.Mode, err)
		}
		def := mustCreate(t, backend, 1, CreateOptions{})
		if info, _ := Stat(def); info.Mode != DefaultMode {
			t.Errorf("%s: default mode %#o, want %#o", backend, info.Mode, DefaultMode)
		}
	}
}

func TestDestroyWhileAttached(t *testing.T) {
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			key := mustCreate(t, backend, 4096, CreateOptions{})
			info, err := Stat(key)
			if err != nil {
				t.Fatal(err)
			}
			m := mustAttach(t, key, AttachOptions{})
			if err := Destroy(key); err != nil {
				t.Fatal(err)
			}
			copy(bytesOf(m), "still here")
			if string(bytesOf(m)[:10]) != "still here" {
				t.Fatal("a destroyed segment's mapping stopped working")
			}
			_, err = Attach(key, AttachOptions{})
			wantCode(t, err, errs.ErrNotExist)
			wantCode(t, Destroy(key), errs.ErrNotExist)
			if backend == "sysv:" {
				byID := "sysv:id=" + strconv.Itoa(int(info.ShmID))
				st, err := Stat(byID)
				if err != nil || !st.Destroyed || st.Nattach != 1 {
					t.Fatalf("Stat(%s) = %+v, %v; want destroyed and attached once", byID, st, err)
				}
				_, err = Attach(byID, AttachOptions{})
				wantCode(t, err, errs.ErrNotExist, "destroyed")
				wantCode(t, Destroy(byID), errs.ErrNotExist, "destroyed already")
			}
			if err := Detach(m.Addr); err != nil {
				t.Fatal(err)
			}
			// With the last detach the kernel frees it: nothing lists it.
			if _, ok := listed(t, info.Key, info.ShmID); ok {
				t.Fatalf("%s is still listed after its last detach", info.Key)
			}
		})
	}
}

func TestDetachErrors(t *testing.T) {
	wantCode(t, Detach(nil), errs.ErrInvalid, "NULL")
	var local int
	wantCode(t, Detach(unsafe.Pointer(&local)), errs.ErrNotAttached, "not the address of a live mapping")
	for _, backend := range backends {
		key := mustCreate(t, backend, 8192, CreateOptions{})
		m, err := Attach(key, AttachOptions{})
		if err != nil {
			t.Fatal(err)
		}
		wantCode(t, Detach(unsafe.Add(m.Addr, 4096)), errs.ErrNotAttached, "inside the mapping of "+key)
		if err := Detach(m.Addr); err != nil {
			t.Fatal(err)
		}
		wantCode(t, Detach(m.Addr), errs.ErrNotAttached, "detached already")
	}
}

func TestAttachErrors(t *testing.T) {
	cases := []struct {
		key   string
		code  errs.Code
		frags []string
	}{
		{"", errs.ErrInvalid, []string{"only asks create"}},
		{"sysv:private", errs.ErrInvalid, []string{"only asks create"}},
		{"posix:/a/b", errs.ErrInvalid, []string{"malformed key"}},
		{"posix:/libshm-test-never-made", errs.ErrNotExist, []string{"attach posix:/libshm-test-never-made: no such segment"}},
		{"sysv:key=0x7fffff01", errs.ErrNotExist, []string{"no such segment"}},
		{"sysv:id=2147483647", errs.ErrNotExist, []string{"no such segment"}},
	}
	for _, c := range cases {
		_, err := Attach(c.key, AttachOptions{})
		wantCode(t, err, c.code, c.frags...)
	}
	_, err := Attach("posix:/x", AttachOptions{Fixed: true})
	wantCode(t, err, errs.ErrInvalid, "page-aligned address hint")
}

func TestSymlinkIsRefused(t *testing.T) {
	key := uniquePosix(t)
	name := strings.TrimPrefix(key, "posix:/")
	target, err := os.CreateTemp("", "libshm-target")
	if err != nil {
		t.Fatal(err)
	}
	target.Close()
	defer os.Remove(target.Name())
	if err := os.Symlink(target.Name(), posix.Path(name)); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(posix.Path(name))
	_, err = Attach(key, AttachOptions{})
	wantCode(t, err, errs.ErrPermission, "symbolic link")
	_, err = Create(key, 1, CreateOptions{})
	wantCode(t, err, errs.ErrExist)
	_, err = Create(key, 1, CreateOptions{OpenExisting: true})
	wantCode(t, err, errs.ErrExist, "not a shared memory object")
	if st, _ := os.Stat(target.Name()); st.Size() != 0 {
		t.Fatal("the symlink's target was written through")
	}
}

// TestDestroyAtExit: what was created with DestroyOnExit goes at exit,
// unless destroyed before; a segment created again under the same key by
// someone else is not destroyed for it.
func TestDestroyAtExit(t *testing.T) {
	gone := mustCreate(t, "posix:", 1, CreateOptions{DestroyOnExit: true})
	kept := mustCreate(t, "sysv:", 1, CreateOptions{})
	again := uniquePosix(t)
	if _, err := Create(again, 1, CreateOptions{DestroyOnExit: true}); err != nil {
		t.Fatal(err)
	}
	if err := Destroy(again); err != nil {
		t.Fatal(err)
	}
	mustCreate(t, again, 1, CreateOptions{}) // someone else's now
	DestroyAtExit()
	if _, err := Stat(gone); !errors.Is(err, errs.ErrNotExist) {
		t.Errorf("%s survived DestroyAtExit: %v", gone, err)
	}
	for _, key := range []string{kept, again} {
		if _, err := Stat(key); err != nil {
			t.Errorf("DestroyAtExit destroyed %s, which was not its to destroy: %v", key, err)
		}
	}
}
