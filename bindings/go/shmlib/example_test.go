package shmlib_test

import (
	"errors"
	"fmt"
	"io/fs"
	"log"
	"os"
	"time"

	"github.com/libshm/libshm/bindings/go/shmlib"
)

func ExampleCreate() {
	// "" lets the library choose a POSIX name; seg.Key tells which. Hand
	// the key to Attach, or to another process, C and Python included.
	seg, err := shmlib.Create("", 1<<20, nil)
	if err != nil {
		log.Fatal(err)
	}
	// Whoever creates a segment destroys it: exiting does not.
	defer shmlib.Destroy(seg.Key)
	fmt.Println(seg.Key[:len("posix:/")], seg.Opened)

	// Creation is exclusive...
	_, err = shmlib.Create(seg.Key, 1<<20, nil)
	fmt.Println(errors.Is(err, shmlib.ErrExist), errors.Is(err, fs.ErrExist))

	// ...unless asked to open a segment that is there.
	again, err := shmlib.Create(seg.Key, 1<<20, &shmlib.CreateOptions{OpenExisting: true})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(again.Key == seg.Key, again.Opened)
	// Output:
	// posix:/ false
	// true true
	// true true
}

func ExampleAttach() {
	seg, err := shmlib.Create("sysv:", 4096, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer shmlib.Destroy(seg.Key)

	// Two attaches, as two processes would make them: two mappings, one
	// set of pages. Each is detached on its own.
	writer, err := shmlib.Attach(seg.Key, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer writer.Detach()
	reader, err := shmlib.Attach(seg.Key, &shmlib.AttachOptions{ReadOnly: true})
	if err != nil {
		log.Fatal(err)
	}
	defer reader.Detach()

	if _, err := writer.WriteAt([]byte("hello"), 0); err != nil {
		log.Fatal(err)
	}
	buf := make([]byte, 5)
	if _, err := reader.ReadAt(buf, 0); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s, %d bytes, read-only %v\n", buf, reader.Size(), reader.ReadOnly())
	// Output: hello, 4096 bytes, read-only true
}

func ExampleMapping_Detach() {
	seg, err := shmlib.Create("", 4096, nil)
	if err != nil {
		log.Fatal(err)
	}
	m, err := shmlib.Attach(seg.Key, nil)
	if err != nil {
		log.Fatal(err)
	}
	if _, err := m.WriteAt([]byte("kept"), 0); err != nil {
		log.Fatal(err)
	}

	// Detach: this mapping ends; the segment and its contents live on.
	if err := m.Detach(); err != nil {
		log.Fatal(err)
	}
	_, err = m.Bytes()
	fmt.Println(errors.Is(err, shmlib.ErrNotAttached))

	again, err := shmlib.Attach(seg.Key, nil)
	if err != nil {
		log.Fatal(err)
	}
	buf := make([]byte, 4)
	again.ReadAt(buf, 0)
	fmt.Printf("%s\n", buf)

	// Destroy: the segment goes. The mapping that exists still works
	// until it is detached; new attaches fail.
	if err := shmlib.Destroy(seg.Key); err != nil {
		log.Fatal(err)
	}
	_, err = shmlib.Attach(seg.Key, nil)
	fmt.Println(errors.Is(err, shmlib.ErrNotExist))
	again.Detach()
	// Output:
	// true
	// kept
	// true
}

func ExampleStat() {
	seg, err := shmlib.Create("sysv:", 4096, &shmlib.CreateOptions{Mode: 0o640})
	if err != nil {
		log.Fatal(err)
	}
	defer shmlib.Destroy(seg.Key)

	info, err := shmlib.Stat(seg.Key)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(info.Backend, info.Size, info.Mode, info.Nattach, info.CPID == os.Getpid())

	// System V counts the attaches of all processes.
	m, err := shmlib.Attach(seg.Key, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer m.Detach()
	info, _ = shmlib.Stat(seg.Key)
	fmt.Println("attached:", info.Nattach)
	// Output:
	// sysv 4096 -rw-r----- 0 true
	// attached: 1
}

func ExampleList() {
	seg, err := shmlib.Create("", 100, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer shmlib.Destroy(seg.Key)

	infos, err := shmlib.List()
	if err != nil {
		log.Fatal(err)
	}
	for _, info := range infos {
		if info.Key == seg.Key {
			// POSIX has no attach count: Nattach is -1.
			fmt.Println(info.Backend, info.Size, info.Mode, info.Nattach)
		}
	}
	// Output: posix 100 -rw------- -1
}

func ExampleFtok() {
	// Processes that agree on a file and a project id meet on one System V
	// segment, as with ftok(3) in C: the same key, whatever the language.
	key, err := shmlib.Ftok(os.TempDir(), 'F')
	if err != nil {
		log.Fatal(err)
	}
	seg, err := shmlib.Create(key, 4096, &shmlib.CreateOptions{OpenExisting: true})
	if err != nil {
		log.Fatal(err)
	}
	if !seg.Opened {
		defer shmlib.Destroy(seg.Key) // the creator destroys
	}
	fmt.Println(seg.Key == key)
}

func Example_errors() {
	_, err := shmlib.Attach("/shmlib-example-absent", nil)
	fmt.Println(err)

	// The code, the io/fs sentinel, and the fields of *Error.
	fmt.Println(errors.Is(err, shmlib.ErrNotExist), errors.Is(err, fs.ErrNotExist))
	var e *shmlib.Error
	if errors.As(err, &e) {
		fmt.Printf("op %q key %q code %d\n", e.Op, e.Key, e.Code)
	}
	// Output:
	// attach posix:/shmlib-example-absent: no such segment
	// true true
	// op "attach" key "posix:/shmlib-example-absent" code -2
}

// A channel passes buffers from a producer to a consumer; here both ends
// are in one process, as they would be in two.
func ExampleCreateChannel() {
	key, err := shmlib.CreateChannel("", 1<<20, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer shmlib.Destroy(key)

	tx, err := shmlib.OpenChannel(key, shmlib.Producer)
	if err != nil {
		log.Fatal(err)
	}
	rx, err := shmlib.OpenChannel(key, shmlib.Consumer)
	if err != nil {
		log.Fatal(err)
	}
	defer rx.Close()

	frame, _ := tx.Reserve(5, shmlib.Forever) // write in place...
	copy(frame, "frame")
	tx.Commit(5) // ...then publish
	tx.Close()   // end of stream

	for {
		msg, err := rx.Peek(time.Second)
		if errors.Is(err, shmlib.ErrEndOfStream) {
			break
		}
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%s\n", msg)
		rx.Release()
	}
	// Output: frame
}
