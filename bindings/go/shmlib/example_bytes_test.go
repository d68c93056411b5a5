package shmlib_test

import (
	"fmt"
	"log"
	"os"
	"runtime/debug"
	"strings"

	"github.com/libshm/libshm/bindings/go/shmlib"
)

// guarded runs touch, which works on shared memory, and returns a memory
// fault as an error instead of letting it crash the program. The setting
// is per goroutine: call guarded in the goroutine that touches the memory.
func guarded(touch func()) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			fault, ok := r.(interface{ Addr() uintptr })
			if !ok {
				panic(r) // not a fault: not ours to hide
			}
			err = fmt.Errorf("memory fault at %#x", fault.Addr())
		}
	}()
	touch()
	return nil
}

func ExampleMapping_Bytes() {
	seg, err := shmlib.Create("", 4096, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer shmlib.Destroy(seg.Key)
	m, err := shmlib.Attach(seg.Key, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer m.Detach() // mem must not be touched after this

	// mem is the shared memory itself, no copy: every mapping of the
	// segment, in this process or another, sees the write at once.
	mem, err := m.Bytes()
	if err != nil {
		log.Fatal(err)
	}
	copy(mem, "frame 1")
	fmt.Printf("%s\n", mem[:7])

	// A peer truncates the segment under us (here we play the peer). An
	// unguarded touch would now crash the program; a guarded one fails.
	if err := os.Truncate("/dev/shm/"+strings.TrimPrefix(seg.Key, "posix:/"), 0); err != nil {
		log.Fatal(err)
	}
	err = guarded(func() { mem[0] = 'F' })
	fmt.Println(err != nil)
	// Output:
	// frame 1
	// true
}
