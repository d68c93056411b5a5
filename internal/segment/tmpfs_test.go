package segment

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"testing"

	"github.com/libshm/libshm/internal/errs"
	"github.com/libshm/libshm/internal/posix"
)

// fullShmEnv makes the test binary, re-executed inside a private mount
// namespace with a 1 MiB tmpfs over /dev/shm, play the full-/dev/shm role.
const fullShmEnv = "LIBSHM_TEST_FULL_DEVSHM"

func init() {
	if os.Getenv(fullShmEnv) != "" {
		os.Exit(fullDevShm())
	}
}

// TestCreateOnAFullDevShm: asking for more than /dev/shm holds fails at
// create, cleanly and leaving nothing, instead of a SIGBUS at first touch.
// It needs a /dev/shm of its own, so it runs in a mount namespace made by
// unshare(1), which needs root (CI runs as root).
func TestCreateOnAFullDevShm(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a small tmpfs over /dev/shm in a private mount namespace")
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Skip("needs unshare(1) from util-linux for a private mount namespace")
	}
	cmd := exec.Command(unshare, "--mount", "--propagation", "private", "sh", "-c",
		"mount -t tmpfs -o size=1m tmpfs /dev/shm && exec \"$0\" -test.run=^$", os.Args[0])
	cmd.Env = append(os.Environ(), fullShmEnv+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("in a private /dev/shm of 1 MiB: %v\n%s", err, out)
	}
}

func fullDevShm() int {
	check := func(ok bool, format string, args ...any) {
		if !ok {
			fmt.Printf(format+"\n", args...)
			os.Exit(1)
		}
	}
	_, err := Create("posix:/too-big", 4<<20, CreateOptions{})
	check(errors.Is(err, errs.ErrNoMemory), "4 MiB in a 1 MiB /dev/shm: got %v, want errs.ErrNoMemory", err)
	_, statErr := os.Stat(posix.Path("too-big"))
	check(os.IsNotExist(statErr), "the failed create left /dev/shm/too-big behind (%v)", statErr)

	// What fits is created, and its memory is really there.
	made, err := Create("posix:/fits", 512<<10, CreateOptions{})
	check(err == nil, "512 KiB in a 1 MiB /dev/shm: %v", err)
	_, err = Create("posix:/no-room-left", 768<<10, CreateOptions{})
	check(errors.Is(err, errs.ErrNoMemory), "768 KiB more: got %v, want errs.ErrNoMemory", err)

	// Sparse opts out of the reservation: created, though it cannot be filled.
	sparse, err := Create("posix:/sparse", 4<<20, CreateOptions{Sparse: true})
	check(err == nil, "a sparse 4 MiB segment: %v", err)
	check(Destroy(sparse.Key) == nil && Destroy(made.Key) == nil, "destroy failed")
	return 0
}
