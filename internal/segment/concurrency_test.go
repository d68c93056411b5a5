package segment

import (
	"fmt"
	"sync"
	"testing"
)

// TestConcurrentLifecycles runs whole lifecycles from many goroutines at
// once, as many C threads would call the library; run with -race.
func TestConcurrentLifecycles(t *testing.T) {
	const workers, cycles = 8, 100
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < cycles; i++ {
				if err := cycle(backends[(w+i)%2], byte(w*cycles+i)); err != nil {
					errs <- fmt.Errorf("worker %d cycle %d: %w", w, i, err)
					return
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func cycle(backend string, mark byte) error {
	made, err := Create(backend, 4096, CreateOptions{})
	if err != nil {
		return err
	}
	defer Destroy(made.Key)
	a, err := Attach(made.Key, AttachOptions{})
	if err != nil {
		return err
	}
	b, err := Attach(made.Key, AttachOptions{ReadOnly: true})
	if err != nil {
		Detach(a.Addr)
		return err
	}
	bytesOf(a)[4095] = mark
	seen := bytesOf(b)[4095]
	if err := Detach(a.Addr); err != nil {
		return err
	}
	if err := Detach(b.Addr); err != nil {
		return err
	}
	if seen != mark {
		return fmt.Errorf("%s: read %d through the second mapping, wrote %d", made.Key, seen, mark)
	}
	return Destroy(made.Key)
}
