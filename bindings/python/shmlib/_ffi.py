"""The one place that loads libshm and declares its C signatures.

What mirrors include/shmlib.h (constants, the shmlib_stat_t layout and
the prototype of every function) is generated into _abi.py and re-exported
here. The rest of the package calls the library only through `lib`.

`lib` is loaded on first use, not at import: loading starts libshm's Go
runtime, and a process that has started it must not fork() children that
use the library. Python 3.14's default start method, "forkserver", imports
the main module (and so `shmlib`) into the server that forks the workers;
as long as the server never calls into libshm, its workers load their own.
"""

import ctypes
import os
from _thread import allocate_lock  # threading.Lock, without importing threading

# Every constant (without the SHMLIB_ prefix), Stat (shmlib_stat_t) and
# PROTOTYPES, generated from include/shmlib.h. The loaded library must have
# the same major version and at least this minor version: later minor
# versions only add (header: "reserved words may gain meaning").
from ._abi import *  # noqa: F401,F403
from ._abi import PROTOTYPES, Stat, VERSION_MAJOR, VERSION_MINOR

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
