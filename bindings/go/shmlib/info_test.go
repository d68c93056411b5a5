package shmlib_test

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/libshm/libshm/bindings/go/shmlib"
)

func TestStatPosix(t *testing.T) {
	start := time.Now().Add(-time.Second) // file times are not finer than the clock tick
	key := create(t, uniqueName(), 5000, &shmlib.CreateOptions{Mode: 0o640})
	info, err := shmlib.Stat(key)
	if err != nil {
		t.Fatal(err)
	}
	uid, gid := uint32(os.Getuid()), uint32(os.Getgid())
	want := shmlib.Info{
		Key: key, Backend: shmlib.POSIX, Size: 5000, Nattach: -1,
		Atime: info.Atime, Ctime: info.Ctime, // checked below
		Mode: 0o640, UID: uid, GID: gid, CUID: uid, CGID: gid,
		ShmID: -1,
	}
	if info != want {
		t.Errorf("Stat(%s) =\n%+v\nwant\n%+v", key, info, want)
	}
	if info.Ctime.Before(start) || info.Atime.IsZero() || !info.Dtime.IsZero() {
		t.Errorf("times: atime %v ctime %v dtime %v; want atime and ctime since %v, no dtime", info.Atime, info.Ctime, info.Dtime, start)
	}
}

func TestStatSysV(t *testing.T) {
	key := create(t, "sysv:", 5000, nil)
	info, err := shmlib.Stat(key)
	if err != nil {
		t.Fatal(err)
	}
	var ipcKey uint32
	fmt.Sscanf(key, "sysv:key=0x%x", &ipcKey)
	uid, gid := uint32(os.Getuid()), uint32(os.Getgid())
	if info.Key != key || info.Backend != shmlib.SysV || info.Size != 5000 || info.Nattach != 0 ||
		info.Mode != 0o600 || info.UID != uid || info.GID != gid || info.CUID != uid || info.CGID != gid ||
		info.CPID != os.Getpid() || info.ShmID < 0 || info.IPCKey != ipcKey ||
		!info.Atime.IsZero() || !info.Dtime.IsZero() || info.Ctime.IsZero() || info.Destroyed || info.Locked {
		t.Errorf("Stat(%s) of a new segment = %+v", key, info)
	}

	// The kernel counts attaches, and records who and when.
	m := attach(t, key, nil)
	if info, _ = shmlib.Stat(key); info.Nattach != 1 || info.Atime.IsZero() || info.LPID != os.Getpid() {
		t.Errorf("attached once: nattach %d atime %v lpid %d", info.Nattach, info.Atime, info.LPID)
	}
	m.Detach()
	if info, _ = shmlib.Stat(key); info.Nattach != 0 || info.Dtime.IsZero() {
		t.Errorf("detached: nattach %d dtime %v", info.Nattach, info.Dtime)
	}

	// The same segment by its id; IPC_PRIVATE ones have no other name.
	byID, err := shmlib.Stat("sysv:id=" + itoa(info.ShmID))
	if err != nil || byID.Key != key {
		t.Errorf("Stat by id = %+v, %v; want the segment of %s", byID, err, key)
	}
	private := create(t, "sysv:private", 10, nil)
	if info, err := shmlib.Stat(private); err != nil || info.Key != private || info.IPCKey != 0 {
		t.Errorf("Stat(%s) = %+v, %v", private, info, err)
	}
}

func TestStatErrors(t *testing.T) {
	_, err := shmlib.Stat(uniqueName())
	wantErr(t, err, "stat", shmlib.ErrNotExist, fs.ErrNotExist)
	wantErrno(t, err, unix.ENOENT)
	_, err = shmlib.Stat("sysv:id=2147483646")
	wantErr(t, err, "stat", shmlib.ErrNotExist, fs.ErrNotExist)
	_, err = shmlib.Stat("sysv:")
	wantErr(t, err, "stat", shmlib.ErrInvalid, fs.ErrInvalid)
	_, err = shmlib.Stat("posix:/")
	wantErr(t, err, "stat", shmlib.ErrInvalid, fs.ErrInvalid)
}

func TestList(t *testing.T) {
	mine := map[string]bool{
		create(t, uniqueName(), 10, nil):   true,
		create(t, "", 20, nil):             true,
		create(t, "sysv:", 30, nil):        true,
		create(t, "sysv:private", 40, nil): true,
	}
	infos, err := shmlib.List()
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for i, info := range infos {
		if mine[info.Key] {
			seen++
			if st, err := shmlib.Stat(info.Key); err != nil || st.Size != info.Size || st.Backend != info.Backend || st.ShmID != info.ShmID {
				t.Errorf("List has %+v, Stat says %+v, %v", info, st, err)
			}
		}
		// POSIX first, by name; then System V, by id.
		if i == 0 {
			continue
		}
		prev := infos[i-1]
		if prev.Backend == shmlib.SysV && info.Backend == shmlib.POSIX ||
			prev.Backend == shmlib.POSIX && info.Backend == shmlib.POSIX && prev.Key >= info.Key ||
			prev.Backend == shmlib.SysV && info.Backend == shmlib.SysV && prev.ShmID >= info.ShmID {
			t.Errorf("List out of order: %s before %s", prev.Key, info.Key)
		}
	}
	if seen != len(mine) {
		t.Errorf("List shows %d of the %d segments this test made", seen, len(mine))
	}
}

func TestListLeavesOutSemaphores(t *testing.T) {
	// glibc keeps POSIX semaphores in /dev/shm too; they are not segments.
	sem := fmt.Sprintf("/dev/shm/sem.shmlib-gotest-%d", os.Getpid())
	if err := os.WriteFile(sem, make([]byte, 32), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(sem) })
	infos, err := shmlib.List()
	if err != nil {
		t.Fatal(err)
	}
	for _, info := range infos {
		if info.Key == "posix:/"+filepath.Base(sem) {
			t.Errorf("List shows the semaphore %s", sem)
		}
	}
}

func TestFtok(t *testing.T) {
	path := filepath.Join(t.TempDir(), "anchor")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	keys := map[string]bool{}
	for _, proj := range []int{1, 'A', 255} {
		key, err := shmlib.Ftok(path, proj)
		if err != nil {
			t.Fatal(err)
		}
		// glibc: low 16 bits of the inode, low 8 of the device, the project.
		want := fmt.Sprintf("sysv:key=0x%08x", uint32(st.Ino&0xffff)|uint32(st.Dev&0xff)<<16|uint32(proj)<<24)
		if key != want {
			t.Errorf("Ftok(%s, %d) = %s, want %s", path, proj, key, want)
		}
		keys[key] = true
	}
	if len(keys) != 3 {
		t.Errorf("three project ids gave %d keys", len(keys))
	}

	for _, proj := range []int{0, -1, 256} {
		_, err := shmlib.Ftok(path, proj)
		wantErr(t, err, "ftok", shmlib.ErrInvalid, fs.ErrInvalid)
	}
	_, err := shmlib.Ftok("", 1)
	wantErr(t, err, "ftok", shmlib.ErrInvalid, fs.ErrInvalid)
	_, err = shmlib.Ftok(path+".missing", 1)
	wantErr(t, err, "ftok", shmlib.ErrNotExist, fs.ErrNotExist)
}

func TestDestroy(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			key := create(t, b.auto, 10, nil)
			if err := shmlib.Destroy(key); err != nil {
				t.Fatal(err)
			}
			_, err := shmlib.Stat(key)
			wantErr(t, err, "stat", shmlib.ErrNotExist, fs.ErrNotExist)
			for _, info := range mustList(t) {
				if info.Key == key {
					t.Errorf("List still shows the destroyed %s", key)
				}
			}
			err = shmlib.Destroy(key)
			wantErr(t, err, "destroy", shmlib.ErrNotExist, fs.ErrNotExist)
		})
	}
	err := shmlib.Destroy("sysv:private")
	wantErr(t, err, "destroy", shmlib.ErrInvalid, fs.ErrInvalid)
	err = shmlib.Destroy("nonsense")
	wantErr(t, err, "destroy", shmlib.ErrInvalid, fs.ErrInvalid)
}

func mustList(t *testing.T) []shmlib.Info {
	t.Helper()
	infos, err := shmlib.List()
	if err != nil {
		t.Fatal(err)
	}
	return infos
}
