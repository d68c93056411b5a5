// Package tests is the cross-language proof of libshm: Go, C and Python
// processes create, attach, write, detach and destroy the same kernel
// segments through build/libshm.so, following tests/peers/PROTOCOL.md.
//
// The test process itself never loads the library: a second Go runtime in
// a Go process is unsupported, and a fault there would take the harness
// down. Every Go peer is this test binary re-executed with peerEnv set,
// which TestMain turns into a peer before any test runs. The test process
// only orchestrates, checks, and cleans up with the pure-Go core
// (internal/segment), which needs no library.
package tests

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/libshm/libshm/internal/segment"
	"github.com/libshm/libshm/tests/internal/peer"
	"github.com/libshm/libshm/tests/internal/shmso"
)

// Environment of a re-executed test binary: which peer to play ("go"
// loads libshm.so with purego, "go-native" uses bindings/go/shmlib and no
// library), and the library to load.
const (
	peerEnv = "LIBSHM_XTEST_PEER"
	libEnv  = "LIBSHM_XTEST_LIB"
)

// setupTimeout bounds each command of the setup (compiling the C peer,
// finding Python).
const setupTimeout = 2 * time.Minute

// suite is what TestMain found and built for the tests.
var suite struct {
	root   string // the repository
	lib    string // build/libshm.so, absolute
	self   string // this test binary, the Go peer
	cPeer  string // tests/peers/peer.c, built
	python string // the Python interpreter, resolved past any shim
}

func TestMain(m *testing.M) {
	if role := os.Getenv(peerEnv); role != "" {
		os.Exit(runPeer(role))
	}
	os.Exit(runSuite(m))
}

// runPeer plays a Go peer: the script is the command line.
func runPeer(role string) int {
	switch role {
	case "go":
		lib, err := shmso.Open(os.Getenv(libEnv))
		if err != nil {
			fmt.Fprintln(os.Stderr, "peer:", err)
			return 2
		}
		return peer.Run(peer.Purego(lib), os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	case "go-native":
		return peer.Run(peer.Native(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	}
	fmt.Fprintf(os.Stderr, "peer: unknown role %q\n", role)
	return 2
}

// runSuite prepares the peers, runs the tests between two snapshots of the
// machine's segments, and fails if any segment of ours was left behind,
// which it then destroys: a failed run must not leave the machine full.
func runSuite(m *testing.M) int {
	tmp, err := os.MkdirTemp("", "libshm-xtest-")
	if err == nil {
		defer os.RemoveAll(tmp)
		err = setUp(tmp)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "tests: setup:", err)
		return 1
	}
	before, err := snapshot()
	if err != nil {
		fmt.Fprintln(os.Stderr, "tests:", err)
		return 1
	}
	code := m.Run()
	after, err := snapshot()
	if err != nil {
		fmt.Fprintln(os.Stderr, "tests:", err)
		return 1
	}
	if left := leaks(before, after); len(left) > 0 {
		fmt.Fprintf(os.Stderr, "tests: segments left behind (now destroyed):\n\t%s\n", strings.Join(left, "\n\t"))
		for _, key := range left {
			if err := segment.Destroy(key); err != nil {
				fmt.Fprintln(os.Stderr, "tests:", err)
			}
		}
		code = 1
	}
	return code
}

func setUp(tmp string) error {
	wd, err := os.Getwd() // go test runs in the package directory, tests/
	if err != nil {
		return err
	}
	suite.root = filepath.Dir(wd)
	suite.lib = filepath.Join(suite.root, "build", "libshm.so")
	if _, err := os.Stat(suite.lib); err != nil {
		return fmt.Errorf("%w (run `make lib` first)", err)
	}
	if suite.self, err = os.Executable(); err != nil {
		return err
	}
	if suite.cPeer, err = buildCPeer(tmp); err != nil {
		return err
	}
	if suite.python, err = findPython(); err != nil {
		return err
	}
	// Peers that crash on purpose (a write to a read-only mapping) must
	// not leave core files; children inherit the limit.
	return syscall.Setrlimit(syscall.RLIMIT_CORE, &syscall.Rlimit{})
}

// buildCPeer compiles tests/peers/peer.c against the header and links it
// with build/libshm.so, found at run time through its rpath.
func buildCPeer(dir string) (string, error) {
	cc := os.Getenv("CC")
	if cc == "" {
		cc = "cc"
	}
	out := filepath.Join(dir, "peer")
	build := filepath.Join(suite.root, "build")
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, cc, "-std=c11", "-D_GNU_SOURCE", "-O2", "-Wall", "-Wextra", "-Werror",
		"-I"+filepath.Join(suite.root, "include"), "-o", out,
		filepath.Join(suite.root, "tests", "peers", "peer.c"),
		"-L"+build, "-lshm", "-Wl,-rpath,"+build)
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building the C peer: %v\n%s", err, msg)
	}
	return out, nil
}

// findPython resolves python3 to the interpreter itself: a shim (pyenv)
// in between would cost time at every start and could hide how a peer
// died.
func findPython() (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, "python3", "-c", "import sys; print(sys.executable)").Output()
	if err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			err = fmt.Errorf("%v: %s", err, exit.Stderr)
		}
		return "", fmt.Errorf("python3: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}
