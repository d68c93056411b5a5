package segment

import "sync"

// atExit is the segments created with DestroyOnExit and not destroyed yet,
// by canonical key. Destroy takes a key off the list, so that a segment
// someone else creates later under the same key is never destroyed for it.
var atExit = struct {
	sync.Mutex
	keys map[string]bool
}{keys: make(map[string]bool)}

func destroyAtExit(key string) {
	atExit.Lock()
	atExit.keys[key] = true
	atExit.Unlock()
}

func forgetAtExit(key string) {
	atExit.Lock()
	delete(atExit.keys, key)
	atExit.Unlock()
}

// DestroyAtExit destroys every segment created with DestroyOnExit that is
// still there, as the process exits. Failures are ignored: a segment
// someone else destroyed is already gone, and an exiting process has no
// one left to tell.
func DestroyAtExit() {
	atExit.Lock()
	keys := atExit.keys
	atExit.keys = make(map[string]bool)
	atExit.Unlock()
	for key := range keys {
		Destroy(key)
	}
}
