"""shmlib: shared memory segments (POSIX, System V and memfd) through libshm.

    import shmlib

    with shmlib.create(4096) as seg:          # a new POSIX segment, attached
        seg.buf[:5] = b"hello"
        key = seg.key                         # e.g. "posix:/shmlib-..."
    # ... another process: shmlib.attach(key)
    shmlib.destroy(key)                       # nothing is destroyed unless asked

Channels carry messages from one process to another through a segment:
create_channel(capacity) -> key, then open_channel(key, "producer") in one
process and open_channel(key, "consumer") in another (see channel.py).

memfd segments (create(size, backend="memfd")) have no global name and
cannot leak: they go when the last process holding or mapping one does.
send_memfd(sock, key) and recv_memfd(sock) pass one over a Unix socket
(see memfd.py).

libshm is loaded by the first call (not by the import) from
$SHMLIB_LIBRARY, else the libshm.so bundled in this package, else the
system loader path; ImportError if none loads. See README.md for numpy,
multiprocessing (and the fork rule) and the `python3 -m shmlib` command.
"""

import os as _os

from . import _ffi
from .errors import (AlreadyExists, BufferTooSmall, Busy, Corrupt,
                     EndOfStream, Error, Forked, InvalidArgument,
                     MessageTooLarge, NotAttached, NotFound, NotSupported,
                     OSFailure, OutOfMemory, PeerGone, PermissionDenied,
                     Timeout, strerror)
from .keys import ftok, posix_key, posix_name
from .segment import Segment, attach, create, create_detached, destroy

# Imported on first use, not by `import shmlib`: together they cost more
# than the rest of the package (dataclasses, socket, numbers...), and a
# program that only creates and attaches segments never needs them.
_LAZY = {
    "Channel": "channel", "Peek": "channel", "PeekArray": "channel",
    "Reservation": "channel", "create_channel": "channel",
    "open_channel": "channel",
    "SegmentInfo": "info", "list_segments": "info", "reap": "info",
    "stat": "info",
    "recv_memfd": "memfd", "send_memfd": "memfd",
    "Broadcast": "broadcast", "create_broadcast": "broadcast",
    "open_broadcast": "broadcast", "wait_any": "waitset",
}


def __getattr__(name):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # from now on a plain attribute
    return value


def _import_the_rest():
    # Runs before every fork(): a thread that is importing one of these when
    # another thread forks holds the module's import lock for good in the
    # child, which then hangs at its own first use of it. Importing them
    # here waits for such an import to finish (a module being imported is
    # in sys.modules already, so do not skip those); once all are imported
    # this costs a few microseconds.
    import importlib

    for module in ("re", *{f"{__name__}.{m}" for m in _LAZY.values()}):
        importlib.import_module(module)


_os.register_at_fork(before=_import_the_rest)


def __dir__():
    return sorted(set(globals()) | set(_LAZY))


__version__ = _ffi.VERSION_STRING

KEY_MAX = _ffi.KEY_MAX


def library_version():
    """The version of the loaded libshm, e.g. "0.1.0"."""
    return _ffi.lib.shmlib_version_string().decode()


def library_path():
    """Where the loaded libshm came from."""
    return _ffi.path


__all__ = [
    "AlreadyExists", "Broadcast", "BufferTooSmall", "Busy", "Channel", "Corrupt",
    "EndOfStream", "Error", "Forked", "InvalidArgument", "KEY_MAX",
    "MessageTooLarge", "NotAttached", "NotFound", "NotSupported",
    "OSFailure", "OutOfMemory", "Peek", "PeekArray", "PeerGone",
    "PermissionDenied", "Reservation", "Segment", "SegmentInfo", "Timeout",
    "attach", "create", "create_broadcast", "create_channel", "create_detached", "destroy",
    "ftok", "library_path", "library_version", "list_segments", "reap",
    "open_broadcast", "open_channel", "posix_key", "posix_name", "recv_memfd", "send_memfd",
    "stat", "strerror", "wait_any",
]
