"""Keys: the strings that name segments (see KEYS in include/shmlib.h).

    posix:/NAME   or /NAME    a POSIX object, the file /dev/shm/NAME
    sysv:key=K                a System V segment by IPC key (hex or decimal)
    sysv:id=N                 a System V segment by shmid
"""

import ctypes
import os
import re

from . import _ffi, _fork
from .errors import InvalidArgument, check

_HEX = re.compile(r"0[xX][0-9a-fA-F]+")
_DECIMAL = re.compile(r"0|[1-9][0-9]*")


def encode(key, op):
    """A key as the bytes the library takes, refusing what ctypes would
    silently get wrong: a NUL would cut the key short in C and name another
    segment."""
    if not isinstance(key, str):
        raise TypeError(f"{op}: a key is a str, not {type(key).__name__}")
    if "\0" in key:
        raise InvalidArgument(_ffi.EINVAL,
                              f"{op} {key!r}: a key cannot contain NUL")
    # fsencode: POSIX names are file names, which need not be UTF-8.
    return os.fsencode(key)


def canonical(key):
    """The canonical form of a key the library has just accepted, or None
    where the spelling is unusual enough that only the library should
    judge it (e.g. leading zeros, which some parsers read as octal)."""
    if key.startswith("posix:/"):
        return key
    if key.startswith("/"):
        return "posix:" + key
    if key.startswith("sysv:key="):
        number = key[len("sysv:key="):]
        if _HEX.fullmatch(number):
            return f"sysv:key=0x{int(number, 16):08x}"
        if _DECIMAL.fullmatch(number):
            return f"sysv:key=0x{int(number):08x}"
    elif key.startswith("sysv:id="):
        number = key[len("sysv:id="):]
        if _DECIMAL.fullmatch(number):
            return key
    return None


def ftok(path, proj_id):
    """The System V key glibc's ftok(path, proj_id) gives, as
    "sysv:key=0x%08x".

    `path` must name an existing file; `proj_id` is 1..255. Like ftok(),
    the key comes from the file's inode and device: two files can give the
    same key, and a file made again gives another.
    """
    _fork.refuse_if_forked("ftok", str(path))
    raw = os.fsencode(os.fspath(path))
    if b"\0" in raw:
        raise InvalidArgument(_ffi.EINVAL,
                              f"ftok {path!r}: a path cannot contain NUL")
    # ctypes would wrap a number that does not fit in a C int around
    # silently, possibly into the valid range.
    if not isinstance(proj_id, int) or not -2**31 <= proj_id < 2**31:
        raise InvalidArgument(_ffi.EINVAL,
                              f"ftok {path}: proj_id must be 1..255, "
                              f"not {proj_id!r}")
    out = ctypes.create_string_buffer(_ffi.KEY_MAX)
    check(_ffi.lib.shmlib_ftok(raw, proj_id, out, len(out)))
    return out.value.decode()


def posix_key(name):
    """The key of the POSIX object that multiprocessing.shared_memory and
    shm_open() call `name` ("psm_1f2e" or "/psm_1f2e" -> "posix:/psm_1f2e").

    SharedMemory.name has no leading slash, and a key without "posix:" needs
    one: shmlib.attach(shmlib.posix_key(sm.name)), or attach("/" + sm.name).
    """
    return "posix:/" + name.lstrip("/")


def posix_name(key):
    """The name multiprocessing.shared_memory.SharedMemory(name=...) takes
    for a POSIX key ("posix:/frames" or "/frames" -> "frames")."""
    full = canonical(key) if isinstance(key, str) else None
    if full is None or not full.startswith("posix:/"):
        raise InvalidArgument(_ffi.EINVAL, f"{key!r} is not a POSIX key")
    return full[len("posix:/"):]
