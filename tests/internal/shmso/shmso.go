// Package shmso is a small Go binding of build/libshm.so through purego,
// for the cross-language tests: it registers every function of
// include/shmlib.h and turns return codes into *Error values.
//
// Loading a second Go runtime into a Go program is not supported by the Go
// team, so only a child process made for the purpose may call Open; see
// tests/main_test.go. Once the library is loaded it owns SIGURG, and the
// host loses async preemption: callers must not spin without function calls.
package shmso

import (
	"fmt"
	"runtime"
	"unsafe"

	"github.com/ebitengine/purego"
)

// Lib is the loaded library: one field per function of the header
// (abi_gen.go, generated from it).
type Lib struct {
	functions
}

// Open loads the library at path (absolute, so that no search path can
// substitute another copy) and checks that its version is the header's.
// The handle is never closed: libshm must not be unloaded.
func Open(path string) (*Lib, error) {
	h, err := purego.Dlopen(path, purego.RTLD_NOW|purego.RTLD_LOCAL)
	if err != nil {
		return nil, fmt.Errorf("dlopen %s: %w", path, err)
	}
	l := &Lib{}
	for name, fptr := range l.table() {
		// RegisterLibFunc panics on a missing symbol; say which one.
		if _, err := purego.Dlsym(h, name); err != nil {
			return nil, fmt.Errorf("%s does not export %s: %w", path, name, err)
		}
		purego.RegisterLibFunc(fptr, h, name)
	}
	if v := l.Version(); v != VersionNumber {
		return nil, fmt.Errorf("%s is version %d (%s), the header says %d", path, v, l.VersionString(), VersionNumber)
	}
	return l, nil
}

// call runs one library call and, if it failed, reads the message. The
// last error is kept per thread, so the goroutine stays on one thread
// from the call to the read.
func (l *Lib) call(f func() int32) (int, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	rc := f()
	if rc >= 0 {
		return int(rc), nil
	}
	return int(rc), &Error{Code: int(rc), Msg: l.LastError()}
}

// Version is shmlib_version().
func (l *Lib) Version() uint32 { return l.version() }

// VersionString is shmlib_version_string().
func (l *Lib) VersionString() string { return l.versionString() }

// Strerror is shmlib_strerror(code).
func (l *Lib) Strerror(code int) string { return l.strerror(int32(code)) }

// LastError is shmlib_last_error() of the calling thread.
func (l *Lib) LastError() string {
	var buf [ErrorMax]byte
	l.lastError(&buf[0], uintptr(len(buf)))
	return cString(buf[:])
}

// Ftok is shmlib_ftok(path, projID).
func (l *Lib) Ftok(path string, projID int) (string, error) {
	var out [KeyMax]byte
	_, err := l.call(func() int32 { return l.ftok(path, int32(projID), &out[0], uintptr(len(out))) })
	return cString(out[:]), err
}

// Create is shmlib_create(key, size, mode, flags): the canonical key, and
// whether an existing segment was opened (SHMLIB_OPENED).
func (l *Lib) Create(key string, size uint64, mode, flags uint32) (string, bool, error) {
	var out [KeyMax]byte
	rc, err := l.call(func() int32 { return l.create(key, size, mode, flags, &out[0], uintptr(len(out))) })
	if err != nil {
		return "", false, err
	}
	return cString(out[:]), rc == Opened, nil
}

// Attach is shmlib_attach(key, NULL, flags): the address and size of the
// new mapping.
func (l *Lib) Attach(key string, flags uint32) (unsafe.Pointer, uint64, error) {
	var addr unsafe.Pointer
	var size uint64
	_, err := l.call(func() int32 { return l.attach(key, nil, flags, &addr, &size) })
	return addr, size, err
}

// Detach is shmlib_detach(addr).
func (l *Lib) Detach(addr unsafe.Pointer) error {
	_, err := l.call(func() int32 { return l.detach(addr) })
	return err
}

// Destroy is shmlib_destroy(key).
func (l *Lib) Destroy(key string) error {
	_, err := l.call(func() int32 { return l.destroy(key) })
	return err
}

// Stat is shmlib_stat(key).
func (l *Lib) Stat(key string) (Stat, error) {
	var st Stat
	_, err := l.call(func() int32 { return l.stat(key, &st) })
	return st, err
}

// List is shmlib_list(): it sizes a buffer first, then fills it, asking
// again with more room if segments appeared in between.
func (l *Lib) List() ([]Stat, error) {
	var n uintptr
	if _, err := l.call(func() int32 { return l.list(nil, 0, &n) }); err != nil {
		return nil, err
	}
	for {
		items := make([]Stat, n+8)
		rc, err := l.call(func() int32 { return l.list(&items[0], uintptr(len(items)), &n) })
		if rc == Erange {
			continue
		}
		if err != nil {
			return nil, err
		}
		return items[:n], nil
	}
}

// MemfdSend is shmlib_memfd_send(sock, key): passes the memfd segment
// this process holds as key over the connected Unix socket sock.
func (l *Lib) MemfdSend(sock int, key string) error {
	_, err := l.call(func() int32 { return l.memfdSend(int32(sock), key) })
	return err
}

// MemfdRecv is shmlib_memfd_recv(sock): waits for a memfd segment on the
// Unix socket sock and returns the key it is held under here.
func (l *Lib) MemfdRecv(sock int) (string, error) {
	var out [KeyMax]byte
	_, err := l.call(func() int32 { return l.memfdRecv(int32(sock), &out[0], uintptr(len(out))) })
	if err != nil {
		return "", err
	}
	return cString(out[:]), nil
}

// cString is the text of a NUL-terminated buffer.
func cString(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}
