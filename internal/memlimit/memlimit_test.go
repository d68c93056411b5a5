package memlimit

import (
	"os"
	"testing"
)

func TestMeminfoField(t *testing.T) {
	text := []byte("MemTotal:       24683584 kB\nMemAvailable:    1024 kB\nSwapFree:              0 kB\nHugePages_Total:       3\n")
	for name, want := range map[string]uint64{"MemAvailable:": 1 << 20, "SwapFree:": 0, "HugePages_Total:": 3} {
		if got, ok := meminfoField(text, name); !ok || got != want {
			t.Errorf("meminfoField(%q) = %d, %v; want %d", name, got, ok, want)
		}
	}
	if _, ok := meminfoField(text, "Missing:"); ok {
		t.Error("a missing field was found")
	}
}

func TestUnescape(t *testing.T) {
	if got := unescape(`/sys/fs/with\040space\134`); got != `/sys/fs/with space\` {
		t.Errorf("unescape = %q", got)
	}
}

func TestHuman(t *testing.T) {
	for n, want := range map[uint64]string{0: "0 B", 1023: "1023 B", 64 << 20: "64.0 MiB", 1 << 50: "1.0 PiB", 3 << 29: "1.5 GiB"} {
		if got := Human(n); got != want {
			t.Errorf("Human(%d) = %q, want %q", n, got, want)
		}
	}
}

// TestTightestOnThisMachine: the machine's own figures are read, and no
// room is larger than the memory it has.
func TestTightestOnThisMachine(t *testing.T) {
	room, ok := Tightest()
	if !ok {
		t.Fatal("neither /proc/meminfo nor a cgroup could be read")
	}
	text, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		t.Fatal(err)
	}
	total, _ := meminfoField(text, "MemTotal:")
	swap, _ := meminfoField(text, "SwapTotal:")
	if room.Bytes == 0 || room.Bytes > total+swap || room.What == "" {
		t.Fatalf("Tightest() = %+v; MemTotal %d, SwapTotal %d", room, total, swap)
	}
}
