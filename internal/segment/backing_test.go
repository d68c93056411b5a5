package segment

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/libshm/libshm/internal/errs"
	"github.com/libshm/libshm/internal/memlimit"
	"github.com/libshm/libshm/internal/posix"
)

// TestCreateMoreThanMemory: a create the machine cannot back is refused
// before anything is reserved. (Unrefused, the memfd's fallocate would set
// off the machine's OOM killer: the test makes sure the limit is known
// before it asks.)
func TestCreateMoreThanMemory(t *testing.T) {
	const huge = 1 << 50
	if room, ok := memlimit.Tightest(); !ok || room.Bytes >= huge {
		t.Fatalf("memlimit.Tightest() = %+v, %v: the machine's memory is unknown, so the test cannot safely go on", room, ok)
	}
	_, err := Create("memfd:", huge, CreateOptions{})
	wantCode(t, err, errs.ErrNoMemory, "cannot be backed", "available", "nothing was created")
	// A POSIX object is refused for the memory, or for the space of
	// /dev/shm where that is smaller: whichever limit is the tighter.
	for _, key := range []string{"posix:", uniquePosix(t)} {
		_, err := Create(key, huge, CreateOptions{})
		wantCode(t, err, errs.ErrNoMemory, "nothing was created")
	}
	if _, err := os.Stat(posix.Path(strings.TrimPrefix(uniquePosix(t), "posix:/"))); !os.IsNotExist(err) {
		t.Fatalf("the refused create left its /dev/shm file behind (%v)", err)
	}
	// System V reserves nothing at create, but the kernel accounts the size
	// and refuses more than memory and swap together; the message names
	// what there is.
	// (With vm.overcommit_memory 1 it accounts nothing and lets it be.)
	if mode, _ := os.ReadFile("/proc/sys/vm/overcommit_memory"); strings.TrimSpace(string(mode)) != "1" {
		made, err := Create("sysv:", huge, CreateOptions{})
		if err == nil {
			Destroy(made.Key)
		}
		wantCode(t, err, errs.ErrNoMemory, "not enough memory", "available")
	}
	// A sparse memfd reserves nothing, so it is not refused (nor touched).
	mustCreate(t, "memfd:", huge, CreateOptions{Sparse: true})
}

// cgroupEnv makes the test binary, re-executed, move itself into the
// memory cgroup it names and play the small-cgroup role.
const cgroupEnv = "LIBSHM_TEST_CGROUP"

func init() {
	if dir := os.Getenv(cgroupEnv); dir != "" {
		os.Exit(inSmallCgroup(dir))
	}
}

// TestCreateInASmallCgroup: in a memory cgroup of 64 MiB, a create of 128
// MiB fails with errs.ErrNoMemory naming the cgroup, instead of the cgroup's
// OOM killer taking the process (and leaving a half-made /dev/shm file).
// It runs in a child process placed in a cgroup made under this process's
// own, which needs root (CI runs as root).
func TestCreateInASmallCgroup(t *testing.T) {
	dir := smallCgroup(t, 64<<20)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), cgroupEnv+"="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("in a memory cgroup of 64 MiB: %v\n%s", err, out)
	}
}

// smallCgroup makes a memory cgroup limited to limit bytes under this
// process's own (v2, or v1 where memory is a v1 controller) and removes it
// when the test ends; it skips, saying why, where none can be made.
func smallCgroup(t *testing.T, limit int) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("making a memory cgroup needs root")
	}
	own, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		t.Skipf("no /proc/self/cgroup: %v", err)
	}
	var base, limitFile string
	var why []string
	for _, line := range strings.Split(strings.TrimSpace(string(own)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		switch {
		case parts[0] == "0" && parts[1] == "":
			b := filepath.Join("/sys/fs/cgroup", parts[2])
			if err := enableMemory(b); err != nil {
				why = append(why, fmt.Sprintf("cgroup v2 at %s: %v", b, err))
				continue
			}
			base, limitFile = b, "memory.max"
		case strings.Contains(","+parts[1]+",", ",memory,"):
			b := filepath.Join("/sys/fs/cgroup/memory", parts[2])
			if _, err := os.Stat(filepath.Join(b, "memory.limit_in_bytes")); err != nil {
				why = append(why, fmt.Sprintf("cgroup v1 memory at %s: %v", b, err))
				continue
			}
			base, limitFile = b, "memory.limit_in_bytes"
		}
		if base != "" {
			break
		}
	}
	if base == "" {
		t.Skipf("no memory cgroup can be made here: %s", strings.Join(why, "; "))
	}
	dir := filepath.Join(base, fmt.Sprintf("libshm-test-%d", os.Getpid()))
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Skipf("cannot make a cgroup under %s: %v", base, err)
	}
	t.Cleanup(func() {
		// A cgroup goes once its last process is gone, which the kernel
		// notices a moment after the exit.
		for i := 0; ; i++ {
			err := os.Remove(dir)
			if err == nil || i == 100 {
				if err != nil {
					t.Errorf("removing the cgroup %s: %v", dir, err)
				}
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
	if err := os.WriteFile(filepath.Join(dir, limitFile), []byte(strconv.Itoa(limit)), 0); err != nil {
		t.Fatalf("setting %s of %s: %v", limitFile, dir, err)
	}
	return dir
}

// enableMemory makes the memory controller available to v2 cgroups made
// under dir.
func enableMemory(dir string) error {
	control, err := os.ReadFile(filepath.Join(dir, "cgroup.subtree_control"))
	if err != nil {
		return err
	}
	if strings.Contains(" "+strings.TrimSpace(string(control))+" ", " memory ") {
		return nil
	}
	// Fails where dir holds processes itself (cgroup v2's rule that only
	// leaves hold processes), or the controller is not there at all.
	return os.WriteFile(filepath.Join(dir, "cgroup.subtree_control"), []byte("+memory"), 0)
}

// inSmallCgroup is the child: it moves into the cgroup dir, then creates.
func inSmallCgroup(dir string) int {
	fail := func(format string, args ...any) int {
		fmt.Printf(format+"\n", args...)
		return 1
	}
	if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(os.Getpid())), 0); err != nil {
		return fail("joining the cgroup %s: %v", dir, err)
	}
	name := fmt.Sprintf("libshm-test-%d-cgroup", os.Getpid())
	for _, key := range []string{"memfd:", "posix:/" + name} {
		_, err := Create(key, 128<<20, CreateOptions{})
		var e *errs.Error
		if !errors.As(err, &e) || e.Code != errs.ErrNoMemory || !strings.Contains(e.Msg, "cgroup "+dir) {
			return fail("128 MiB %s in a 64 MiB cgroup: got %v, want errs.ErrNoMemory naming the cgroup %s", key, err, dir)
		}
	}
	if _, err := os.Stat(posix.Path(name)); !os.IsNotExist(err) {
		return fail("the refused create left /dev/shm/%s behind (%v)", name, err)
	}
	// What fits is made, and its memory reserved.
	for _, key := range []string{"memfd:", "posix:/" + name} {
		made, err := Create(key, 16<<20, CreateOptions{})
		if err != nil {
			return fail("16 MiB %s in a 64 MiB cgroup: %v", key, err)
		}
		if err := Destroy(made.Key); err != nil {
			return fail("destroy %s: %v", made.Key, err)
		}
	}
	return 0
}
