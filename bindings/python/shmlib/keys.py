"""Keys: the strings that name segments (see KEYS in include/shmlib.h).

    posix:/NAME   or /NAME    a POSIX object, the file /dev/shm/NAME
    sysv:key=K                a System V segment by IPC key (hex or decimal)
    sysv:id=N                 a System V segment by shmid
    memfd:pid=P,fd=F,ino=I          a memfd segment process P holds as descriptor F
"""

import ctypes
import os

from . import _ffi, _fork
from .errors import InvalidArgument, check, escape_char

def encode(key, op):
    """A key as the bytes the library takes, refusing what ctypes would
    silently get wrong: a NUL would cut the key short in C and name another
    segment."""
    if not isinstance(key, str):
        raise TypeError(f"{op}: a key is a str, not {type(key).__name__}")
    if "\0" in key:
        raise InvalidArgument(_ffi.EINVAL,
                              f"{op} {key!r}: a key cannot contain NUL")
    # As os.fsencode does on Linux: POSIX names are file names, which need
    # not be UTF-8 (undecodable bytes round-trip through surrogateescape).
    return key.encode("utf-8", "surrogateescape")


def display(key):
    """How a message shows a key (or a path): as it is when it is printable,
    and otherwise quoted as the library quotes it ("posix:/a\\nb"), so
    that a POSIX name, which may hold any byte but '/' and NUL, cannot break
    a one-line message or forge a line of output."""
    if key.isprintable():
        return key
    return '"' + "".join(
        "\\" + ch if ch in '"\\' else ch if ch.isprintable()
        else escape_char(ch) for ch in key) + '"'


def decode(raw):
    """A key from the library, as os.fsdecode would give it."""
    return raw.decode("utf-8", "surrogateescape")


def canonical(key):
    """The canonical form of a key, as the library writes it
    (shmlib_key_normalize: "/frames" -> "posix:/frames", "sysv:key=42" ->
    "sysv:key=0x0000002a"); a key it does not accept is returned as it is,
    for the call that uses it to judge."""
    out = ctypes.create_string_buffer(_ffi.KEY_MAX)
    if _ffi.lib.shmlib_key_normalize(encode(key, "key_normalize"), out, len(out)) < 0:
        return key
    return decode(out.value)


def backend_of(key):
    """The backend a key names ("posix", "sysv" or "memfd"), or None if it
    names none the package knows (the library then judges the key)."""
    if key in ("", "posix:") or key.startswith(("posix:/", "/")):
        return "posix"
    for backend in ("sysv", "memfd"):
        if key.startswith(backend + ":"):
            return backend
    return None


def ftok(path, proj_id):
    """The System V key glibc's ftok(path, proj_id) gives, as
    "sysv:key=0x%08x".

    `path` must name an existing file; `proj_id` is 1..255. Like ftok(),
    the key comes from the file's inode and device: two files can give the
    same key, and a file made again gives another.
    """
    if _fork.forked:
        _fork.refuse("ftok", str(path))
    raw = os.fsencode(os.fspath(path))
    if b"\0" in raw:
        raise InvalidArgument(_ffi.EINVAL,
                              f"ftok {path!r}: a path cannot contain NUL")
    # ctypes would wrap a number that does not fit in a C int around
    # silently, possibly into the valid range.
    if not isinstance(proj_id, int) or not -2**31 <= proj_id < 2**31:
        raise InvalidArgument(_ffi.EINVAL,
                              f"ftok {display(os.fsdecode(raw))}: proj_id must be 1..255, "
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
    full = canonical(key) if isinstance(key, str) else ""
    if not full.startswith("posix:/"):
        raise InvalidArgument(_ffi.EINVAL, f"{key!r} is not a POSIX key")
    return full[len("posix:/"):]
