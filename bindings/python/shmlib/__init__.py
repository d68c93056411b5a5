"""shmlib: shared memory segments (POSIX and System V) through libshm.

    import shmlib

    with shmlib.create(4096) as seg:          # a new POSIX segment, attached
        seg.buf[:5] = b"hello"
        key = seg.key                         # e.g. "posix:/shmlib-..."
    # ... another process: shmlib.attach(key)
    shmlib.destroy(key)                       # nothing is destroyed unless asked

libshm is loaded by the first call (not by the import) from
$SHMLIB_LIBRARY, else the libshm.so bundled in this package, else the
system loader path; ImportError if none loads. See README.md for numpy,
multiprocessing (and the fork rule) and the `python3 -m shmlib` command.
"""

from . import _ffi
from .errors import (AlreadyExists, Error, Forked, InvalidArgument,
                     NotAttached, NotFound, NotSupported, OSFailure,
                     OutOfMemory, PermissionDenied, strerror)
from .info import SegmentInfo, list_segments, stat
from .keys import ftok, posix_key, posix_name
from .segment import Segment, attach, create, create_detached, destroy

__version__ = "0.1.0"

KEY_MAX = _ffi.KEY_MAX


def library_version():
    """The version of the loaded libshm, e.g. "0.1.0"."""
    return _ffi.lib.shmlib_version_string().decode()


def library_path():
    """Where the loaded libshm came from."""
    return _ffi.path


__all__ = [
    "AlreadyExists", "Error", "Forked", "InvalidArgument", "KEY_MAX",
    "NotAttached", "NotFound", "NotSupported", "OSFailure", "OutOfMemory",
    "PermissionDenied", "Segment", "SegmentInfo", "attach", "create",
    "create_detached", "destroy", "ftok", "library_path", "library_version",
    "list_segments", "posix_key", "posix_name", "stat", "strerror",
]
