package segment

// Destroy removes a segment. See shmlib_destroy in include/shmlib.h.
func Destroy(key string) error {
	const op = "destroy"
	k, err := parseKey(op, key)
	if err != nil {
		return err
	}
	forgetAtExit(k.String())
	return backendOf(k.Backend).destroy(k)
}
