package shmlib_test

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/libshm/libshm/bindings/go/shmlib"
)

// The peer of these tests is not Go and not libshm: a Python process that
// calls glibc's own shm_open, shmget, shmat and ftok through ctypes. That
// we meet it on one segment shows the segments are the plain kernel
// objects any program can use.
const peerScript = `
import ctypes, mmap, os, sys

libc = ctypes.CDLL(None, use_errno=True)
libc.shm_open.argtypes = [ctypes.c_char_p, ctypes.c_int, ctypes.c_uint]
libc.shmget.argtypes = [ctypes.c_int, ctypes.c_size_t, ctypes.c_int]
libc.shmat.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_int]
libc.shmat.restype = ctypes.c_void_p
libc.shmdt.argtypes = [ctypes.c_void_p]
libc.ftok.argtypes = [ctypes.c_char_p, ctypes.c_int]
IPC_CREAT, IPC_PRIVATE = 0o1000, 0

def ok(r):
    if r in (-1, None) or r == ctypes.c_void_p(-1).value:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    return r

def posix_open(name, flags, size=0):
    fd = ok(libc.shm_open(name.encode(), flags, 0o600))
    if size:
        os.ftruncate(fd, size)
    m = mmap.mmap(fd, os.fstat(fd).st_size)
    os.close(fd)
    return m

def sysv_attach(shmid):
    return ok(libc.shmat(shmid, None, 0))

cmd, args = sys.argv[1], sys.argv[2:]
if cmd == "posix-swap":      # NAME: print the string at 0, write ours at 64
    m = posix_open(args[0], os.O_RDWR)
    print(m[:m.find(b"\0")].decode())
    m[64:64 + 11] = b"from python"
elif cmd == "sysv-swap":     # IPCKEY: the same over System V
    p = sysv_attach(ok(libc.shmget(int(args[0]), 0, 0)))
    print(ctypes.string_at(p).decode())
    ctypes.memmove(p + 64, b"from python", 11)
    ok(libc.shmdt(p))
elif cmd == "posix-create":  # NAME SIZE: a segment libshm did not make
    m = posix_open(args[0], os.O_RDWR | os.O_CREAT | os.O_EXCL, int(args[1]))
    m[:14] = b"made by python"
elif cmd == "sysv-create":   # SIZE: an IPC_PRIVATE segment; print its id
    shmid = ok(libc.shmget(IPC_PRIVATE, int(args[0]), IPC_CREAT | 0o600))
    p = sysv_attach(shmid)
    ctypes.memmove(p, b"made by python", 14)
    ok(libc.shmdt(p))
    print(shmid)
elif cmd == "ftok":          # PATH PROJ
    print(libc.ftok(args[0].encode(), int(args[1])) & 0xffffffff)
`

// peer runs the Python peer and returns what it printed.
func peer(t *testing.T, args ...string) string {
	t.Helper()
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("no python3 to play the non-Go peer")
	}
	out, err := exec.Command(python, append([]string{"-c", peerScript}, args...)...).Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("python3 %v: %v\n%s", args, err, stderr)
	}
	return strings.TrimSpace(string(out))
}

func TestInteropPosix(t *testing.T) {
	name := uniqueName()
	key := create(t, name, 4096, nil)
	m := attach(t, key, nil)
	copy(mustBytes(t, m), "from go")

	if got := peer(t, "posix-swap", name); got != "from go" {
		t.Errorf("the peer read %q, want %q", got, "from go")
	}
	if got := string(mustBytes(t, m)[64:75]); got != "from python" {
		t.Errorf("Go reads %q where the peer wrote, want %q", got, "from python")
	}
	// It is the file shm_open names.
	if st, err := os.Stat("/dev/shm" + name); err != nil || st.Size() != 4096 || st.Mode().Perm() != 0o600 {
		t.Errorf("/dev/shm%s: %v, %v", name, st, err)
	}
}

func TestInteropSysV(t *testing.T) {
	key := create(t, "sysv:", 4096, nil)
	info, err := shmlib.Stat(key)
	if err != nil {
		t.Fatal(err)
	}
	m := attach(t, key, nil)
	copy(mustBytes(t, m), "from go")

	if got := peer(t, "sysv-swap", strconv.FormatUint(uint64(info.IPCKey), 10)); got != "from go" {
		t.Errorf("the peer read %q, want %q", got, "from go")
	}
	if got := string(mustBytes(t, m)[64:75]); got != "from python" {
		t.Errorf("Go reads %q where the peer wrote, want %q", got, "from python")
	}

	// The kernel's own tables list it: the peer has detached, ours counts.
	line := procSysVLine(t, info.ShmID)
	if line == nil || line[3] != "4096" || line[6] != "1" {
		t.Errorf("/proc/sysvipc/shm line for shmid %d: %q; want 4096 bytes, 1 attached", info.ShmID, line)
	}
	ipcs, err := exec.Command("ipcs", "-m").Output()
	if err != nil {
		t.Skipf("ipcs -m: %v", err)
	}
	row := regexp.MustCompile(fmt.Sprintf(`(?m)^0x%08x\s+%d\s+\S+\s+600\s+4096\s+1\b`, info.IPCKey, info.ShmID))
	if !row.Match(ipcs) {
		t.Errorf("ipcs -m has no row for %s (shmid %d, 600, 4096 bytes, 1 attached):\n%s", key, info.ShmID, ipcs)
	}
}

// procSysVLine is the fields of shmid's line in /proc/sysvipc/shm.
func procSysVLine(t *testing.T, shmid int) []string {
	t.Helper()
	f, err := os.Open("/proc/sysvipc/shm")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fields := strings.Fields(sc.Text()); len(fields) > 6 && fields[1] == strconv.Itoa(shmid) {
			return fields
		}
	}
	return nil
}

func TestInteropSegmentsMadeByThePeer(t *testing.T) {
	t.Run("posix", func(t *testing.T) {
		name := uniqueName()
		destroyAtEnd(t, name)
		peer(t, "posix-create", name, "8192")
		m := attach(t, name, nil)
		if m.Size() != 8192 || !bytes.HasPrefix(mustBytes(t, m), []byte("made by python")) {
			t.Errorf("attached the peer's segment: %d bytes starting %q", m.Size(), mustBytes(t, m)[:14])
		}
	})
	t.Run("sysv", func(t *testing.T) {
		key := "sysv:id=" + peer(t, "sysv-create", "8192")
		destroyAtEnd(t, key)
		m := attach(t, key, nil)
		if m.Size() != 8192 || !bytes.HasPrefix(mustBytes(t, m), []byte("made by python")) {
			t.Errorf("attached the peer's segment: %d bytes starting %q", m.Size(), mustBytes(t, m)[:14])
		}
		info, err := shmlib.Stat(key)
		if err != nil || info.Key != key || info.IPCKey != 0 || info.CPID == os.Getpid() {
			t.Errorf("Stat(%s) = %+v, %v; want the peer's IPC_PRIVATE segment", key, info, err)
		}
	})
}

func TestInteropFtok(t *testing.T) {
	path := t.TempDir() + "/anchor"
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, proj := range []int{1, 'x', 255} {
		key, err := shmlib.Ftok(path, proj)
		if err != nil {
			t.Fatal(err)
		}
		glibc, _ := strconv.ParseUint(peer(t, "ftok", path, strconv.Itoa(proj)), 10, 32)
		if want := fmt.Sprintf("sysv:key=0x%08x", glibc); key != want {
			t.Errorf("Ftok(%d) = %s, glibc's ftok gives %s", proj, key, want)
		}
	}
}
