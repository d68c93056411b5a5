package segment

// Head reads the first n bytes of the segment info describes, without
// keeping a mapping: for layers that recognise their own formats (channels)
// by a magic at the start. It gives nil when the caller may not read the
// segment or it is shorter than n. A System V segment can only be read by
// attaching it, which the kernel records in its atime, dtime and lpid.
func Head(info *Info, n int) []byte {
	if info.Size < uint64(n) {
		return nil
	}
	return backendOf(info.Backend).head(info, n)
}
