// Package memlimit says how much memory this process can still be given:
// by the machine (/proc/meminfo) and by every memory cgroup above it (v2
// memory.max, v1 memory.limit_in_bytes). A create that reserves memory
// asks first, because what it cannot get is not refused by the kernel but
// taken by force: a memfd has no size limit, so fallocate past the
// machine's memory sets off the OOM killer, and past a cgroup's limit the
// cgroup's OOM killer takes the process (leaving a half-made /dev/shm file).
//
// The answers are estimates a moment old, made of what the kernel reports:
// two creates at once can both fit alone and not together. What cannot be
// read counts as no limit: the package refuses only what it knows to be
// too much.
package memlimit

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

// Room is how much more memory one limit allows, and which limit it is.
type Room struct {
	Bytes uint64
	What  string // "this machine: MemAvailable ... in /proc/meminfo", ...
}

// Tightest returns the smallest room among the machine's and those of the
// memory cgroups this process is in (each of their ancestors included),
// and false if none of them could be read.
func Tightest() (Room, bool) {
	var best Room
	found := false
	take := func(r Room) {
		if !found || r.Bytes < best.Bytes {
			best, found = r, true
		}
	}
	swapFree := uint64(0)
	if avail, swap, ok := machine(); ok {
		swapFree = swap
		what := fmt.Sprintf("this machine has %s available (MemAvailable in /proc/meminfo)", Human(avail))
		if swap > 0 {
			what = fmt.Sprintf("this machine has %s available (MemAvailable %s + SwapFree %s in /proc/meminfo)",
				Human(avail+swap), Human(avail), Human(swap))
		}
		take(Room{Bytes: avail + swap, What: what})
	}
	for _, dir := range cgroupDirs() {
		if r, ok := cgroupRoom(dir, swapFree); ok {
			take(r)
		}
	}
	return best, found
}

// machine reads MemAvailable and SwapFree, in bytes.
func machine() (avail, swapFree uint64, ok bool) {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0, 0, false
	}
	avail, ok = meminfoField(b, "MemAvailable:")
	swapFree, _ = meminfoField(b, "SwapFree:")
	return avail, swapFree, ok
}

// meminfoField reads "Name:   123 kB" from /proc/meminfo's text, in bytes.
func meminfoField(b []byte, name string) (uint64, bool) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), name)
		if !ok {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			return 0, false
		}
		v, err := strconv.ParseUint(fields[0], 10, 64)
		if err != nil {
			return 0, false
		}
		if len(fields) > 1 && fields[1] == "kB" {
			v <<= 10
		}
		return v, true
	}
	return 0, false
}

// dir is one memory cgroup directory, of the v2 or the v1 hierarchy.
type dir struct {
	path string
	v2   bool
}

// cgroupDirs lists the memory cgroup directories this process is under,
// its own first, then each parent up to the hierarchy's root.
func cgroupDirs() []dir {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return nil
	}
	var dirs []dir
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		// "ID:CONTROLLERS:PATH": v2 is "0::PATH"; v1 lists its controllers.
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		v2 := parts[0] == "0" && parts[1] == ""
		if !v2 && !hasWord(parts[1], "memory") {
			continue
		}
		for _, m := range mounts() {
			if m.v2 != v2 {
				continue
			}
			rel, ok := strings.CutPrefix(parts[2], m.root)
			if !ok {
				continue // not under what this mount shows
			}
			for p := filepath.Join(m.point, rel); ; p = filepath.Dir(p) {
				dirs = append(dirs, dir{path: p, v2: v2})
				if p == m.point || len(p) <= len(m.point) {
					break
				}
			}
			break
		}
	}
	return dirs
}

func hasWord(list, word string) bool {
	for _, w := range strings.Split(list, ",") {
		if w == word {
			return true
		}
	}
	return false
}

// mount is where a cgroup hierarchy with the memory controller (or the v2
// one) is mounted, and which of its cgroups the mount's root is.
type mount struct {
	point, root string
	v2          bool
}

// mounts reads /proc/self/mountinfo once: hierarchies are mounted when
// the system starts, and reading it costs more than the rest together.
var mounts = sync.OnceValue(func() []mount {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	var found []mount
	for _, line := range strings.Split(string(b), "\n") {
		// ID PARENT MAJ:MIN ROOT POINT OPTIONS [TAGS...] - FSTYPE SOURCE SUPEROPTIONS
		pre, post, ok := strings.Cut(line, " - ")
		f, g := strings.Fields(pre), strings.Fields(post)
		if !ok || len(f) < 5 || len(g) < 3 {
			continue
		}
		switch {
		case g[0] == "cgroup2":
			found = append(found, mount{point: unescape(f[4]), root: unescape(f[3]), v2: true})
		case g[0] == "cgroup" && hasWord(g[2], "memory"):
			found = append(found, mount{point: unescape(f[4]), root: unescape(f[3])})
		}
	}
	return found
})

// unescape undoes mountinfo's octal escapes of space, tab, newline and '\'.
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// cgroupRoom is the room one cgroup leaves, false if it sets no limit (or
// none could be read). Page cache counts as room: the kernel reclaims it
// before it runs out. Swap counts too, as far as the cgroup may use it.
func cgroupRoom(d dir, swapFree uint64) (Room, bool) {
	limitFile, usageFile, activeFile, inactiveFile := "memory.max", "memory.current", "active_file", "inactive_file"
	if !d.v2 {
		limitFile, usageFile, activeFile, inactiveFile = "memory.limit_in_bytes", "memory.usage_in_bytes", "total_active_file", "total_inactive_file"
	}
	limit, ok := readNumber(d.path, limitFile)
	// v1 says "no limit" with a number near 2^63 rather than "max".
	if !ok || limit >= 1<<62 {
		return Room{}, false
	}
	usage, ok := readNumber(d.path, usageFile)
	if !ok {
		return Room{}, false
	}
	stat, _ := os.ReadFile(filepath.Join(d.path, "memory.stat"))
	active, _ := statField(stat, activeFile)
	inactive, _ := statField(stat, inactiveFile)
	cache := active + inactive
	room := sub(limit, usage) + cache
	if swapFree > 0 {
		room += min(swapFree, cgroupSwapRoom(d, limit, usage, swapFree))
	}
	return Room{Bytes: room, What: fmt.Sprintf("the memory cgroup %s allows %s more (%s %s, %s %s, %s of it reclaimable page cache)",
		d.path, Human(room), limitFile, Human(limit), usageFile, Human(usage), Human(cache))}, true
}

// cgroupSwapRoom is how much swap the cgroup may still use: v2's
// memory.swap.max less memory.swap.current, v1's memory and swap limit
// less what memory and swap use, beyond the memory room; swapFree where
// the cgroup does not limit swap.
func cgroupSwapRoom(d dir, limit, usage, swapFree uint64) uint64 {
	if d.v2 {
		max, ok := readNumber(d.path, "memory.swap.max")
		current, ok2 := readNumber(d.path, "memory.swap.current")
		if !ok || !ok2 {
			return swapFree
		}
		return sub(max, current)
	}
	max, ok := readNumber(d.path, "memory.memsw.limit_in_bytes")
	used, ok2 := readNumber(d.path, "memory.memsw.usage_in_bytes")
	if !ok || !ok2 || max >= 1<<62 {
		return swapFree
	}
	return sub(sub(max, used), sub(limit, usage))
}

// readNumber reads a cgroup file holding one number; "max" is no limit,
// reported as not ok.
func readNumber(dir, name string) (uint64, bool) {
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		return 0, false
	}
	v, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	return v, err == nil
}

// statField reads "name 123" from a memory.stat.
func statField(stat []byte, name string) (uint64, bool) {
	for _, line := range strings.Split(string(stat), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
			return n, err == nil
		}
	}
	return 0, false
}

func sub(a, b uint64) uint64 {
	if b > a {
		return 0
	}
	return a - b
}

// Human shows a number of bytes in binary units: "64.0 MiB".
func Human(n uint64) string {
	const units = "KMGTPE"
	if n < 1024 {
		return fmt.Sprintf("%d B", n)
	}
	v, i := float64(n)/1024, 0
	for v >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	return fmt.Sprintf("%.1f %ciB", v, units[i])
}
