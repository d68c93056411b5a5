package segment

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/libshm/libshm/internal/errs"
)

func TestStat(t *testing.T) {
	for _, backend := range backends {
		key := mustCreate(t, backend, 12345, CreateOptions{Mode: 0o640})
		info, err := Stat(key)
		if err != nil {
			t.Fatal(err)
		}
		if info.Key != key || info.Size != 12345 || info.Mode != 0o640 ||
			info.UID != uint32(os.Geteuid()) || info.Ctime == 0 {
			t.Fatalf("Stat(%q) = %+v", key, info)
		}
		if backend == "posix:" {
			if info.Nattach != -1 || info.ShmID != -1 || info.CPID != 0 {
				t.Errorf("POSIX stat %+v: want nattach -1, shmid -1, cpid 0", info)
			}
			continue
		}
		if info.CPID != int32(os.Getpid()) || info.Nattach != 0 || info.ShmID < 0 || info.IPCKey == 0 {
			t.Fatalf("System V stat %+v: want cpid %d, nattach 0, a shmid and a key", info, os.Getpid())
		}
		a := mustAttach(t, key, AttachOptions{})
		mustAttach(t, key, AttachOptions{})
		if info, _ := Stat(key); info.Nattach != 2 {
			t.Errorf("nattach %d after two attaches, want 2", info.Nattach)
		}
		Detach(a.Addr)
		if info, _ := Stat(key); info.Nattach != 1 || info.LPID != int32(os.Getpid()) {
			t.Errorf("after a detach: nattach %d lpid %d, want 1 and %d", info.Nattach, info.LPID, os.Getpid())
		}
	}
	_, err := Stat("posix:/libshm-test-never-made")
	wantCode(t, err, errs.ErrNotExist, "stat posix:/libshm-test-never-made: no such segment")
	_, err = Stat("sysv:id=2147483647")
	wantCode(t, err, errs.ErrNotExist)
	_, err = Stat("sysv:")
	wantCode(t, err, errs.ErrInvalid)
}

func TestList(t *testing.T) {
	px := mustCreate(t, uniquePosix(t), 100, CreateOptions{})
	sv := mustCreate(t, "sysv:", 200, CreateOptions{})
	pxInfo, ok := listed(t, px, -1)
	if !ok || pxInfo.Size != 100 {
		t.Fatalf("List does not show %s (got %+v)", px, pxInfo)
	}
	svInfo, ok := listed(t, sv, -1)
	if !ok || svInfo.Size != 200 || svInfo.CPID != int32(os.Getpid()) {
		t.Fatalf("List does not show %s (got %+v)", sv, svInfo)
	}
	infos, _ := List()
	seenSysV := false
	for _, in := range infos {
		if strings.HasPrefix(in.Key, "posix:/sem.") {
			t.Errorf("List shows the semaphore %s as a segment", in.Key)
		}
		if in.Backend.String() == "posix" && seenSysV {
			t.Error("List does not give POSIX objects first")
		}
		seenSysV = seenSysV || in.Backend.String() == "sysv"
	}
}

func TestFtok(t *testing.T) {
	path := filepath.Join(t.TempDir(), "anchor")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	a, err := Ftok(path, 'A')
	if err != nil || !strings.HasPrefix(a, "sysv:key=0x41") {
		t.Fatalf("Ftok(%q, 'A') = %q, %v; want a key whose top byte is 0x41", path, a, err)
	}
	b, _ := Ftok(path, 'B')
	if b == a || !strings.HasPrefix(b, "sysv:key=0x42") || a[len("sysv:key=0x41"):] != b[len("sysv:key=0x42"):] {
		t.Fatalf("Ftok 'A' %q and 'B' %q should differ in the top byte only", a, b)
	}
	_, err = Ftok(path, 0)
	wantCode(t, err, errs.ErrInvalid, "proj_id 0 is outside 1..255")
	_, err = Ftok(path, 256)
	wantCode(t, err, errs.ErrInvalid, "proj_id 256")
	_, err = Ftok("", 1)
	wantCode(t, err, errs.ErrInvalid, "empty")
	_, err = Ftok(path+".missing", 1)
	wantCode(t, err, errs.ErrNotExist, "no such file")
}
