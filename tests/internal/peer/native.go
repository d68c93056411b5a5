package peer

import (
	"errors"

	"github.com/libshm/libshm/bindings/go/shmlib"
	"github.com/libshm/libshm/tests/internal/shmso"
)

// Native adapts the pure-Go package bindings/go/shmlib to Lib: a Go peer
// with no libshm.so in it, on the same kernel segments. Its errors are
// turned into the *shmso.Error the protocol prints, code and message
// unchanged.
func Native() Lib { return native{} }

type native struct{}

func (native) Create(key string, size uint64) (string, error) {
	made, err := shmlib.Create(key, size, nil)
	return made.Key, coded(err)
}

func (native) Attach(key string, readOnly bool) (Mapping, error) {
	m, err := shmlib.Attach(key, &shmlib.AttachOptions{ReadOnly: readOnly})
	if err != nil {
		return nil, coded(err)
	}
	mem, err := m.Bytes()
	if err != nil {
		return nil, coded(err)
	}
	return nativeMapping{m, mem}, nil
}

func (native) Destroy(key string) error { return coded(shmlib.Destroy(key)) }

func (native) Stat(key string) (Stat, error) {
	info, err := shmlib.Stat(key)
	return Stat{Size: info.Size, Nattach: info.Nattach, Backend: string(info.Backend)}, coded(err)
}

func (native) Listed(key string) (bool, error) {
	all, err := shmlib.List()
	for _, info := range all {
		if info.Key == key {
			return true, nil
		}
	}
	return false, coded(err)
}

func (native) Ftok(path string, projID int) (string, error) {
	key, err := shmlib.Ftok(path, projID)
	return key, coded(err)
}

func (native) Strerror(code int) string { return shmlib.Code(code).Error() }
func (native) Version() string          { return shmlib.Version }

// nativeMapping keeps the memory it got at attach: Bytes fails once
// detached, but the protocol's commands act on the last attach's memory.
type nativeMapping struct {
	m   *shmlib.Mapping
	mem []byte
}

func (n nativeMapping) Bytes() []byte { return n.mem }
func (n nativeMapping) Detach() error { return coded(n.m.Detach()) }

func coded(err error) error {
	var e *shmlib.Error
	if errors.As(err, &e) {
		return &shmso.Error{Code: int(e.Code), Msg: e.Error()}
	}
	return err
}
