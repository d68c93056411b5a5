"""Exceptions: every negative SHMLIB_E* code becomes an `Error` subclass.

Each class is also the builtin exception a Python programmer would catch
anyway: a missing segment is a FileNotFoundError, a malformed key a
ValueError, a system limit an OSError, and so on.

Forked is deliberately not an OSError: multiprocessing.Pool workers treat an
OSError while receiving a task as a lost connection and quietly exit, which
would hide the one error that says what to do.

The channel codes follow the same rule: a timeout is a TimeoutError, the end
of a stream an EOFError (as multiprocessing.Connection.recv() raises), a
dead peer a ConnectionResetError, a message too large a ValueError.
"""

import ctypes
import errno

from . import _ffi


class Error(Exception):
    """Base of every error libshm reports.

    `code` is the library's SHMLIB_E* code (a negative int, as in
    include/shmlib.h), `message` the one-line message,
    e.g. "attach posix:/frames: no such segment". `str(err)` is the message.
    """

    #: The POSIX errno that matches `code`, set as `errno` on OSErrors.
    posix_errno = None

    def __init__(self, code, message):
        # One line whatever built it: a name may hold control bytes.
        message = one_line(message)
        super().__init__(message)
        self.code = code
        self.message = message
        if isinstance(self, OSError):
            self.errno = self.posix_errno

    def __reduce__(self):
        # Default pickling would call cls(message); rebuild with both
        # arguments so that errors cross process boundaries
        # (multiprocessing sends a worker's exception to the parent).
        return (type(self), (self.code, self.message))


_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n",
            "\r": "\\r", "\t": "\\t", "\v": "\\v"}


def escape_char(ch):
    """A character that is not printable as the escape Go's strconv.Quote
    (and so the library) writes for it: \\n, \\x1b, \\u2028; a byte that is
    not UTF-8, which os.fsdecode turns into a lone surrogate, as \\xff."""
    code = ord(ch)
    if ch in _ESCAPES:
        return _ESCAPES[ch]
    if 0xDC80 <= code <= 0xDCFF:
        return f"\\x{code - 0xDC00:02x}"
    if code < 0x80:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def one_line(text):
    """`text` with whatever is not printable escaped, so that it is one
    line of text (unchanged when it is one already)."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else escape_char(ch) for ch in text)


class InvalidArgument(Error, ValueError):
    """SHMLIB_EINVAL: malformed key, size 0, bad mode or flag."""
    code = _ffi.EINVAL


class NotFound(Error, FileNotFoundError):
    """SHMLIB_ENOENT: no such segment (never created, or destroyed)."""
    code = _ffi.ENOENT
    posix_errno = errno.ENOENT


class AlreadyExists(Error, FileExistsError):
    """SHMLIB_EEXIST: a segment with this key exists already."""
    code = _ffi.EEXIST
    posix_errno = errno.EEXIST


class PermissionDenied(Error, PermissionError):
    """SHMLIB_EACCES: the segment's mode or owner forbids it."""
    code = _ffi.EACCES
    posix_errno = errno.EACCES


class OutOfMemory(Error, OSError):
    """SHMLIB_ENOMEM: no memory, or over a system limit (shmmax, shmall,
    shmmni, the size of /dev/shm, RLIMIT_MEMLOCK), or a create larger than
    the machine or this process's memory cgroup can still back."""
    code = _ffi.ENOMEM
    posix_errno = errno.ENOMEM


class NotAttached(Error, ValueError):
    """SHMLIB_ENOTATTACHED: the Segment was detached already."""
    code = _ffi.ENOTATTACHED


class NotSupported(Error, OSError):
    """SHMLIB_ENOTSUP: not supported here, e.g. huge pages where none are
    reserved, or a flag the backend does not have."""
    code = _ffi.ENOTSUP
    posix_errno = errno.EOPNOTSUPP


class Timeout(Error, TimeoutError):
    """SHMLIB_ETIMEDOUT: a channel call could not proceed within its
    timeout (at once, for timeout=0)."""
    code = _ffi.ETIMEDOUT
    posix_errno = errno.ETIMEDOUT


class EndOfStream(Error, EOFError):
    """SHMLIB_EEOS: the producer closed the channel and every message has
    been received; iterating over a consumer ends here. Also raised when
    opening the producer end of a channel whose producer has closed."""
    code = _ffi.EEOS


class PeerGone(Error, ConnectionResetError):
    """SHMLIB_EPEER: the process holding the other end of the channel died.
    A consumer receives everything the producer committed first.

    A ConnectionResetError ("reset by peer": the other side went away
    without closing), so `except ConnectionError` catches it. Not a
    BrokenPipeError: programs catch that one to mean "the reader of my
    stdout went away" and exit quietly, which would hide a dead peer.
    """
    code = _ffi.EPEER
    posix_errno = errno.ECONNRESET


class Corrupt(Error, OSError):
    """SHMLIB_ECORRUPT: the channel's shared state is inconsistent: some
    process wrote where it should not have. libshm refuses to read or write
    out of bounds; the channel is not usable any more."""
    code = _ffi.ECORRUPT


class Busy(Error, OSError):
    """SHMLIB_EBUSY: that end of the channel is held by a live process (this
    one included), or another thread is in a call on this end.

    Not a BlockingIOError: that one means "not ready yet, retry when the
    object is ready" to non-blocking I/O code, and neither case here becomes
    ready by itself. A channel call that would wait with timeout=0 raises
    Timeout.
    """
    code = _ffi.EBUSY
    posix_errno = errno.EBUSY


class MessageTooLarge(Error, ValueError):
    """SHMLIB_EMSGSIZE: a message larger than the channel carries
    (Channel.max_message, half its capacity less 16 bytes)."""
    code = _ffi.EMSGSIZE


class BufferTooSmall(Error, ValueError):
    """SHMLIB_ERANGE: Channel.recv_into() got a buffer smaller than the next
    message, whose length is `length`. The message stays in the channel."""
    code = _ffi.ERANGE

    def __init__(self, code, message, length=None):
        super().__init__(code, message)
        self.length = length

    def __reduce__(self):
        return (type(self), (self.code, self.message, self.length))


class Forked(Error, RuntimeError):
    """SHMLIB_EFORKED: called in a child made by fork() without exec().

    libshm contains a Go runtime, which cannot run after fork(). Use the
    "spawn" or "forkserver" start method of multiprocessing, or exec a new
    program; memory attached before the fork stays usable in the child.
    """
    code = _ffi.EFORKED


class OSFailure(Error, OSError):
    """SHMLIB_EOS, another error from the operating system (the message
    names it), and any code without a class of its own."""


FORK_HINT = (
    "libshm cannot run in a child made by fork() without exec(): use "
    "multiprocessing.get_context('spawn') or 'forkserver', or exec a new "
    "program (subprocess), or make this call in the parent; segments the "
    "parent had attached before the fork stay usable here")

def _classes(base):
    for cls in base.__subclasses__():
        yield cls
        yield from _classes(cls)


# Each class names its code; one without (OSFailure) takes the rest.
_BY_CODE = {cls.code: cls for cls in _classes(Error) if "code" in vars(cls)}


def strerror(code):
    """The library's short description of a code, e.g. "no such segment"."""
    return _ffi.lib.shmlib_strerror(code).decode()


def _last_error():
    buf = ctypes.create_string_buffer(_ffi.ERROR_MAX)
    _ffi.lib.shmlib_last_error(buf, len(buf))
    return buf.value.decode("utf-8", "backslashreplace")


def from_code(code, message=None):
    """The exception for a code; `message` defaults to the calling thread's
    last library message (so call this right after the failing call)."""
    if message is None:
        message = _last_error() or strerror(code)
    if code == _ffi.EFORKED:  # the library's message says the rest
        message += (" In Python: multiprocessing.get_context('spawn') or "
                    "'forkserver'.")
    return _BY_CODE.get(code, OSFailure)(code, message)


def check(rc):
    """Returns rc if it is not an error code, raises its exception if it is."""
    if rc < 0:
        raise from_code(rc)
    return rc
