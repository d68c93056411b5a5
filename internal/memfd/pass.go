package memfd

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// Send passes a descriptor of the memfd fd over the Unix socket sock
// (SCM_RIGHTS), with one byte of data so that the message is never empty.
// MSG_NOSIGNAL: a peer that closed its end gives EPIPE, never a SIGPIPE,
// whose default action would end the host process.
func Send(sock, fd int) error {
	if err := unix.Sendmsg(sock, []byte{'m'}, unix.UnixRights(fd), nil, unix.MSG_NOSIGNAL); err != nil {
		return os.NewSyscallError("sendmsg", err)
	}
	return nil
}

var (
	// ErrNoDescriptor: a message came, but without exactly one descriptor.
	ErrNoDescriptor = errors.New("the message carried no memfd descriptor")
	// ErrClosed: the other end closed the socket before sending one.
	ErrClosed = errors.New("the socket was closed before a memfd segment came")
)

// Receive waits for a descriptor sent by Send on the Unix socket sock and
// returns it (close-on-exec), once checked to be a memfd segment.
func Receive(sock int) (int, error) {
	oob := make([]byte, unix.CmsgSpace(4))
	n, oobn, _, _, err := unix.Recvmsg(sock, make([]byte, 1), oob, unix.MSG_CMSG_CLOEXEC)
	if err != nil {
		return -1, os.NewSyscallError("recvmsg", err)
	}
	if n == 0 && oobn == 0 {
		return -1, ErrClosed
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		return -1, ErrNoDescriptor
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		for _, fd := range fds {
			unix.Close(fd)
		}
		return -1, ErrNoDescriptor
	}
	if err := Check(fds[0]); err != nil {
		unix.Close(fds[0])
		return -1, err
	}
	return fds[0], nil
}
