package shmlib

import "github.com/libshm/libshm/internal/segment"

// Ftok returns the System V key that glibc's ftok(path, projID) gives, as a
// key string "sysv:key=0x%08x", so that a Go process and a C process that
// agree on a file and a project id meet on one segment. path must name a
// file the caller can stat; projID must be 1..255 (ftok uses only its low 8
// bits, so larger values would silently collide).
//
// Like ftok, the key is made of the file's inode and device numbers: two
// files can give the same key, and a file deleted and made again gives a
// different one.
//
// Errors: ErrInvalid (empty path, projID out of range), ErrNotExist (no
// such file), ErrPermission (cannot stat it), ErrOS.
func Ftok(path string, projID int) (string, error) {
	return segment.Ftok(path, projID)
}
