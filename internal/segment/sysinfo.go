package segment

import (
	"bufio"
	"os"
	"strconv"
	"strings"
)

// readProcLimit reads a System V limit from /proc/sys/kernel, for messages.
func readProcLimit(name string) string {
	b, err := os.ReadFile("/proc/sys/kernel/" + name)
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(b))
}

// hugePagesTotal is HugePages_Total from /proc/meminfo: how many huge pages
// the system has reserved, -1 if it cannot tell.
func hugePagesTotal() int {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return -1
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "HugePages_Total:"); ok {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				return -1
			}
			return n
		}
	}
	return -1
}
