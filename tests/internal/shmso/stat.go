package shmso

import "unsafe"

// Stat is shmlib_stat_t field for field, in the header's order, so that the
// library can fill it in place. Go lays out these fields exactly as C does
// on every 64-bit Linux ABI: all of them are naturally aligned.
type Stat struct {
	Key       [KeyMax]byte
	Size      uint64
	Nattach   int64
	Atime     int64
	Dtime     int64
	Ctime     int64
	Backend   uint32
	Mode      uint32
	UID       uint32
	GID       uint32
	CUID      uint32
	CGID      uint32
	CPID      int32
	LPID      int32
	ShmID     int32
	IPCKey    uint32
	Flags     uint32
	Reserved0 uint32
	Reserved  [6]uint64
}

// StatSize is the size the header promises for shmlib_stat_t.
const StatSize = 408

// The build fails unless Stat is exactly StatSize bytes: an index out of
// range (or a negative uintptr) in a constant expression does not compile.
var _ = [1]struct{}{}[unsafe.Sizeof(Stat{})-StatSize]

// KeyString is the canonical key, up to its NUL.
func (s *Stat) KeyString() string { return cString(s.Key[:]) }
