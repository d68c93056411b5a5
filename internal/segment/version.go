package segment

// The library's version; include/shmlib.h's SHMLIB_VERSION_* macros must
// agree (the C tests check shmlib_version() against them).
const (
	Version       = "0.1.0"
	VersionNumber = 100 // major*10000 + minor*100 + patch
)
