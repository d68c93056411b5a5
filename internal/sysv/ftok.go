package sysv

import (
	"os"

	"golang.org/x/sys/unix"
)

// Ftok computes the key glibc's ftok(3) gives for path and projID: the low
// 16 bits of the inode, the low 8 bits of the device and the 8 bits of the
// project id. Only those bits count, so distinct files may share a key.
func Ftok(path string, projID uint8) (uint32, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return 0, os.NewSyscallError("stat", err)
	}
	return uint32(st.Ino&0xffff) | uint32(st.Dev&0xff)<<16 | uint32(projID)<<24, nil
}
