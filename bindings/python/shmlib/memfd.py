"""Passing memfd segments between processes over Unix sockets.

A memfd segment (create(size, backend="memfd"), key "memfd:pid=P,fd=F,ino=I")
has no name in any filesystem: it lives while some process holds a
descriptor of it or maps it, and its memory goes when the last one ends,
crashes included. Another process of the same user reaches it in one of
two ways:

  - by its key, while process P lives: attach("memfd:pid=P,fd=F,ino=I") opens
    /proc/P/fd/F;
  - by receiving it over a connected AF_UNIX socket: send_memfd(sock, key)
    here, recv_memfd(sock) there. The receiver then holds it too, under a
    key of its own, and the segment outlives the sender.

    import socket, shmlib

    parent_sock, child_sock = socket.socketpair()   # AF_UNIX
    seg = shmlib.create(4096, backend="memfd")
    shmlib.send_memfd(parent_sock, seg.key)
    # ... in the process that has child_sock:
    key = shmlib.recv_memfd(child_sock)              # "memfd:pid=<it>,fd=N"
    with shmlib.attach(key) as seg: ...
    shmlib.destroy(key)                              # let go of its hold
"""

import ctypes
import operator
import select
import socket
import time

from . import _ffi, _fork, keys
from .errors import EndOfStream, InvalidArgument, Timeout, check


def _socket_fd(op, sock):
    """The descriptor of `sock`: a socket.socket (which must be AF_UNIX),
    anything with fileno(), or a descriptor as an int."""
    if isinstance(sock, socket.socket) and sock.family != socket.AF_UNIX:
        raise InvalidArgument(_ffi.EINVAL,
                              f"{op}: a memfd segment travels over an "
                              f"AF_UNIX socket, not {sock.family!r}")
    if hasattr(sock, "fileno"):
        fd = sock.fileno()
    else:
        try:
            fd = operator.index(sock)
        except TypeError:
            raise TypeError(f"{op}: sock must be a socket or a file "
                            f"descriptor, not {type(sock).__name__}") from None
    # ctypes would wrap a number that does not fit in a C int silently.
    if not 0 <= fd < 2**31:
        raise InvalidArgument(_ffi.EINVAL,
                              f"{op}: {fd} is not an open descriptor "
                              "(closed socket?)")
    return fd


def send_memfd(sock, key):
    """Sends the memfd segment named by `key`, which this process holds,
    over the connected AF_UNIX socket `sock` (a socket.socket or a file
    descriptor), as SCM_RIGHTS with one byte of data. The receiver gets it
    with recv_memfd(). This process keeps holding it too: destroy(key) here
    when done; the receiver's hold keeps the segment alive.

    Raises InvalidArgument if `key` is not a memfd segment this process
    holds (a POSIX or System V key, another process's memfd, or one
    destroyed here), OSFailure if the socket refuses (not a Unix socket,
    closed, the peer gone).
    """
    op = "memfd_send"
    raw = keys.encode(key, op)
    fd = _socket_fd(op, sock)
    if _fork.forked:
        _fork.refuse(op, key)
    check(_ffi.lib.shmlib_memfd_send(fd, raw))


def _wait_readable(op, fd, timeout):
    """Waits in Python (so that Ctrl-C and other signals are handled) until
    `fd` is readable; raises Timeout after `timeout` seconds."""
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        left = None if deadline is None else max(0.0, deadline - time.monotonic())
        if poller.poll(None if left is None else left * 1000):
            return
        if deadline is not None and time.monotonic() >= deadline:
            raise Timeout(_ffi.ETIMEDOUT,
                          f"{op}: no segment came within {timeout} s")


def _closed_by_peer(fd):
    """True if the socket is at end of file: readable with nothing to read.
    Peeks, so a message (and its descriptor) stays where it is."""
    try:
        probe = socket.socket(fileno=fd)
    except OSError:  # not a socket: the library says so
        return False
    try:
        return probe.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except (BlockingIOError, InterruptedError):
        return False
    finally:
        probe.detach()  # the descriptor is the caller's


def recv_memfd(sock, timeout=None):
    """Waits for a memfd segment sent with send_memfd() on the connected
    AF_UNIX socket `sock` (a socket.socket or a file descriptor) and returns
    its key here, "memfd:pid=<this process>,fd=<the descriptor received>".
    This process then holds the segment: attach it by that key, hand the key
    to others (they attach through /proc while this process lives), and
    destroy(key) to let go of the hold.

    timeout  None (the default) waits as long as it takes, 0 does not wait,
             a number waits at most that many seconds: Timeout after.
             Ctrl-C interrupts the wait.

    Raises EndOfStream (an EOFError) if the other end closed the socket
    without sending one, InvalidArgument if the message carried no
    descriptor or one that is not a libshm memfd segment (it is closed, not
    kept), OSFailure if the socket fails.
    """
    op = "memfd_recv"
    fd = _socket_fd(op, sock)
    if timeout is not None and not timeout >= 0:
        raise InvalidArgument(_ffi.EINVAL, f"{op}: timeout must be None or "
                              f"at least 0, not {timeout!r}")
    if _fork.forked:
        _fork.refuse(op)
    _wait_readable(op, fd, timeout)
    if _closed_by_peer(fd):
        raise EndOfStream(_ffi.EEOS, f"{op}: the other end closed the "
                          "socket without sending a segment")
    out = ctypes.create_string_buffer(_ffi.KEY_MAX)
    check(_ffi.lib.shmlib_memfd_recv(fd, out, len(out)))
    return keys.decode(out.value)
