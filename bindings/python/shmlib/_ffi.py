"""The one place that loads libshm and declares its C signatures.

Everything here mirrors include/shmlib.h: constants, the shmlib_stat_t
layout and the prototype of every function. The rest of the package calls
the library only through `lib`.

`lib` is loaded on first use, not at import: loading starts libshm's Go
runtime, and a process that has started it must not fork() children that
use the library. Python 3.14's default start method, "forkserver", imports
the main module (and so `shmlib`) into the server that forks the workers;
as long as the server never calls into libshm, its workers load their own.
"""

import ctypes
import os
from _thread import allocate_lock  # threading.Lock, without importing threading
from ctypes import (POINTER, c_char, c_char_p, c_int, c_int32, c_int64,
                    c_size_t, c_uint, c_uint32, c_uint64, c_void_p)

# The header version this module was written against. The loaded library
# must have the same major version and at least this minor version: later
# minor versions only add (header: "reserved words may gain meaning").
VERSION_MAJOR = 0
VERSION_MINOR = 1

KEY_MAX = 272
ERROR_MAX = 512  # "Messages are shorter than 512 bytes."

# Error codes.
OK = 0
EINVAL = -1
ENOENT = -2
EEXIST = -3
EACCES = -4
ENOMEM = -5
ERANGE = -6
ENOTATTACHED = -7
ENOTSUP = -8
EFAULT = -9
EFORKED = -10
EOS = -11
EINTERNAL = -12
# Channel codes.
ETIMEDOUT = -13
EEOS = -14
EPEER = -15
ECORRUPT = -16
EBUSY = -17
EMSGSIZE = -18
EINTR = -19
EWOKEN = -20
OPENED = 1

# shmlib_create() flags.
OPEN_EXISTING = 0x0100
HUGETLB = 0x0200
SPARSE = 0x0400
DESTROY_ON_EXIT = 0x0800  # not used: create(destroy_on_exit=) is an atexit handler

# shmlib_attach() flags.
RDONLY = 0x0001
POPULATE = 0x0002
LOCK = 0x0004
FIXED = 0x0008

BACKEND_POSIX = 1
BACKEND_SYSV = 2
BACKEND_MEMFD = 3

# shmlib_reap() flags.
REAP_DESTROY = 0x1

STAT_DESTROYED = 0x1
STAT_LOCKED = 0x2
STAT_CHANNEL = 0x4

# Channels.
CHAN_PRODUCER = 1
CHAN_CONSUMER = 2
CHAN_EINTR = 0x100
WAIT_FOREVER = -1


class Stat(ctypes.Structure):
    """shmlib_stat_t, field for field."""

    _fields_ = [
        ("key", c_char * KEY_MAX),
        ("size", c_uint64),
        ("nattach", c_int64),
        ("atime", c_int64),
        ("dtime", c_int64),
        ("ctime", c_int64),
        ("backend", c_uint32),
        ("mode", c_uint32),
        ("uid", c_uint32),
        ("gid", c_uint32),
        ("cuid", c_uint32),
        ("cgid", c_uint32),
        ("cpid", c_int32),
        ("lpid", c_int32),
        ("shmid", c_int32),
        ("ipc_key", c_uint32),
        ("flags", c_uint32),
        ("reserved0", c_uint32),
        ("reserved", c_uint64 * 6),
    ]


# The header fixes the layout at 408 bytes on every Linux ABI.
assert ctypes.sizeof(Stat) == 408, ctypes.sizeof(Stat)

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
_BUNDLED = os.path.join(_PACKAGE_DIR, "libshm.so")
_SYSTEM_NAMES = ("libshm.so.0", "libshm.so")


def _candidates():
    """Where to look, in order: SHMLIB_LIBRARY alone if it is set (an
    explicit choice must not fall back silently to another copy), else the
    copy bundled in the package, else the system loader path."""
    explicit = os.environ.get("SHMLIB_LIBRARY")
    if explicit:
        return [os.path.abspath(explicit)]
    return [_BUNDLED, *_SYSTEM_NAMES]


def _load():
    tried = []
    for candidate in _candidates():
        try:
            return ctypes.CDLL(candidate)
        except OSError as exc:
            tried.append(f"  {candidate}: {exc}")
    raise ImportError(
        "shmlib: cannot load libshm. Tried:\n" + "\n".join(tried) + "\n"
        "Install the package with `pip install ./bindings/python` from the "
        "libshm repository (it builds libshm.so into it), or there run `make "
        "lib` (it copies libshm.so into bindings/python/shmlib/) or `make "
        "install`, or set SHMLIB_LIBRARY to the absolute path of libshm.so.")


chan_t = c_uint64  # shmlib_chan_t

# (restype, argtypes) of every function in shmlib.h, in its order.
PROTOTYPES = {
    "shmlib_version": (c_uint, []),
    "shmlib_version_string": (c_char_p, []),
    "shmlib_strerror": (c_char_p, [c_int]),
    "shmlib_last_error": (c_int, [POINTER(c_char), c_size_t]),
    "shmlib_ftok": (c_int, [c_char_p, c_int, POINTER(c_char), c_size_t]),
    "shmlib_create": (c_int, [c_char_p, c_uint64, c_uint32, c_uint32,
                              POINTER(c_char), c_size_t]),
    "shmlib_attach": (c_int, [c_char_p, c_void_p, c_uint32,
                              POINTER(c_void_p), POINTER(c_uint64)]),
    "shmlib_detach": (c_int, [c_void_p]),
    "shmlib_destroy": (c_int, [c_char_p]),
    "shmlib_stat": (c_int, [c_char_p, POINTER(Stat)]),
    "shmlib_list": (c_int, [POINTER(Stat), c_size_t, POINTER(c_size_t)]),
    "shmlib_reap": (c_int, [c_uint32, POINTER(Stat), c_size_t, POINTER(c_size_t)]),
    "shmlib_memfd_send": (c_int, [c_int, c_char_p]),
    "shmlib_memfd_recv": (c_int, [c_int, POINTER(c_char), c_size_t]),
    "shmlib_chan_create": (c_int, [c_char_p, c_uint64, c_uint32, c_uint32,
                                   POINTER(c_char), c_size_t]),
    "shmlib_chan_open": (c_int, [c_char_p, c_int, POINTER(chan_t)]),
    "shmlib_chan_close": (c_int, [chan_t]),
    "shmlib_chan_handover": (c_int, [chan_t]),
    "shmlib_chan_max_message": (c_int, [chan_t, POINTER(c_uint64)]),
    "shmlib_chan_send": (c_int, [chan_t, c_void_p, c_size_t, c_int64]),
    "shmlib_chan_reserve": (c_int, [chan_t, c_size_t, c_int64,
                                    POINTER(c_void_p)]),
    "shmlib_chan_commit": (c_int, [chan_t, c_size_t]),
    "shmlib_chan_recv": (c_int, [chan_t, c_void_p, c_size_t,
                                 POINTER(c_size_t), c_int64]),
    "shmlib_chan_peek": (c_int, [chan_t, c_int64, POINTER(c_void_p),
                                 POINTER(c_size_t)]),
    "shmlib_chan_release": (c_int, [chan_t]),
    "shmlib_chan_wake": (c_int, [chan_t]),
}


def _declare(lib):
    """Declares argtypes and restype of every function in shmlib.h, so that
    ctypes converts and checks arguments instead of guessing."""
    for name, (restype, argtypes) in PROTOTYPES.items():
        try:
            func = getattr(lib, name)
        except AttributeError:
            raise ImportError(
                f"shmlib: {lib._name} does not export {name}; it is not a "
                "libshm matching include/shmlib.h (rebuild with `make lib`)"
            ) from None
        func.restype = restype
        func.argtypes = argtypes


def _check_version(lib):
    number = lib.shmlib_version()
    major, minor = number // 10000, number // 100 % 100
    if major != VERSION_MAJOR or minor < VERSION_MINOR:
        raise ImportError(
            f"shmlib: the loaded libshm ({lib._name}) is version "
            f"{lib.shmlib_version_string().decode()}, this package needs "
            f"{VERSION_MAJOR}.{VERSION_MINOR} or a later "
            f"{VERSION_MAJOR}.x; rebuild it with `make lib` or point "
            "SHMLIB_LIBRARY at a matching one.")


_load_lock = allocate_lock()


def __getattr__(name):
    """`lib`, and `path` (where it came from), on first use."""
    if name not in ("lib", "path"):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    with _load_lock:
        if "lib" not in globals():
            lib = _load()
            _declare(lib)
            _check_version(lib)
            # From now on plain module attributes: no cost on later calls.
            globals().update(lib=lib, path=lib._name)
    return globals()[name]


def loaded():
    """True once this process (or the parent it was forked from) loaded
    libshm."""
    return "lib" in globals()
