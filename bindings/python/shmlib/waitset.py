"""Waiting on many ends at once (shmlib_chan_wait_any).

    ready = shmlib.wait_any([rx1, rx2, tx3], timeout=1.0)

returns the first end, of the ones given, whose next call would not wait:
a receiving end with a message (or the end of its stream, or a dead peer),
a producer with room for a message of max_message bytes. Channels and
Broadcasts mix. Timeout: as for Channel calls (None waits as long as it
takes). Up to 128 ends; the kernel needs futex_waitv (Linux 5.16), else
NotSupported.
"""

import ctypes
import time

from . import _ffi, _fork
from .channel import _SLICE_NS, _timeout_ns
from .errors import InvalidArgument, Timeout, from_code


def wait_any(ends, timeout=None):
    op = "chan_wait_any"
    ends = list(ends)
    if not ends or len(ends) > 128:
        raise InvalidArgument(_ffi.EINVAL, f"{op}: between 1 and 128 ends, not {len(ends)}")
    if _fork.forked:
        _fork.refuse(op, ends[0].key)
    ns = _timeout_ns(op, "", timeout)
    deadline = None if ns is None else time.monotonic_ns() + ns
    entered = []
    try:
        # Each end is in this call as in any other: a second thread on one
        # of them gets Busy.
        for end in ends:
            entered.append(end._enter(op))
        handles = (_ffi.chan_t * len(entered))(*entered)
        index = ctypes.c_size_t()
        while True:
            left = _SLICE_NS if deadline is None else max(deadline - time.monotonic_ns(), 0)
            rc = _ffi.lib.shmlib_chan_wait_any(handles, len(entered), min(left, _SLICE_NS),
                                               ctypes.byref(index))
            # EINTR: Python runs the signal's handler here (a raise ends the
            # loop); slices: a signal on another thread is seen within one.
            if rc == _ffi.OK:
                return ends[index.value]
            if rc == _ffi.ETIMEDOUT and deadline is not None and left <= _SLICE_NS:
                raise Timeout(_ffi.ETIMEDOUT, f"{op}: none of {len(ends)} ends was ready "
                              f"within {timeout} s")
            if rc not in (_ffi.EINTR, _ffi.ETIMEDOUT):
                raise from_code(rc)
    finally:
        for end in ends[:len(entered)]:
            end._lock.release()
