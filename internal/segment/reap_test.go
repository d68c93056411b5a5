package segment

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// orphanMakerEnv makes the test binary play a process that creates
// segments and exits without destroying them.
const orphanMakerEnv = "LIBSHM_TEST_ORPHAN_MAKER"

func init() {
	if name := os.Getenv(orphanMakerEnv); name != "" {
		for _, key := range []string{"posix:", "sysv:", "posix:/" + name} {
			made, err := Create(key, 4096, CreateOptions{})
			if err != nil {
				fmt.Println("error", err)
				os.Exit(1)
			}
			fmt.Println(made.Key)
		}
		os.Exit(0)
	}
}

func TestReap(t *testing.T) {
	named := strings.TrimPrefix(uniquePosix(t), "posix:/")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), orphanMakerEnv+"="+named)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("the orphan maker: %v\n%s", err, out)
	}
	var orphans []string
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		orphans = append(orphans, sc.Text())
	}
	for _, key := range orphans {
		t.Cleanup(func() { Destroy(key) })
	}
	if len(orphans) != 3 {
		t.Fatalf("the orphan maker printed %q", out)
	}
	posixOrphan, sysvOrphan, userNamed := orphans[0], orphans[1], orphans[2]
	live := mustCreate(t, "posix:", 4096, CreateOptions{}) // its creator, this process, lives
	attached := mustCreate(t, "posix:", 4096, CreateOptions{})

	found := func(destroy bool) map[string]bool {
		t.Helper()
		infos, err := Reap(destroy)
		if err != nil {
			t.Fatal(err)
		}
		keys := map[string]bool{}
		for _, in := range infos {
			keys[in.Key] = true
		}
		return keys
	}
	dry := found(false)
	if !dry[posixOrphan] || !dry[sysvOrphan] {
		t.Fatalf("Reap does not find the dead creator's %s and %s: %v", posixOrphan, sysvOrphan, dry)
	}
	infos, err := Reap(false)
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range infos {
		if in.Key == posixOrphan && int(in.CPID) != cmd.Process.Pid {
			t.Errorf("Reap gives %s the creator pid %d; the orphan maker was %d", in.Key, in.CPID, cmd.Process.Pid)
		}
	}
	if dry[userNamed] || dry[live] {
		t.Fatalf("Reap lists %s (named by its user) or %s (its creator lives): %v", userNamed, live, dry)
	}
	if _, err := Stat(posixOrphan); err != nil {
		t.Fatalf("a dry run destroyed %s: %v", posixOrphan, err)
	}

	// An orphan that some process has attached is in use: not reaped.
	m := mustAttach(t, posixOrphan, AttachOptions{})
	if found(false)[posixOrphan] {
		t.Fatalf("Reap lists %s while it is attached at %p", posixOrphan, m.Addr)
	}
	if err := Detach(m.Addr); err != nil {
		t.Fatal(err)
	}
	if os.Getenv("SHMLIB_TEST_ISOLATED") != "1" {
		t.Skip("Reap(destroy) would destroy other programs' orphans too on a shared /dev/shm; " +
			"make test runs this in a private one (scripts/isolate.sh)")
	}
	reaped := found(true)
	for _, key := range []string{posixOrphan, sysvOrphan} {
		if !reaped[key] {
			t.Errorf("Reap(destroy) did not reap %s", key)
		}
		if _, err := Stat(key); err == nil {
			t.Errorf("%s is still there after Reap(destroy)", key)
		}
	}
	for _, key := range []string{userNamed, live, attached} {
		if _, err := Stat(key); err != nil {
			t.Errorf("Reap(destroy) destroyed %s, which was not its to reap: %v", key, err)
		}
	}
}

func TestOwnName(t *testing.T) {
	for name, want := range map[string]bool{
		"shmlib-123-1a2b-0123456789abcdef":  true,
		"shmlib-123-1a2b-0123456789abcde":   false, // 15 hex digits
		"shmlib-123-1A2B-0123456789abcdef":  false, // upper case: not ours
		"shmlib-+12-1a2b-0123456789abcdef":  false,
		"shmlib-0-1a2b-0123456789abcdef":    false,
		"shmlib-12-1a2b-0123456789abcdef-x": false,
		"shmlib-0123456789abcdef":           false, // the names of libshm 0.1's first builds
		"psm_12-1a2b-0123456789abcdef":      false,
		"shmlib-12--0123456789abcdef":       false,
	} {
		if _, _, ok := ownName(name); ok != want {
			t.Errorf("ownName(%q) = %v, want %v", name, ok, want)
		}
	}
	made, err := randomName()
	if err != nil {
		t.Fatal(err)
	}
	if pid, _, ok := ownName(made); !ok || pid != os.Getpid() {
		t.Fatalf("ownName(%q) = %d, %v: the generated name is not recognised", made, pid, ok)
	}
}
