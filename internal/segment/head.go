package segment

import (
	"unsafe"

	"github.com/libshm/libshm/internal/keys"
	"github.com/libshm/libshm/internal/posix"
	"github.com/libshm/libshm/internal/sysv"
)

// Head reads the first n bytes of the segment info describes, without
// keeping a mapping: for layers that recognise their own formats (channels)
// by a magic at the start. It gives nil when the caller may not read the
// segment or it is shorter than n. A System V segment can only be read by
// attaching it, which the kernel records in its atime, dtime and lpid.
func Head(info *Info, n int) []byte {
	if info.Size < uint64(n) {
		return nil
	}
	if info.Backend == keys.Memfd {
		k, err := keys.Parse(info.Key)
		if err != nil {
			return nil
		}
		return headMemfd(k, n)
	}
	if info.Backend == keys.Posix {
		b, err := posix.ReadHead(info.Key[len("posix:/"):], n)
		if err != nil {
			return nil
		}
		return b
	}
	addr, size, err := sysv.Attach(int(info.ShmID), sysv.AttachOptions{ReadOnly: true})
	if err != nil {
		return nil
	}
	defer sysv.Detach(addr, size)
	if size < uint64(n) {
		return nil
	}
	return append([]byte(nil), unsafe.Slice((*byte)(addr), n)...)
}
