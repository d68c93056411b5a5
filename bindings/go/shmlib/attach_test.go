package shmlib_test

import (
	"bytes"
	"io/fs"
	"os"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/libshm/libshm/bindings/go/shmlib"
)

func TestAttachTwiceSharesPages(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			key := create(t, b.auto, 3*4096+5, nil)
			m1 := attach(t, key, nil)
			m2 := attach(t, key, nil)

			if m1.Key() != key || m1.Size() != 3*4096+5 || m1.ReadOnly() {
				t.Errorf("mapping: key %q size %d read-only %v; want %q, %d, false", m1.Key(), m1.Size(), m1.ReadOnly(), key, 3*4096+5)
			}
			b1, b2 := mustBytes(t, m1), mustBytes(t, m2)
			if len(b1) != 3*4096+5 || cap(b1) != len(b1) {
				t.Fatalf("Bytes: len %d cap %d, want both %d", len(b1), cap(b1), 3*4096+5)
			}
			if addr(t, m1) == addr(t, m2) {
				t.Fatal("two attaches gave one address; want two independent mappings")
			}
			if !bytes.Equal(b1, make([]byte, len(b1))) {
				t.Error("a new segment is not zero-filled")
			}
			copy(b1[4096:], "written through the first mapping")
			b1[len(b1)-1] = 0xee
			if !bytes.HasPrefix(b2[4096:], []byte("written through the first mapping")) || b2[len(b2)-1] != 0xee {
				t.Error("the second mapping does not see what the first wrote")
			}

			// Detaching one leaves the other, and the contents, alone.
			if err := m1.Detach(); err != nil {
				t.Fatal(err)
			}
			if b2[len(b2)-1] != 0xee {
				t.Error("detaching one mapping changed what the other sees")
			}
			m3 := attach(t, key, nil)
			if mustBytes(t, m3)[len(b2)-1] != 0xee {
				t.Error("a new attach does not see the contents")
			}
		})
	}
}

func TestAttachReadOnly(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			key := create(t, b.auto, 4096, nil)
			rw := attach(t, key, nil)
			ro := attach(t, key, &shmlib.AttachOptions{ReadOnly: true})
			if !ro.ReadOnly() {
				t.Error("ReadOnly() is false for a read-only attach")
			}
			// Bytes is still a []byte (Go has no read-only slice); it
			// reads what others write. Writing it would fault: see
			// TestWriteThroughReadOnlyBytesCrashes.
			copy(mustBytes(t, rw), "seen")
			if got := string(mustBytes(t, ro)[:4]); got != "seen" {
				t.Errorf("read-only mapping reads %q, want %q", got, "seen")
			}
			_, err := ro.WriteAt([]byte("x"), 0)
			wantErr(t, err, "write", shmlib.ErrPermission, fs.ErrPermission)
		})
	}
}

func TestWriteThroughReadOnlyBytesCrashes(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			key := create(t, b.auto, 4096, nil)
			stderr, err := runRole(t, "write-readonly", key)
			// The Go runtime turns the SIGSEGV into "fatal error: fault"
			// and exit status 2, rather than dying by the signal.
			if err == nil || !bytes.Contains([]byte(stderr), []byte("SIGSEGV")) || !bytes.Contains([]byte(stderr), []byte("fatal error: fault")) {
				t.Errorf("child writing a read-only mapping: %v, stderr:\n%s\nwant a crash by SIGSEGV", err, stderr)
			}
			info, err := shmlib.Stat(key)
			if err != nil || (b.name == "sysv" && info.Nattach != 0) {
				t.Errorf("after the crash: %+v, %v; want the segment intact, nobody attached", info, err)
			}
		})
	}
}

func TestAttachPermissions(t *testing.T) {
	// Root passes every permission check; the child then becomes nobody.
	// A non-root run checks as the owner, whom mode 0444 binds too.
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			key := create(t, b.auto, 4096, &shmlib.CreateOptions{Mode: 0o444})
			if os.Getuid() == 0 {
				// Root may write it anyway; nobody must then read it.
				copy(mustBytes(t, attach(t, key, nil)), "owner")
			}
			if stderr, err := runRole(t, "foreign-user", key); err != nil {
				t.Errorf("another user on a 0444 segment: %v\n%s", err, stderr)
			}
		})
	}
}

func TestAttachErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		key   string
		opt   *shmlib.AttachOptions
		code  shmlib.Code
		fsErr error
	}{
		{"no such posix", uniqueName(), nil, shmlib.ErrNotExist, fs.ErrNotExist},
		{"no such sysv key", "sysv:key=0x7fffff01", nil, shmlib.ErrNotExist, fs.ErrNotExist},
		{"no such sysv id", "sysv:id=2147483646", nil, shmlib.ErrNotExist, fs.ErrNotExist},
		{"create-only auto", "", nil, shmlib.ErrInvalid, fs.ErrInvalid},
		{"create-only sysv", "sysv:", nil, shmlib.ErrInvalid, fs.ErrInvalid},
		{"create-only private", "sysv:private", nil, shmlib.ErrInvalid, fs.ErrInvalid},
		{"malformed", "sysv:key=zz", nil, shmlib.ErrInvalid, fs.ErrInvalid},
		{"fixed without hint", uniqueName(), &shmlib.AttachOptions{Fixed: true}, shmlib.ErrInvalid, fs.ErrInvalid},
		{"fixed unaligned", uniqueName(), &shmlib.AttachOptions{Fixed: true, Hint: 0x7f0000000001}, shmlib.ErrInvalid, fs.ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := shmlib.Attach(tc.key, tc.opt)
			if err == nil {
				m.Detach()
			}
			wantErr(t, err, "attach", tc.code, tc.fsErr)
		})
	}
	_, err := shmlib.Attach("/shmlib-gotest-none", nil)
	if want := "attach posix:/shmlib-gotest-none: no such segment"; err == nil || err.Error() != want {
		t.Errorf("message %q, want %q", err, want)
	}
	wantErrno(t, err, unix.ENOENT)
}

func TestAttachAfterDestroy(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			key := create(t, b.auto, 4096, nil)
			m := attach(t, key, nil)
			info, err := shmlib.Stat(key)
			if err != nil {
				t.Fatal(err)
			}
			if err := shmlib.Destroy(key); err != nil {
				t.Fatal(err)
			}
			// The mapping outlives the segment's name.
			copy(mustBytes(t, m), "still here")
			if got := string(mustBytes(t, m)[:10]); got != "still here" {
				t.Errorf("mapping after destroy reads %q", got)
			}
			_, err = shmlib.Attach(key, nil)
			wantErr(t, err, "attach", shmlib.ErrNotExist, fs.ErrNotExist)
			err = shmlib.Destroy(key)
			wantErr(t, err, "destroy", shmlib.ErrNotExist, fs.ErrNotExist)

			if b.name == "sysv" {
				// The kernel keeps it, by id, until the last detach; for
				// libshm it is gone, whichever way it is named.
				byID := "sysv:id=" + itoa(info.ShmID)
				gone, err := shmlib.Stat(byID)
				if err != nil || !gone.Destroyed || gone.Nattach != 1 {
					t.Errorf("Stat(%s) of a destroyed, attached segment: %+v, %v; want Destroyed, 1 attach", byID, gone, err)
				}
				_, err = shmlib.Attach(byID, nil)
				wantErr(t, err, "attach", shmlib.ErrNotExist, fs.ErrNotExist)
			}
			if err := m.Detach(); err != nil {
				t.Fatal(err)
			}
			if b.name == "sysv" {
				_, err := shmlib.Stat("sysv:id=" + itoa(info.ShmID))
				wantErr(t, err, "stat", shmlib.ErrNotExist, fs.ErrNotExist)
			}
		})
	}
}

func TestAttachPopulateAndLock(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			key := create(t, b.auto, 64<<10, nil)
			for _, opt := range []shmlib.AttachOptions{
				{Populate: true},
				{Populate: true, ReadOnly: true},
				{Lock: true},
			} {
				m, err := shmlib.Attach(key, &opt)
				if err != nil {
					t.Errorf("Attach(%+v): %v", opt, err)
					continue
				}
				if err := m.Detach(); err != nil {
					t.Error(err)
				}
			}
		})
	}
}

func TestAttachHint(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			key := create(t, b.auto, 4096, nil)
			first := attach(t, key, nil)
			taken := addr(t, first)

			// A hint at a taken range is only a wish: it goes elsewhere.
			m := attach(t, key, &shmlib.AttachOptions{Hint: taken})
			if addr(t, m) == taken {
				t.Error("a second mapping landed on the first")
			}
			// Fixed never replaces a mapping.
			_, err := shmlib.Attach(key, &shmlib.AttachOptions{Hint: taken, Fixed: true})
			wantErr(t, err, "attach", shmlib.ErrInvalid, fs.ErrInvalid)

			// Fixed at a free range maps exactly there. The range is the
			// middle page of a three-page hole: were another thread to map
			// something meanwhile, the kernel would put it at the hole's top.
			room := attach(t, create(t, b.auto, 3*4096, nil), nil)
			free := addr(t, room) + 4096
			if err := room.Detach(); err != nil {
				t.Fatal(err)
			}
			m = attach(t, key, &shmlib.AttachOptions{Hint: free, Fixed: true})
			if got := addr(t, m); got != free {
				t.Errorf("Fixed attach at %#x landed at %#x", free, got)
			}
		})
	}
}
