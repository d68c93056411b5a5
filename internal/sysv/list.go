package sysv

import (
	"bufio"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// procFile lists every segment of this IPC namespace, readable by anybody,
// unlike IPC_STAT, which needs read permission on each segment.
const procFile = "/proc/sysvipc/shm"

// Segment is one entry of List.
type Segment struct {
	ID   int
	Desc unix.SysvShmDesc
}

// List returns the segments of this IPC namespace, sorted by id.
func List() ([]Segment, error) {
	f, err := os.Open(procFile)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var segs []Segment
	sc := bufio.NewScanner(f)
	sc.Scan() // the header line names the columns
	for sc.Scan() {
		s, err := parseProcLine(sc.Text())
		if err != nil {
			return nil, fmt.Errorf("%s: %w", procFile, err)
		}
		segs = append(segs, s)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	sort.Slice(segs, func(i, j int) bool { return segs[i].ID < segs[j].ID })
	return segs, nil
}

// parseProcLine reads one line of /proc/sysvipc/shm:
//
//	key shmid perms size cpid lpid nattch uid gid cuid cgid atime dtime ctime [rss swap]
//
// perms is octal and carries SHM_DEST and SHM_LOCKED besides the mode.
func parseProcLine(line string) (Segment, error) {
	f := strings.Fields(line)
	if len(f) < 14 {
		return Segment{}, fmt.Errorf("unexpected line %q", line)
	}
	var (
		s   Segment
		d   = &s.Desc
		err error
	)
	num := func(i, base, bits int) int64 {
		v, e := strconv.ParseInt(f[i], base, bits)
		if e != nil && err == nil {
			err = fmt.Errorf("field %d of %q: %w", i+1, line, e)
		}
		return v
	}
	unum := func(i int) uint64 {
		v, e := strconv.ParseUint(f[i], 10, 64)
		if e != nil && err == nil {
			err = fmt.Errorf("field %d of %q: %w", i+1, line, e)
		}
		return v
	}
	d.Perm.Key = int32(num(0, 10, 32))
	s.ID = int(num(1, 10, 32))
	d.Perm.Mode = uint32(num(2, 8, 32))
	d.Segsz = unum(3)
	d.Cpid = int32(num(4, 10, 32))
	d.Lpid = int32(num(5, 10, 32))
	d.Nattch = unum(6)
	d.Perm.Uid = uint32(unum(7))
	d.Perm.Gid = uint32(unum(8))
	d.Perm.Cuid = uint32(unum(9))
	d.Perm.Cgid = uint32(unum(10))
	d.Atime = num(11, 10, 64)
	d.Dtime = num(12, 10, 64)
	d.Ctime = num(13, 10, 64)
	return s, err
}
