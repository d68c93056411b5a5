package segment

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/libshm/libshm/internal/keys"
	"github.com/libshm/libshm/internal/memfd"
	"github.com/libshm/libshm/internal/posix"
)

// held is the memfd segments this process holds, created here or received
// over a socket, by descriptor. The descriptor is the segment's lifeline
// and its name (memfd:pid=P,fd=F): destroy closes it.
var held = struct {
	sync.Mutex
	fds map[int32]bool
}{fds: make(map[int32]bool)}

func hold(fd int) keys.Key {
	held.Lock()
	held.fds[int32(fd)] = true
	held.Unlock()
	return keys.ForMemfd(int32(os.Getpid()), int32(fd))
}

func holds(fd int32) bool {
	held.Lock()
	defer held.Unlock()
	return held.fds[fd]
}

// heldFDs lists the descriptors this process holds, in order.
func heldFDs() []int32 {
	held.Lock()
	defer held.Unlock()
	fds := make([]int32, 0, len(held.fds))
	for fd := range held.fds {
		fds = append(fds, fd)
	}
	sort.Slice(fds, func(i, j int) bool { return fds[i] < fds[j] })
	return fds
}

func own(k keys.Key) bool { return int(k.PID) == os.Getpid() }

func createMemfd(shown string, k keys.Key, size uint64, opt CreateOptions) (Created, error) {
	switch {
	case k.Form != keys.Auto:
		return Created{}, NewError("create", shown, ErrInvalid, "a memfd segment is named by its holder once made; create one with memfd:")
	case opt.HugeTLB:
		return Created{}, NewError("create", shown, ErrNotSupported, "huge pages are not available for memfd segments here; use a System V segment")
	case opt.OpenExisting:
		return Created{}, NewError("create", shown, ErrInvalid, "a new memfd never exists already: SHMLIB_OPEN_EXISTING does not apply")
	}
	fd, err := memfd.Create(int64(size), opt.Mode, opt.Sparse)
	if err != nil {
		return Created{}, createPosixError(shown, size, err)
	}
	return Created{Key: hold(fd).String()}, nil
}

// mapMemfd maps a memfd: this process's own by its descriptor, another's
// through /proc/PID/fd/FD.
func mapMemfd(shown string, k keys.Key, opt AttachOptions) (*mapping, error) {
	popt := posix.MapOptions{Hint: opt.Hint, Fixed: opt.Fixed, ReadOnly: opt.ReadOnly, Populate: opt.Populate}
	fd := int(k.FD)
	if own(k) {
		if !holds(k.FD) {
			return nil, memfdError("attach", shown, k, unix.ENOENT)
		}
	} else {
		var err error
		if fd, err = memfd.OpenHeld(int(k.PID), int(k.FD), opt.ReadOnly); err != nil {
			return nil, memfdError("attach", shown, k, err)
		}
		defer unix.Close(fd)
	}
	addr, size, err := posix.MapFd(fd, popt)
	if err != nil {
		return nil, attachError(shown, k, opt, err)
	}
	return &mapping{key: k, addr: addr, size: uint64(size), readOnly: opt.ReadOnly}, nil
}

func destroyMemfd(shown string, k keys.Key) error {
	if !own(k) {
		return NewError("destroy", shown, ErrPermission, fmt.Sprintf("only process %d, which holds it, can destroy it; it goes when that process closes or exits and the last mapping ends", k.PID))
	}
	held.Lock()
	ok := held.fds[k.FD]
	delete(held.fds, k.FD)
	held.Unlock()
	if !ok {
		return memfdError("destroy", shown, k, unix.ENOENT)
	}
	unix.Close(int(k.FD))
	return nil
}

func statMemfd(k keys.Key) (Info, error) {
	var st unix.Stat_t
	var err error
	if own(k) {
		if !holds(k.FD) {
			return Info{}, os.NewSyscallError("fstat", unix.ENOENT)
		}
		err = unix.Fstat(int(k.FD), &st)
	} else {
		st, err = memfd.StatHeld(int(k.PID), int(k.FD))
	}
	if err != nil {
		return Info{}, err
	}
	info := posixInfo("", &st)
	info.Key, info.Backend, info.CPID = k.String(), keys.Memfd, k.PID
	return info, nil
}

// listMemfds describes the memfd segments this process holds: those of
// other processes have no name to find them by.
func listMemfds() []Info {
	var infos []Info
	for _, fd := range heldFDs() {
		if info, err := statMemfd(keys.ForMemfd(int32(os.Getpid()), fd)); err == nil {
			infos = append(infos, info)
		}
	}
	return infos
}

// memfdError explains a memfd key that leads nowhere.
func memfdError(op, shown string, k keys.Key, err error) *Error {
	e := osError(op, shown, err)
	switch {
	case errors.Is(err, unix.ENOENT):
		e.Code, e.Msg, e.Err = ErrNotExist, fmt.Sprintf("no such segment (process %d holds no memfd as descriptor %d, or has exited)", k.PID, k.FD), unix.ENOENT
	case errors.Is(err, memfd.ErrNotSegment):
		e.Code, e.Msg = ErrInvalid, fmt.Sprintf("descriptor %d of process %d is not a memfd segment", k.FD, k.PID)
	case e.Code == ErrPermission:
		e.Msg = "permission denied: only processes of the same user (or root) may open another's memfd, and then as its mode allows"
	}
	return e
}

// SendMemfd passes the memfd segment named by key, which this process
// holds, to the process at the other end of the Unix socket sock.
func SendMemfd(sock int, key string) error {
	const op = "memfd_send"
	k, err := parseKey(op, key)
	if err != nil {
		return err
	}
	if k.Backend != keys.Memfd || !own(k) || !holds(k.FD) {
		return NewError(op, k.String(), ErrInvalid, "not a memfd segment this process holds")
	}
	if err := memfd.Send(sock, int(k.FD)); err != nil {
		return osError(op, k.String(), err)
	}
	return nil
}

// ReceiveMemfd waits for a memfd segment sent with SendMemfd on the Unix
// socket sock; this process then holds it too, under the key returned.
func ReceiveMemfd(sock int) (string, error) {
	const op = "memfd_recv"
	fd, err := memfd.Receive(sock)
	if err != nil {
		e := osError(op, "", err)
		if errors.Is(err, memfd.ErrNotSegment) || errors.Is(err, memfd.ErrNoDescriptor) {
			e.Code, e.Msg = ErrInvalid, err.Error()
		}
		return "", e
	}
	return hold(fd).String(), nil
}

// headMemfd reads the first n bytes of a memfd segment, for Head.
func headMemfd(k keys.Key, n int) []byte {
	fd := int(k.FD)
	if !own(k) {
		var err error
		if fd, err = memfd.OpenHeld(int(k.PID), int(k.FD), true); err != nil {
			return nil
		}
		defer unix.Close(fd)
	} else if !holds(k.FD) {
		return nil
	}
	b := make([]byte, n)
	if got, err := unix.Pread(fd, b, 0); err != nil || got != n {
		return nil
	}
	return b
}
