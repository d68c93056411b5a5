package segment

// OpenFile opens the file behind m as a new open file description of its
// own (close-on-exec), for a layer that locks part of it with OFD locks:
// channel ends prove they are alive that way (internal/channel). System V
// segments have no file: -1, and no error.
func OpenFile(m Mapping) (int, error) {
	return backendOf(m.m.key.Backend).openFile(m)
}
