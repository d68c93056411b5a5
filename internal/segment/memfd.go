package segment

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/libshm/libshm/internal/errs"
	"github.com/libshm/libshm/internal/keys"
	"github.com/libshm/libshm/internal/memfd"
	"github.com/libshm/libshm/internal/posix"
)

// held is the memfd segments this process holds, created here or received
// over a socket: descriptor to inode. The descriptor is the segment's
// lifeline and, with the inode, its name (memfd:pid=P,fd=F,ino=I): destroy
// closes it. The inode tells the segment from whatever later gets the same
// descriptor number, so that a stale key finds nothing rather than that.
var held = struct {
	sync.Mutex
	fds map[int32]uint64
}{fds: make(map[int32]uint64)}

// hold records fd as held and returns its key. The inode comes from fstat,
// which cannot fail on a descriptor just made or received.
func hold(fd int) keys.Key {
	var st unix.Stat_t
	unix.Fstat(fd, &st)
	held.Lock()
	held.fds[int32(fd)] = st.Ino
	held.Unlock()
	return keys.ForMemfd(int32(os.Getpid()), int32(fd), st.Ino)
}

// holds reports whether this process holds the memfd k names.
func holds(k keys.Key) bool {
	held.Lock()
	defer held.Unlock()
	ino, ok := held.fds[k.FD]
	return ok && ino == k.Ino
}

// heldKeys lists the keys of the memfds this process holds, by descriptor.
func heldKeys() []keys.Key {
	held.Lock()
	defer held.Unlock()
	ks := make([]keys.Key, 0, len(held.fds))
	for fd, ino := range held.fds {
		ks = append(ks, keys.ForMemfd(int32(os.Getpid()), fd, ino))
	}
	sort.Slice(ks, func(i, j int) bool { return ks[i].FD < ks[j].FD })
	return ks
}

// openHeld opens another process's memfd by its key: the descriptor must
// still hold the segment the key was made for.
func openHeld(k keys.Key, readOnly bool) (int, error) {
	fd, err := memfd.OpenHeld(int(k.PID), int(k.FD), readOnly)
	if err != nil {
		return -1, err
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil || st.Ino != k.Ino {
		unix.Close(fd)
		return -1, os.NewSyscallError("open", unix.ENOENT)
	}
	return fd, nil
}

func own(k keys.Key) bool { return int(k.PID) == os.Getpid() }

// memfdBackend is memfd segments (internal/memfd): held by descriptor,
// named by holder, descriptor and inode.
type memfdBackend struct{}

func (memfdBackend) kind() keys.Backend { return keys.Memfd }

func (memfdBackend) create(shown string, k keys.Key, size uint64, opt CreateOptions) (Created, error) {
	switch {
	case k.Form != keys.Auto:
		return Created{}, errs.New("create", shown, errs.ErrInvalid, "a memfd segment is named by its holder once made; create one with memfd:")
	case opt.HugeTLB:
		return Created{}, errs.New("create", shown, errs.ErrNotSupported, "huge pages are not available for memfd segments here; use a System V segment")
	case opt.OpenExisting:
		return Created{}, errs.New("create", shown, errs.ErrInvalid, "a new memfd never exists already: SHMLIB_OPEN_EXISTING does not apply")
	}
	if !opt.Sparse {
		if err := checkBacking(shown, size, false); err != nil {
			return Created{}, err
		}
	}
	fd, err := memfd.Create(int64(size), opt.Mode, opt.Sparse)
	if err != nil {
		return Created{}, createPosixError(shown, size, err)
	}
	return Created{Key: hold(fd).String()}, nil
}

// attach maps a memfd: this process's own by its descriptor, another's
// through /proc/PID/fd/FD.
func (memfdBackend) attach(shown string, k keys.Key, opt AttachOptions) (*mapping, error) {
	popt := posix.MapOptions{Hint: opt.Hint, Fixed: opt.Fixed, ReadOnly: opt.ReadOnly, Populate: opt.Populate}
	fd := int(k.FD)
	if own(k) {
		if !holds(k) {
			return nil, memfdError("attach", shown, k, unix.ENOENT)
		}
	} else {
		var err error
		if fd, err = openHeld(k, opt.ReadOnly); err != nil {
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

func (memfdBackend) destroy(k keys.Key) error {
	shown := k.String()
	if !own(k) {
		return errs.New("destroy", shown, errs.ErrPermission, fmt.Sprintf("only process %d, which holds it, can destroy it; it goes when that process closes or exits and the last mapping ends", k.PID))
	}
	held.Lock()
	ino, ok := held.fds[k.FD]
	ok = ok && ino == k.Ino
	if ok {
		delete(held.fds, k.FD)
	}
	held.Unlock()
	if !ok {
		return memfdError("destroy", shown, k, unix.ENOENT)
	}
	unix.Close(int(k.FD))
	return nil
}

func (memfdBackend) stat(k keys.Key) (Info, error) {
	var st unix.Stat_t
	var err error
	if own(k) {
		if !holds(k) {
			return Info{}, os.NewSyscallError("fstat", unix.ENOENT)
		}
		err = unix.Fstat(int(k.FD), &st)
	} else {
		st, err = memfd.StatHeld(int(k.PID), int(k.FD))
		if err == nil && st.Ino != k.Ino {
			err = os.NewSyscallError("stat", unix.ENOENT) // the descriptor now holds something else
		}
	}
	if err != nil {
		return Info{}, err
	}
	info := posixInfo("", &st)
	info.Key, info.Backend, info.CPID = k.String(), keys.Memfd, k.PID
	return info, nil
}

// list describes the memfd segments this process holds: those of other
// processes have no name to find them by.
func (b memfdBackend) list() ([]Info, error) {
	var infos []Info
	for _, k := range heldKeys() {
		if info, err := b.stat(k); err == nil {
			infos = append(infos, info)
		}
	}
	return infos, nil
}

func (memfdBackend) unmap(m *mapping) error { return posixBackend{}.unmap(m) }

func (memfdBackend) statError(op string, k keys.Key, err error) *errs.Error {
	return memfdError(op, k.String(), k, err)
}

// orphaned: never; a memfd goes with the last process that holds or maps it.
func (memfdBackend) orphaned(*Info, *reaping) bool { return false }

// memfdError explains a memfd key that leads nowhere.
func memfdError(op, shown string, k keys.Key, err error) *errs.Error {
	e := errs.OS(op, shown, err)
	switch {
	case errors.Is(err, unix.ENOENT):
		e.Code, e.Msg, e.Err = errs.ErrNotExist, fmt.Sprintf("no such segment (process %d holds no memfd with inode %d as descriptor %d, or has exited)", k.PID, k.Ino, k.FD), unix.ENOENT
	case errors.Is(err, memfd.ErrNotSegment):
		e.Code, e.Msg = errs.ErrInvalid, fmt.Sprintf("descriptor %d of process %d is not a memfd segment", k.FD, k.PID)
	case e.Code == errs.ErrPermission:
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
	if k.Backend != keys.Memfd || !own(k) || !holds(k) {
		return errs.New(op, k.String(), errs.ErrInvalid, "not a memfd segment this process holds")
	}
	if err := memfd.Send(sock, int(k.FD)); err != nil {
		return errs.OS(op, k.String(), err)
	}
	return nil
}

// ReceiveMemfd waits for a memfd segment sent with SendMemfd on the Unix
// socket sock; this process then holds it too, under the key returned.
func ReceiveMemfd(sock int) (string, error) {
	const op = "memfd_recv"
	fd, err := memfd.Receive(sock)
	if err != nil {
		e := errs.OS(op, "", err)
		switch {
		case errors.Is(err, memfd.ErrClosed):
			e.Code, e.Msg = errs.ErrEndOfStream, err.Error()
		case errors.Is(err, memfd.ErrNotSegment), errors.Is(err, memfd.ErrNoDescriptor):
			e.Code, e.Msg = errs.ErrInvalid, err.Error()
		}
		return "", e
	}
	return hold(fd).String(), nil
}

// head reads the first n bytes with pread.
func (memfdBackend) head(info *Info, n int) []byte {
	k, err := keys.Parse(info.Key)
	if err != nil {
		return nil
	}
	fd := int(k.FD)
	if !own(k) {
		var err error
		if fd, err = openHeld(k, true); err != nil {
			return nil
		}
		defer unix.Close(fd)
	} else if !holds(k) {
		return nil
	}
	b := make([]byte, n)
	if got, err := unix.Pread(fd, b, 0); err != nil || got != n {
		return nil
	}
	return b
}

// openFile reopens the memfd through /proc, not with dup: a dup would share
// the description, and with it the locks, with the holder.
func (memfdBackend) openFile(m Mapping) (int, error) {
	k := m.m.key
	if own(k) {
		fd, err := unix.Open("/proc/self/fd/"+strconv.Itoa(int(k.FD)), unix.O_RDWR|unix.O_CLOEXEC, 0)
		if err != nil {
			return -1, errs.OS("attach", m.Key, os.NewSyscallError("open", err))
		}
		return fd, nil
	}
	fd, err := memfd.OpenHeld(int(k.PID), int(k.FD), false)
	if err != nil {
		return -1, memfdError("attach", m.Key, k, err)
	}
	return fd, nil
}
