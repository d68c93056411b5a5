package shmlib_test

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/libshm/libshm/bindings/go/shmlib"
)

func TestCreateKeys(t *testing.T) {
	named := uniqueName()
	for _, tc := range []struct {
		key  string
		want string // a regexp for the canonical key
	}{
		{"", `^posix:/shmlib-[0-9]+-[0-9a-f]+-[0-9a-f]{16}$`},
		{"posix:", `^posix:/shmlib-[0-9]+-[0-9a-f]+-[0-9a-f]{16}$`},
		{named, `^posix:` + regexp.QuoteMeta(named) + `$`},
		{"posix:" + uniqueName(), `^posix:/shmlib-gotest-`},
		{"sysv:", `^sysv:key=0x[0-9a-f]{8}$`},
		{"sysv:private", `^sysv:id=[0-9]+$`},
	} {
		t.Run(tc.key, func(t *testing.T) {
			c, err := shmlib.Create(tc.key, 100, nil)
			if err != nil {
				t.Fatal(err)
			}
			destroyAtEnd(t, c.Key)
			if !regexp.MustCompile(tc.want).MatchString(c.Key) || c.Opened {
				t.Errorf("Create(%q) = %+v, want key like %s, not opened", tc.key, c, tc.want)
			}
			info, err := shmlib.Stat(c.Key)
			if err != nil {
				t.Fatal(err)
			}
			// 0600 by default; System V keeps the size asked for, POSIX too.
			if info.Key != c.Key || info.Size != 100 || info.Mode != 0o600 {
				t.Errorf("Stat(%q) = key %q size %d mode %v, want the key, 100 bytes, 0600", c.Key, info.Key, info.Size, info.Mode)
			}
		})
	}
}

func TestCreateSysVKeyByNumber(t *testing.T) {
	// Decimal and hex name the same segment; the canonical form is hex.
	key := create(t, "sysv:", 64, nil)
	var k uint32
	if _, err := fmt.Sscanf(key, "sysv:key=0x%x", &k); err != nil {
		t.Fatal(err)
	}
	if err := shmlib.Destroy(key); err != nil {
		t.Fatal(err)
	}
	c, err := shmlib.Create(fmt.Sprint("sysv:key=", k), 64, nil)
	if err != nil {
		t.Fatal(err)
	}
	destroyAtEnd(t, c.Key)
	if c.Key != key {
		t.Errorf("Create(decimal key %d) = %q, want %q", k, c.Key, key)
	}
}

func TestCreateModeIgnoresUmask(t *testing.T) {
	old := unix.Umask(0o077)
	t.Cleanup(func() { unix.Umask(old) })
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			key := create(t, b.auto, 10, &shmlib.CreateOptions{Mode: 0o664})
			info, err := shmlib.Stat(key)
			if err != nil {
				t.Fatal(err)
			}
			if info.Mode != 0o664 {
				t.Errorf("mode %v, want -rw-rw-r-- whatever the umask", info.Mode)
			}
		})
	}
}

func TestCreateExisting(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			key := create(t, b.auto, 4096, nil)
			if b.name == "posix" {
				// Also by a name the test chose, in the shm_open form.
				key = strings.TrimPrefix(create(t, uniqueName(), 4096, nil), "posix:")
			}

			_, err := shmlib.Create(key, 4096, nil)
			wantErr(t, err, "create", shmlib.ErrExist, fs.ErrExist)
			wantErrno(t, err, unix.EEXIST)

			for _, size := range []uint64{4096, 1} {
				c, err := shmlib.Create(key, size, &shmlib.CreateOptions{OpenExisting: true, Mode: 0o644})
				if err != nil || !c.Opened {
					t.Fatalf("Create(%q, %d, OpenExisting) = %+v, %v; want it opened", key, size, c, err)
				}
			}
			info, err := shmlib.Stat(key)
			if err != nil || info.Mode != 0o600 || info.Size != 4096 {
				t.Errorf("after OpenExisting: mode %v size %d, %v; want the segment untouched (0600, 4096)", info.Mode, info.Size, err)
			}

			_, err = shmlib.Create(key, 4097, &shmlib.CreateOptions{OpenExisting: true})
			wantErr(t, err, "create", shmlib.ErrInvalid, fs.ErrInvalid)
		})
	}
}

func TestCreateOpenExistingMakesWhatIsMissing(t *testing.T) {
	name := uniqueName()
	c, err := shmlib.Create(name, 10, &shmlib.CreateOptions{OpenExisting: true})
	if err != nil {
		t.Fatal(err)
	}
	destroyAtEnd(t, c.Key)
	if c.Opened {
		t.Errorf("Create(%q, OpenExisting) on no segment says Opened", name)
	}
}

func TestCreateInvalid(t *testing.T) {
	for _, tc := range []struct {
		name, key string
		size      uint64
		opt       *shmlib.CreateOptions
	}{
		{"size 0", "", 0, nil},
		{"size 0 sysv", "sysv:", 0, nil},
		{"mode beyond 0777", "", 1, &shmlib.CreateOptions{Mode: 0o1777}},
		{"file type bits", "", 1, &shmlib.CreateOptions{Mode: fs.ModeDir | 0o600}},
		{"by id", "sysv:id=1", 1, nil},
		{"malformed", "frames", 1, nil},
		{"two slashes", "posix:/a/b", 1, nil},
		{"IPC_PRIVATE by number", "sysv:key=0", 1, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := shmlib.Create(tc.key, tc.size, tc.opt)
			if err == nil {
				destroyAtEnd(t, c.Key)
			}
			wantErr(t, err, "create", shmlib.ErrInvalid, fs.ErrInvalid)
		})
	}
}

func TestCreateNotSupported(t *testing.T) {
	_, err := shmlib.Create(uniqueName(), 4096, &shmlib.CreateOptions{HugeTLB: true})
	wantErr(t, err, "create", shmlib.ErrNotSupported, nil)
	_, err = shmlib.Create("sysv:", 4096, &shmlib.CreateOptions{Sparse: true})
	wantErr(t, err, "create", shmlib.ErrNotSupported, nil)
}

func TestCreateHugeTLB(t *testing.T) {
	meminfo, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		t.Fatal(err)
	}
	const hugePage = 2 << 20
	c, err := shmlib.Create("sysv:", hugePage, &shmlib.CreateOptions{HugeTLB: true})
	if regexp.MustCompile(`(?m)^HugePages_Total:\s+0$`).Match(meminfo) {
		wantErr(t, err, "create", shmlib.ErrNotSupported, nil)
		return
	}
	if errors.Is(err, shmlib.ErrPermission) || errors.Is(err, shmlib.ErrNoMemory) {
		t.Skipf("huge pages are reserved, but not for this process: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	destroyAtEnd(t, c.Key)
	copy(mustBytes(t, attach(t, c.Key, nil)), "huge")
}

func TestCreateSparse(t *testing.T) {
	// 64 GiB that nobody touches: fine sparse, whatever /dev/shm holds.
	const size = 64 << 30
	key := create(t, "", size, &shmlib.CreateOptions{Sparse: true})
	var st unix.Stat_t
	if err := unix.Stat("/dev/shm/"+strings.TrimPrefix(key, "posix:/"), &st); err != nil {
		t.Fatal(err)
	}
	if st.Size != size || st.Blocks != 0 {
		t.Errorf("sparse segment: size %d, %d blocks allocated; want %d, 0", st.Size, st.Blocks, size)
	}
}

func TestCreateReservesPosixMemory(t *testing.T) {
	key := create(t, "", 1<<20, nil)
	var st unix.Stat_t
	if err := unix.Stat("/dev/shm/"+strings.TrimPrefix(key, "posix:/"), &st); err != nil {
		t.Fatal(err)
	}
	if st.Blocks*512 < 1<<20 {
		t.Errorf("%d bytes allocated for a 1 MiB segment; want all of it reserved at create", st.Blocks*512)
	}
}

func TestCreateTooBigLeavesNothing(t *testing.T) {
	var fsst unix.Statfs_t
	if err := unix.Statfs("/dev/shm", &fsst); err != nil {
		t.Fatal(err)
	}
	// More than /dev/shm can ever hold: refused at once, nothing allocated.
	size := fsst.Blocks*uint64(fsst.Bsize) + 1<<30
	name := uniqueName()
	c, err := shmlib.Create(name, size, nil)
	if err == nil {
		destroyAtEnd(t, c.Key)
	}
	wantErr(t, err, "create", shmlib.ErrNoMemory, nil)
	if _, err := os.Lstat("/dev/shm" + name); !os.IsNotExist(err) {
		t.Errorf("a failed create left /dev/shm%s behind (%v)", name, err)
	}
}
