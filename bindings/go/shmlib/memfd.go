package shmlib

import (
	"errors"
	"net"

	"golang.org/x/sys/unix"

	"github.com/libshm/libshm/internal/segment"
)

// Memfd segments have no name in any filesystem, so nothing can leak: one
// lives while a process holds a descriptor or a mapping of it. Create one
// with the key "memfd:"; its key, "memfd:pid=P,fd=F,ino=I", names it by the
// process that holds it. Another process of the same user attaches it by
// that key while P lives; or P passes it over a Unix socket with
// SendMemfd, and the receiver holds it too (ReceiveMemfd), so it outlives
// P. Destroy, in a holder, lets go of that hold; a process that does not
// hold it cannot destroy it. See include/shmlib.h, MEMFD SEGMENTS.

// SendMemfd passes the memfd segment named by key, which this process
// holds, over the Unix socket conn; it stays held here too.
//
// Errors: ErrInvalid (not a memfd this process holds), ErrOS.
func SendMemfd(conn *net.UnixConn, key string) error {
	raw, err := conn.SyscallConn()
	if err != nil {
		return &Error{Op: "memfd_send", Key: key, Code: ErrOS, Msg: err.Error(), Err: err}
	}
	var sendErr error
	if err := raw.Write(func(fd uintptr) bool {
		sendErr = segment.SendMemfd(int(fd), key)
		return !wouldBlock(sendErr)
	}); err != nil {
		return &Error{Op: "memfd_send", Key: key, Code: ErrOS, Msg: err.Error(), Err: err}
	}
	return sendErr
}

// ReceiveMemfd waits for a memfd segment sent with SendMemfd (or
// shmlib_memfd_send, or Python's send_memfd) on conn; this process then
// holds it, under the key returned.
//
// Errors: ErrInvalid (the message carried no memfd segment), ErrOS.
func ReceiveMemfd(conn *net.UnixConn) (string, error) {
	raw, err := conn.SyscallConn()
	if err != nil {
		return "", &Error{Op: "memfd_recv", Code: ErrOS, Msg: err.Error(), Err: err}
	}
	var (
		key     string
		recvErr error
	)
	// The socket is non-blocking under the runtime's poller: returning
	// false on EAGAIN makes Read wait for it to be readable and call again.
	if err := raw.Read(func(fd uintptr) bool {
		key, recvErr = segment.ReceiveMemfd(int(fd))
		return !wouldBlock(recvErr)
	}); err != nil {
		return "", &Error{Op: "memfd_recv", Code: ErrOS, Msg: err.Error(), Err: err}
	}
	return key, recvErr
}

// wouldBlock: the socket, non-blocking under the runtime's poller, is not
// ready; returning false from a RawConn callback waits for it and retries.
func wouldBlock(err error) bool { return errors.Is(err, unix.EAGAIN) }
