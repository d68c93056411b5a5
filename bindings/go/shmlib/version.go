package shmlib

import "github.com/libshm/libshm/internal/segment"

// Version is the version of libshm this package is built from, the same
// as the C API's SHMLIB_VERSION_STRING, e.g. "0.1.0".
const Version = segment.Version
