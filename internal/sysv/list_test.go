package sysv

import (
	"os"
	"testing"
)

// TestListAgreesWithIPCStat: /proc/sysvipc/shm, which List parses, and
// IPC_STAT must describe a real segment the same way.
func TestListAgreesWithIPCStat(t *testing.T) {
	id, err := Create(0, 10007, 0o640, false)
	if err != nil {
		t.Fatal(err)
	}
	defer Remove(id)
	addr, size, err := Attach(id, AttachOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer Detach(addr, size)
	want, err := Stat(id)
	if err != nil {
		t.Fatal(err)
	}
	segs, err := List()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range segs {
		if s.ID != id {
			continue
		}
		got := s.Desc
		// Seq and the padding are not in /proc; compare what is.
		got.Perm.Seq, want.Perm.Seq = 0, 0
		if got != want {
			t.Fatalf("/proc/sysvipc/shm says %+v\nIPC_STAT says          %+v", got, want)
		}
		if got.Cpid != int32(os.Getpid()) || got.Nattch != 1 || got.Segsz != 10007 {
			t.Fatalf("unexpected record %+v", got)
		}
		return
	}
	t.Fatalf("shmid %d is not in List()", id)
}

func TestParseProcLineRejectsGarbage(t *testing.T) {
	for _, line := range []string{
		"",
		"1 2 3",
		"x 1 600 4096 1 1 0 0 0 0 0 0 0 0 4096 0",
		"0 1 999 4096 1 1 0 0 0 0 0 0 0 0 4096 0", // perms are octal: 9 is not a digit
	} {
		if _, err := parseProcLine(line); err == nil {
			t.Errorf("parseProcLine(%q) accepted it", line)
		}
	}
}
