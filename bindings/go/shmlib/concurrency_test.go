package shmlib_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/libshm/libshm/bindings/go/shmlib"
)

// TestConcurrentLifecycles runs whole lifecycles in many goroutines at once,
// both backends mixed, so that the race detector (go test -race) sees the
// package's shared state, the core's table of mappings, under load.
func TestConcurrentLifecycles(t *testing.T) {
	const workers, rounds = 24, 25
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range rounds {
				if err := lifecycle(backends[(w+r)%2].auto, uint64(w*rounds+r)); err != nil {
					errs <- fmt.Errorf("worker %d round %d: %w", w, r, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// lifecycle creates, attaches twice, writes through one mapping and reads
// through the other, detaches and destroys, undoing what it did on error.
func lifecycle(auto string, stamp uint64) (err error) {
	c, err := shmlib.Create(auto, 4096, nil)
	if err != nil {
		return err
	}
	record(c.Key)
	defer func() { err = errors.Join(err, shmlib.Destroy(c.Key)) }()
	w, err := shmlib.Attach(c.Key, nil)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, w.Detach()) }()
	r, err := shmlib.Attach(c.Key, &shmlib.AttachOptions{ReadOnly: true})
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, r.Detach()) }()

	want := binary.LittleEndian.AppendUint64(nil, stamp)
	if _, err := w.WriteAt(want, 100); err != nil {
		return err
	}
	got := make([]byte, 8)
	if _, err := r.ReadAt(got, 100); err != nil {
		return err
	}
	if !bytes.Equal(got, want) {
		return fmt.Errorf("read %x through the second mapping, wrote %x", got, want)
	}
	return nil
}

// TestConcurrentSharedSegment has many goroutines attach, write their own
// slot, and detach one segment over and over, while others read it.
func TestConcurrentSharedSegment(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			const workers, rounds = 16, 50
			key := create(t, b.auto, workers*8, nil)
			var wg sync.WaitGroup
			errs := make(chan error, workers)
			for w := range workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for r := range rounds {
						m, err := shmlib.Attach(key, nil)
						if err != nil {
							errs <- err
							return
						}
						slot := make([]byte, 8)
						binary.LittleEndian.PutUint64(slot, uint64(r))
						_, werr := m.WriteAt(slot, int64(w*8))
						if err := errors.Join(werr, m.Detach()); err != nil {
							errs <- err
							return
						}
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			final := mustBytes(t, attach(t, key, nil))
			for w := range workers {
				if v := binary.LittleEndian.Uint64(final[w*8:]); v != rounds-1 {
					t.Errorf("slot %d holds %d, want %d", w, v, rounds-1)
				}
			}
		})
	}
}

// TestConcurrentReadAtAndDetach: Detach waits for ReadAt and WriteAt in
// progress, so they either complete or report ErrNotAttached, never fault.
func TestConcurrentReadAtAndDetach(t *testing.T) {
	key := create(t, "", 1<<20, nil)
	for range 50 {
		m := attach(t, key, nil)
		var wg sync.WaitGroup
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				buf := make([]byte, 1<<20)
				for {
					_, err := m.ReadAt(buf, 0)
					if err == nil {
						_, err = m.WriteAt(buf[:4096], 0)
					}
					if errors.Is(err, shmlib.ErrNotAttached) {
						return
					}
					if err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
		if err := m.Detach(); err != nil {
			t.Fatal(err)
		}
		wg.Wait()
	}
}
