"""Inspection: what the kernel knows of segments, without attaching."""

import ctypes
import dataclasses
from typing import Optional

from . import _ffi, _fork, keys
from .errors import check

_BACKENDS = {_ffi.BACKEND_POSIX: "posix", _ffi.BACKEND_SYSV: "sysv",
             _ffi.BACKEND_MEMFD: "memfd"}


@dataclasses.dataclass(frozen=True)
class SegmentInfo:
    """One segment as stat() and list_segments() see it.

    Fields a backend does not record are None: a POSIX object has no attach
    count, creator pid, shmid or IPC key. A memfd segment is described as
    a POSIX object is, but its `cpid` is the pid in its key: the process
    that holds it under that key (its creator, or a process it was sent
    to). Times are seconds since the epoch, 0 for never.
    """

    key: str                #: canonical key ("sysv:id=N" if keyless)
    backend: str            #: "posix", "sysv" or "memfd"
    size: int               #: bytes
    mode: int               #: permission bits, e.g. 0o600
    uid: int                #: owner
    gid: int
    cuid: int               #: creator (the owner for POSIX)
    cgid: int
    nattach: Optional[int]  #: attaches in all processes (System V)
    cpid: Optional[int]     #: creator's pid (System V; POSIX from reap()); holder's (memfd)
    lpid: Optional[int]     #: pid of the last attach or detach (System V)
    shmid: Optional[int]    #: System V id
    ipc_key: Optional[int]  #: System V IPC key, 0 for IPC_PRIVATE
    atime: int              #: last attach (System V) or access (POSIX)
    dtime: int              #: last detach (System V), 0 for POSIX
    ctime: int              #: last change of size, mode or owner
    destroyed: bool         #: System V: marked for removal, still attached
    locked: bool            #: System V: locked in RAM (SHM_LOCK)
    channel: bool           #: holds a libshm channel (shmlib_chan_create)
    broadcast: bool = False #: holds a broadcast channel (shmlib_bcast_create)

    @classmethod
    def _from_stat(cls, st):
        backend = _BACKENDS.get(st.backend, f"unknown({st.backend})")
        sysv = backend == "sysv"
        memfd = backend == "memfd"
        return cls(
            key=keys.decode(st.key),
            backend=backend,
            size=st.size,
            mode=st.mode,
            uid=st.uid,
            gid=st.gid,
            cuid=st.cuid,
            cgid=st.cgid,
            nattach=st.nattach if sysv else None,
            cpid=st.cpid or None,  # POSIX: known only to reap(), from the name
            lpid=st.lpid if sysv else None,
            shmid=st.shmid if sysv else None,
            ipc_key=st.ipc_key if sysv else None,
            atime=st.atime,
            dtime=st.dtime,
            ctime=st.ctime,
            destroyed=bool(st.flags & _ffi.STAT_DESTROYED),
            locked=bool(st.flags & _ffi.STAT_LOCKED),
            channel=bool(st.flags & _ffi.STAT_CHANNEL),
            broadcast=bool(st.flags & _ffi.STAT_BROADCAST),
        )


def stat(key):
    """What the kernel knows of the segment named by `key`, as a
    SegmentInfo. Needs no attach and changes nothing."""
    raw = keys.encode(key, "stat")
    if _fork.forked:
        _fork.refuse("stat", key)
    st = _ffi.Stat()
    check(_ffi.lib.shmlib_stat(raw, ctypes.byref(st)))
    return SegmentInfo._from_stat(st)


def list_segments():
    """Every segment this process can see: POSIX objects (by name), then
    System V segments (by shmid), then the memfd segments THIS process
    holds (by descriptor), as a list of SegmentInfo. Other processes'
    memfds have no name to be found by: they are not listed."""
    if _fork.forked:
        _fork.refuse("list")
    count = ctypes.c_size_t()
    capacity = 64  # most machines have fewer; one call is then enough
    while True:
        items = (_ffi.Stat * capacity)()
        rc = _ffi.lib.shmlib_list(items, capacity, ctypes.byref(count))
        if rc != _ffi.ERANGE:
            check(rc)
            return [SegmentInfo._from_stat(st) for st in items[:count.value]]
        # Segments come and go between two calls: leave room to spare.
        capacity = count.value + 16


def reap(destroy=False):
    """The segments libshm made that nobody will ever destroy: their creator
    is dead and no process has them attached or open. With destroy=True
    they are destroyed; by default this is a dry run. Only segments whose
    name or key libshm chose (created without a key) are considered, never
    one its user named, nor memfds, which cannot leak. Returns them as a
    list of SegmentInfo, as they were found."""
    if _fork.forked:
        _fork.refuse("reap")
    # No more can be found than exist; a segment made meanwhile has a live
    # creator, so room for every listed one (and some) is room enough.
    capacity = len(list_segments()) + 16
    items = (_ffi.Stat * capacity)()
    count = ctypes.c_size_t()
    rc = _ffi.lib.shmlib_reap(_ffi.REAP_DESTROY if destroy else 0, items, capacity,
                              ctypes.byref(count))
    if rc != _ffi.ERANGE:
        check(rc)
    return [SegmentInfo._from_stat(st) for st in items[:min(count.value, capacity)]]
