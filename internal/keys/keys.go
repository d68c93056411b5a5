// Package keys parses and formats the key strings that name segments.
//
// A key is a short printable string that one process hands to another on a
// command line, in a file or in the environment:
//
//	posix:/NAME         a POSIX object, the file /dev/shm/NAME (also written /NAME)
//	sysv:key=K          a System V segment by IPC key, hex (0x...) or decimal
//	sysv:id=N           a System V segment by shmid
//	memfd:pid=P,fd=F,ino=I    the memfd with inode I that process P holds as
//	                          descriptor F (the inode tells it from whatever
//	                          gets descriptor F after it is closed)
//
// and, only when creating, forms that let the library choose:
//
//	"" or posix:   a POSIX object with a generated name
//	sysv:          a System V segment with a random key
//	sysv:private   an IPC_PRIVATE System V segment (named by id afterwards)
//	memfd:         a memfd (named by its holder's pid and descriptor)
//
// The package knows nothing of the kernel: it only reads and writes strings.
package keys

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Backend is the kind of shared memory a key names.
type Backend uint8

const (
	Posix Backend = 1
	SysV  Backend = 2
	Memfd Backend = 3
)

func (b Backend) String() string {
	switch b {
	case Posix:
		return "posix"
	case SysV:
		return "sysv"
	case Memfd:
		return "memfd"
	}
	return "unknown"
}

// Form says how a key identifies its segment.
type Form uint8

const (
	Name    Form = iota // posix:/NAME
	IPCKey              // sysv:key=K
	ID                  // sysv:id=N
	Auto                // posix:, sysv: or memfd: (create only: the library picks)
	Private             // sysv:private (create only: IPC_PRIVATE)
	Held                // memfd:pid=P,fd=F
)

// MaxName is the longest POSIX name, in bytes, without the leading slash:
// NAME_MAX, as glibc's shm_open and the kernel allow.
const MaxName = 255

// Key is a parsed key. Only the fields of its Form are meaningful.
type Key struct {
	Backend Backend
	Form    Form
	Name    string // Posix, Form Name: the file name in /dev/shm, no slash
	IPCKey  uint32 // SysV, Form IPCKey: never 0 (0 is IPC_PRIVATE)
	ID      int32  // SysV, Form ID: the shmid, >= 0
	PID     int32  // Memfd, Form Held: the holding process, > 0
	FD      int32  // Memfd, Form Held: its descriptor, >= 0
	Ino     uint64 // Memfd, Form Held: the memfd's inode number
}

// ErrSyntax is wrapped by every error Parse returns.
var ErrSyntax = errors.New("malformed key")

// SyntaxError says what is wrong with a key string.
type SyntaxError struct {
	Key    string
	Reason string
}

func (e *SyntaxError) Error() string { return e.Reason }
func (e *SyntaxError) Unwrap() error { return ErrSyntax }

func syntaxErr(key, format string, args ...any) error {
	return &SyntaxError{Key: key, Reason: fmt.Sprintf(format, args...)}
}

// ForPosix returns the key of the POSIX object /dev/shm/name.
func ForPosix(name string) Key { return Key{Backend: Posix, Form: Name, Name: name} }

// ForIPCKey returns the key of the System V segment with IPC key k.
func ForIPCKey(k uint32) Key { return Key{Backend: SysV, Form: IPCKey, IPCKey: k} }

// ForID returns the key of the System V segment with shmid id.
func ForID(id int32) Key { return Key{Backend: SysV, Form: ID, ID: id} }

// ForMemfd returns the key of the memfd with inode ino that process pid
// holds as fd.
func ForMemfd(pid, fd int32, ino uint64) Key {
	return Key{Backend: Memfd, Form: Held, PID: pid, FD: fd, Ino: ino}
}

// CreateOnly reports whether the key only makes sense for create: the
// library picks the actual segment, so there is nothing yet to attach to.
func (k Key) CreateOnly() bool { return k.Form == Auto || k.Form == Private }

// String gives the canonical form of the key.
func (k Key) String() string {
	switch {
	case k.Backend == Posix && k.Form == Name:
		return "posix:/" + k.Name
	case k.Backend == Posix && k.Form == Auto:
		return "posix:"
	case k.Backend == SysV && k.Form == IPCKey:
		return "sysv:key=0x" + hex8(k.IPCKey)
	case k.Backend == SysV && k.Form == ID:
		return "sysv:id=" + strconv.FormatInt(int64(k.ID), 10)
	case k.Backend == SysV && k.Form == Auto:
		return "sysv:"
	case k.Backend == SysV && k.Form == Private:
		return "sysv:private"
	case k.Backend == Memfd && k.Form == Held:
		return "memfd:pid=" + strconv.FormatInt(int64(k.PID), 10) + ",fd=" + strconv.FormatInt(int64(k.FD), 10) +
			",ino=" + strconv.FormatUint(k.Ino, 10)
	case k.Backend == Memfd && k.Form == Auto:
		return "memfd:"
	}
	return "invalid"
}

// Parse reads a key string. The empty string is the automatic POSIX key.
func Parse(s string) (Key, error) {
	switch {
	case s == "" || s == "posix:":
		return Key{Backend: Posix, Form: Auto}, nil
	case strings.HasPrefix(s, "posix:"):
		rest := s[len("posix:"):]
		if !strings.HasPrefix(rest, "/") {
			return Key{}, syntaxErr(s, "a POSIX key is posix:/NAME, with one slash before the name")
		}
		return parsePosixName(s, rest[1:])
	case strings.HasPrefix(s, "/"):
		return parsePosixName(s, s[1:])
	case s == "sysv:":
		return Key{Backend: SysV, Form: Auto}, nil
	case s == "sysv:private":
		return Key{Backend: SysV, Form: Private}, nil
	case strings.HasPrefix(s, "sysv:key="):
		return parseIPCKey(s, s[len("sysv:key="):])
	case strings.HasPrefix(s, "sysv:id="):
		return parseID(s, s[len("sysv:id="):])
	case strings.HasPrefix(s, "sysv:"):
		return Key{}, syntaxErr(s, "a System V key is sysv:key=K, sysv:id=N, sysv: or sysv:private")
	case s == "memfd:":
		return Key{Backend: Memfd, Form: Auto}, nil
	case strings.HasPrefix(s, "memfd:"):
		return parseMemfd(s, s[len("memfd:"):])
	}
	return Key{}, syntaxErr(s, "a key starts with posix:/, /, sysv: or memfd:")
}

// parseMemfd reads "pid=P,fd=F,ino=I", all decimal, in that order.
func parseMemfd(s, rest string) (Key, error) {
	parts := strings.Split(rest, ",")
	var pidText, fdText, inoText string
	ok := len(parts) == 3
	if ok {
		var okPid, okFD, okIno bool
		pidText, okPid = strings.CutPrefix(parts[0], "pid=")
		fdText, okFD = strings.CutPrefix(parts[1], "fd=")
		inoText, okIno = strings.CutPrefix(parts[2], "ino=")
		ok = okPid && okFD && okIno
	}
	if !ok {
		return Key{}, syntaxErr(s, "a memfd key is memfd:pid=P,fd=F,ino=I (or memfd: to create one)")
	}
	pid, err := parseDecimal(pidText)
	if err != nil || pid == 0 {
		return Key{}, syntaxErr(s, "the pid %q is not a positive decimal number below 2^31", pidText)
	}
	fd, err := parseDecimal(fdText)
	if err != nil {
		return Key{}, syntaxErr(s, "the descriptor %q is not a non-negative decimal number below 2^31", fdText)
	}
	if inoText == "" || inoText[0] < '0' || inoText[0] > '9' {
		return Key{}, syntaxErr(s, "the inode %q is not a decimal number", inoText)
	}
	ino, err := strconv.ParseUint(inoText, 10, 64)
	if err != nil {
		return Key{}, syntaxErr(s, "the inode %q is not a 64-bit decimal number", inoText)
	}
	return ForMemfd(int32(pid), int32(fd), ino), nil
}

// parseDecimal accepts a decimal number below 2^31 and nothing else.
func parseDecimal(num string) (uint64, error) {
	if num == "" || num[0] < '0' || num[0] > '9' {
		return 0, strconv.ErrSyntax
	}
	return strconv.ParseUint(num, 10, 31)
}

func parsePosixName(s, name string) (Key, error) {
	switch {
	case name == "":
		return Key{}, syntaxErr(s, "the POSIX name after the slash is empty")
	case len(name) > MaxName:
		return Key{}, syntaxErr(s, "the POSIX name is %d bytes long; at most %d are allowed", len(name), MaxName)
	case name == "." || name == "..":
		return Key{}, syntaxErr(s, "%q is not a usable POSIX name", name)
	case strings.IndexByte(name, '/') >= 0:
		return Key{}, syntaxErr(s, "a POSIX name has a single leading slash and no other")
	case strings.IndexByte(name, 0) >= 0:
		return Key{}, syntaxErr(s, "a POSIX name cannot contain a NUL byte")
	}
	return ForPosix(name), nil
}

func parseIPCKey(s, num string) (Key, error) {
	v, err := parseUint(num, 32)
	if err != nil {
		return Key{}, syntaxErr(s, "the IPC key %q is not a 32-bit number (hex 0x... or decimal)", num)
	}
	if v == 0 {
		return Key{}, syntaxErr(s, "IPC key 0 is IPC_PRIVATE, which names no segment; use sysv:private to create one, sysv:id=N to reach it")
	}
	return ForIPCKey(uint32(v)), nil
}

func parseID(s, num string) (Key, error) {
	v, err := parseDecimal(num)
	if err != nil {
		return Key{}, syntaxErr(s, "the shmid %q is not a non-negative decimal number below 2^31", num)
	}
	return ForID(int32(v)), nil
}

// parseUint accepts decimal or 0x-prefixed hex, and nothing else: no sign,
// no octal, no underscores, so that a key reads the same to everybody.
func parseUint(num string, bits int) (uint64, error) {
	if h, ok := strings.CutPrefix(num, "0x"); ok {
		if h == "" || h[0] == '+' || h[0] == '-' {
			return 0, strconv.ErrSyntax
		}
		return strconv.ParseUint(h, 16, bits)
	}
	if num == "" || num[0] < '0' || num[0] > '9' {
		return 0, strconv.ErrSyntax
	}
	return strconv.ParseUint(num, 10, bits)
}

func hex8(v uint32) string {
	const digits = "0123456789abcdef"
	var b [8]byte
	for i := 7; i >= 0; i-- {
		b[i] = digits[v&0xf]
		v >>= 4
	}
	return string(b[:])
}

// Display is how a message shows a key, a name or a path: as it is when it
// is printable UTF-8, and otherwise quoted with Go's escapes ("posix:/a\nb"),
// so that a name holding a newline, a carriage return or a terminal escape
// cannot break a one-line message or forge another line after it. (A
// POSIX name may hold any byte but '/' and NUL.)
func Display(s string) string {
	for _, r := range s {
		if r == utf8.RuneError || !strconv.IsPrint(r) {
			return strconv.Quote(s)
		}
	}
	return s
}
