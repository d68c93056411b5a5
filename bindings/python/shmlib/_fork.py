"""Knows whether this process is a child made by fork() without exec() of
a process that had loaded libshm.

In such a child the library answers every call with SHMLIB_EFORKED (its Go
runtime cannot run there), so the package refuses before calling and says
what to do instead; mappings the parent made before the fork are still
there and are reused (see segment._reattach). A child of a process that
had imported shmlib but not yet loaded libshm is free to load its own.
"""

import os

from . import _ffi
from .errors import FORK_HINT, Forked

forked = False


def _mark_forked():
    global forked
    forked = _ffi.loaded()


os.register_at_fork(after_in_child=_mark_forked)


def refuse(op, key=None):
    """Raises Forked; callers check `forked` first (it is on hot paths)."""
    what = op if key is None else f"{op} {key}"
    raise Forked(_ffi.EFORKED, f"{what}: called in a forked child: {FORK_HINT}")
