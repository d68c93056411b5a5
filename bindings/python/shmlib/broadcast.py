"""Broadcast channels: one producer, up to 1024 subscribers, each of which
receives every message, in order, in place (see BROADCAST in
include/shmlib.h).

    key = shmlib.create_broadcast(1 << 20, subscribers=8)
    tx = shmlib.open_broadcast(key, "producer")        # one process
    rx = shmlib.open_broadcast(key, "subscriber")      # each of the others
    for message in rx:                                 # until end of stream
        ...
    print(rx.lost())                                   # overwrite="oldest" only

An end is a Channel (send, reserve, recv, peek, the numpy calls, iteration,
timeouts, Ctrl-C, pickling): a subscriber is a receiving end whose `end`
says "subscriber". A subscriber joins at any time and starts at the next
message. With overwrite=True the producer never waits for a subscriber
that lags: it skips ahead, and lost() says how many messages it missed.
"""

import ctypes

from . import _ffi, _fork, keys
from .channel import Channel, _SLICE_NS  # noqa: F401  (one waiting policy)
from .errors import InvalidArgument, check
from .segment import _creation_key, _KeyBuffer

_ENDS = {"producer": _ffi.CHAN_PRODUCER, "subscriber": _ffi.CHAN_SUBSCRIBER}


def create_broadcast(capacity, key=None, *, subscribers=64, overwrite=False,
                     backend=None, mode=0o600, sparse=False):
    """Creates a segment holding an empty broadcast channel and returns its
    key.

    capacity     bytes of ring, as for create_channel.
    subscribers  slots for subscribers, 1 to 1024.
    overwrite    False (lossless): the producer waits for the slowest live
                 subscriber. True (overwrite-oldest): it overwrites the
                 oldest messages, and a lagging subscriber skips ahead.
    key, backend, mode, sparse: as for create_channel; POSIX or memfd only
    (a System V key raises NotSupported).
    """
    op = "bcast_create"
    key, raw = _creation_key(op, key, backend, mode)
    for name, value, top in (("capacity", capacity, 2**64), ("subscribers", subscribers, 2**32)):
        if not isinstance(value, int):
            raise TypeError(f"{op}: {name} must be an int, not {type(value).__name__}")
        if not 0 <= value < top:  # ctypes would wrap it silently
            raise InvalidArgument(_ffi.EINVAL, f"{op} {key}: {name} {value} is out of range")
    flags = (_ffi.BCAST_OVERWRITE if overwrite else 0) | (_ffi.SPARSE if sparse else 0)
    out = _KeyBuffer()
    check(_ffi.lib.shmlib_bcast_create(raw, capacity, subscribers, mode, flags,
                                       out, _ffi.KEY_MAX))
    return keys.decode(out.value)


def open_broadcast(key, end):
    """Takes the "producer" end of the broadcast channel named by `key`, or
    joins it as a "subscriber" (Busy when every slot is held by a live
    process). Returns a Broadcast."""
    op = "chan_open"
    raw = keys.encode(key, op)
    code = _ENDS.get(end) if isinstance(end, str) else None
    if code is None:
        raise InvalidArgument(_ffi.EINVAL, f"{op} {key}: end must be "
                              f"'producer' or 'subscriber', not {end!r}")
    if _fork.forked:
        _fork.refuse(op, key)
    handle = _ffi.chan_t()
    check(_ffi.lib.shmlib_chan_open(raw, code | _ffi.CHAN_EINTR, ctypes.byref(handle)))
    size = ctypes.c_uint64()
    check(_ffi.lib.shmlib_chan_max_message(handle, ctypes.byref(size)))
    # A subscriber receives as a consumer does: Channel's receiving calls
    # check for "consumer".
    inner = "producer" if end == "producer" else "consumer"
    return Broadcast._wrap(keys.canonical(key), inner, handle.value, size.value)


class Broadcast(Channel):
    """One open end of a broadcast channel: made by open_broadcast(). It
    has every call of a Channel of the same direction, and lost()."""

    __slots__ = ()

    @property
    def end(self):
        """"producer" or "subscriber"."""
        return "producer" if self._end == "producer" else "subscriber"

    def lost(self):
        """How many messages the producer skipped this subscriber past
        (overwrite-oldest) since the last call, which resets the count."""
        op = "chan_lost"
        handle = self._enter(op)
        try:
            out = ctypes.c_uint64()
            check(_ffi.lib.shmlib_chan_lost(handle, ctypes.byref(out)))
            return out.value
        finally:
            self._lock.release()

    def __reduce__(self):
        """Pickling hands a producer over (see Channel.__reduce__); a
        subscriber unpickled elsewhere joins anew, at the next message."""
        key, end = self._key, self.end
        self.handover()
        return (open_broadcast, (key, end))

    def __repr__(self):
        state = "closed" if self._handle is None else "open"
        return (f"<shmlib.Broadcast {self._key} {self.end}, messages up to "
                f"{self._max_message} bytes, {state}>")
