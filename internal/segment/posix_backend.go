package segment

import (
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/libshm/libshm/internal/errs"
	"github.com/libshm/libshm/internal/keys"
	"github.com/libshm/libshm/internal/posix"
	"github.com/libshm/libshm/internal/proc"
)

// posixBackend is POSIX objects, files in /dev/shm (internal/posix).
type posixBackend struct{}

func (posixBackend) kind() keys.Backend { return keys.Posix }

func (posixBackend) create(shown string, k keys.Key, size uint64, opt CreateOptions) (Created, error) {
	const op = "create"
	if opt.HugeTLB {
		return Created{}, errs.New(op, shown, errs.ErrNotSupported, "huge pages are not available for POSIX segments in /dev/shm (tmpfs); use a System V segment")
	}
	auto := k.Form == keys.Auto
	if !opt.Sparse {
		// What exists already is opened, not reserved again.
		if err := checkBacking(shown, size, true); err != nil && !(opt.OpenExisting && !auto && exists(k.Name)) {
			return Created{}, err
		}
	}
	for try := 0; ; try++ {
		if auto {
			name, err := randomName()
			if err != nil {
				return Created{}, errs.OS(op, shown, err)
			}
			k = keys.ForPosix(name)
		}
		err := posix.Create(k.Name, int64(size), opt.Mode, opt.Sparse)
		switch {
		case err == nil:
			return Created{Key: k.String()}, nil
		case !errors.Is(err, unix.EEXIST):
			return Created{}, createPosixError(shown, size, err)
		case auto && try < autoTries:
			continue
		case opt.OpenExisting && !auto:
			return openExistingPosix(shown, k, size)
		}
		return Created{}, errs.OS(op, shown, err)
	}
}

// devShmFree is the space left in /dev/shm, in bytes.
func devShmFree() (uint64, bool) {
	var fs unix.Statfs_t
	if unix.Statfs(posix.Dir, &fs) != nil {
		return 0, false
	}
	return fs.Bavail * uint64(fs.Bsize), true
}

func exists(name string) bool {
	_, err := posix.Stat(name)
	return err == nil
}

func createPosixError(shown string, size uint64, err error) *errs.Error {
	e := errs.OS("create", shown, err)
	if errors.Is(err, unix.ENOSPC) || errors.Is(err, unix.EFBIG) {
		free := "unknown"
		if n, ok := devShmFree(); ok {
			free = fmt.Sprint(n)
		}
		e.Code = errs.ErrNoMemory
		e.Msg = fmt.Sprintf("not enough space in %s for %d bytes (%s bytes free); nothing was created", posix.Dir, size, free)
	}
	return e
}

func openExistingPosix(shown string, k keys.Key, size uint64) (Created, error) {
	st, err := posix.Stat(k.Name)
	if err == nil {
		// Opening an existing segment promises the caller can use it.
		err = posix.CheckAccess(k.Name)
	}
	if err != nil {
		return Created{}, existingError(shown, err)
	}
	if uint64(st.Size) < size {
		return Created{}, errs.New("create", shown, errs.ErrInvalid, fmt.Sprintf("it exists with %d bytes, fewer than the %d asked for", st.Size, size))
	}
	return Created{Key: k.String(), Opened: true}, nil
}

// randomName is a new POSIX name that says who made it, for Reap:
// "shmlib-PID-START-RANDOM", START the creator's start time in hex, which
// tells it from a later process with the same pid.
func randomName() (string, error) {
	var b [8]byte
	if err := fillRandom(b[:]); err != nil {
		return "", err
	}
	return fmt.Sprintf("shmlib-%d-%x-%s", os.Getpid(), creatorStart, hex.EncodeToString(b[:])), nil
}

// creatorStart is this process's start time, computed once.
var creatorStart = uint64(max(proc.StartTime(os.Getpid()), 0))

func (posixBackend) attach(shown string, k keys.Key, opt AttachOptions) (*mapping, error) {
	addr, size, err := posix.Map(k.Name, posix.MapOptions{
		Hint: opt.Hint, Fixed: opt.Fixed, ReadOnly: opt.ReadOnly, Populate: opt.Populate,
	})
	if err != nil {
		return nil, attachError(shown, k, opt, err)
	}
	return &mapping{key: k, addr: addr, size: uint64(size), readOnly: opt.ReadOnly}, nil
}

func posixInfo(name string, st *unix.Stat_t) Info {
	return Info{
		Key:     keys.ForPosix(name).String(),
		Backend: keys.Posix,
		Size:    uint64(st.Size),
		Nattach: -1,
		Atime:   st.Atim.Sec,
		Ctime:   st.Ctim.Sec,
		Mode:    st.Mode & 0o777,
		UID:     st.Uid, GID: st.Gid,
		CUID: st.Uid, CGID: st.Gid,
		ShmID: -1,
	}
}

// ownName reads a POSIX name libshm chose, shmlib-PID-START-RANDOM (see
// randomName): the creator's pid and start time, and whether it is one.
// (By hand rather than with regexp, which would add half a megabyte to
// libshm.so.)
func ownName(name string) (pid int, start uint64, ok bool) {
	rest, ok := strings.CutPrefix(name, "shmlib-")
	parts := strings.Split(rest, "-")
	if !ok || len(parts) != 3 || len(parts[2]) != 16 || !isHex(parts[2]) {
		return 0, 0, false
	}
	pid, err := strconv.Atoi(parts[0])
	if err != nil || pid <= 0 || parts[0][0] == '+' {
		return 0, 0, false
	}
	start, err = strconv.ParseUint(parts[1], 16, 64)
	if err != nil || !isHex(parts[1]) {
		return 0, 0, false
	}
	return pid, start, true
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return s != ""
}

// posixInUse is the set of /dev/shm names that some process has mapped or
// open, from every process's /proc/PID/maps and /proc/PID/fd. A process
// this one may not look into counts as using nothing it cannot see; names
// it cannot see used are only reaped if their creator is dead as well.
func posixInUse() map[string]bool {
	inUse := make(map[string]bool)
	prefix := posix.Dir + "/"
	pids, _ := filepath.Glob("/proc/[0-9]*")
	for _, dir := range pids {
		if maps, err := os.ReadFile(dir + "/maps"); err == nil {
			for _, line := range strings.Split(string(maps), "\n") {
				if i := strings.Index(line, prefix); i >= 0 {
					name, _, _ := strings.Cut(line[i+len(prefix):], " ")
					inUse[name] = true
				}
			}
		}
		fds, _ := os.ReadDir(dir + "/fd")
		for _, fd := range fds {
			if target, err := os.Readlink(dir + "/fd/" + fd.Name()); err == nil && strings.HasPrefix(target, prefix) {
				name, _, _ := strings.Cut(target[len(prefix):], " ")
				inUse[name] = true
			}
		}
	}
	return inUse
}

// unmap also ends memfd mappings: both are mmaps of a file.
func (posixBackend) unmap(m *mapping) error { return posix.Unmap(m.addr, int64(m.size)) }

func (posixBackend) destroy(k keys.Key) error {
	err := posix.Unlink(k.Name)
	if err == nil {
		return nil
	}
	e := errs.OS("destroy", k.String(), err)
	switch {
	case errors.Is(err, posix.ErrNotObject):
		e.Code, e.Msg = errs.ErrInvalid, err.Error()+"; destroy removes only shared memory objects, so it is left alone"
	case e.Code == errs.ErrPermission:
		e.Msg = "permission denied: /dev/shm is sticky, so only the segment's owner or a privileged process may remove it"
	}
	return e
}

func (posixBackend) stat(k keys.Key) (Info, error) {
	st, err := posix.Stat(k.Name)
	if err != nil {
		return Info{}, err
	}
	return posixInfo(k.Name, &st), nil
}

func (posixBackend) statError(op string, k keys.Key, err error) *errs.Error {
	e := errs.OS(op, k.String(), err)
	if errors.Is(err, posix.ErrNotObject) {
		e.Code, e.Msg = errs.ErrInvalid, err.Error()
	}
	return e
}

func (posixBackend) list() ([]Info, error) {
	objects, err := posix.List()
	if err != nil {
		return nil, &errs.Error{Op: "list", Key: posix.Dir, Code: errs.ErrOS, Msg: fmt.Sprint(err), Err: err}
	}
	infos := make([]Info, 0, len(objects))
	for i := range objects {
		infos = append(infos, posixInfo(objects[i].Name, &objects[i].Stat))
	}
	return infos, nil
}

func (posixBackend) head(info *Info, n int) []byte {
	b, err := posix.ReadHead(info.Key[len("posix:/"):], n)
	if err != nil {
		return nil
	}
	return b
}

// orphaned: a name libshm chose carries its creator's pid and start time;
// nobody may have it mapped or open.
func (posixBackend) orphaned(in *Info, r *reaping) bool {
	name := strings.TrimPrefix(in.Key, "posix:/")
	pid, start, ok := ownName(name)
	if !ok {
		return false
	}
	in.CPID = int32(pid) // the kernel does not know it; the name does
	if r.posixInUse()[name] {
		return false
	}
	return !creatorAlive(pid, start, r)
}

// creatorAlive reports whether the process that chose a POSIX name still
// runs. The name holds its pid as its own pid namespace saw it, which may
// not be ours (containers sharing /dev/shm): it is found here by pid and
// start time, or in a nested namespace by its pid there and start time.
// Outside the initial pid namespace some processes cannot be seen at all,
// so a creator not found there counts as alive: never reap on a guess.
func creatorAlive(pid int, start uint64, r *reaping) bool {
	if proc.Alive(pid, func(s int64) bool { return uint64(s) == start }) {
		return true
	}
	return !proc.SeesAll() || r.nestedProcs()[[2]int64{int64(pid), int64(start)}]
}

func (posixBackend) openFile(m Mapping) (int, error) {
	fd, err := unix.Open(posix.Path(m.m.key.Name), unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, errs.OS("attach", m.Key, os.NewSyscallError("open", err))
	}
	return fd, nil
}
