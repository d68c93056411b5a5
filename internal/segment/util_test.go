package segment

import "testing"

// listed reports whether List shows a segment with this key or shmid.
func listed(t *testing.T, key string, shmid int32) (Info, bool) {
	t.Helper()
	infos, err := List()
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range infos {
		if in.Key == key || shmid >= 0 && in.ShmID == shmid {
			return in, true
		}
	}
	return Info{}, false
}
