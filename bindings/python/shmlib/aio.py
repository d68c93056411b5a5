"""asyncio for Channels and Broadcasts, on pollable ends (shmlib_chan_fd,
see "pollable ends" in include/shmlib.h):

    msg = await rx.recv_async()            # bytes
    await tx.send_async(b"...")
    async for msg in rx:                   # until the end of the stream
        ...

and, for those who drive the loop themselves:

    loop.add_reader(rx.fileno(), on_ready)
    rx.arm()
    def on_ready():
        while True:
            try:
                handle(rx.recv(timeout=0))
            except shmlib.Timeout:
                rx.arm()                   # and wait for the next one
                return

How a wait goes: try the call, letting it wait up to SPIN seconds (50 us:
the loop is blocked that long at most, and a peer that answers within it,
as a pipeline stage on another core usually does, costs no trip through
the loop); if it would still block, arm the end (its fd turns readable
once the end is ready: a library thread watches the ring's futex word)
and await the fd through loop.add_reader; then try again with timeout 0.
An end is used by one task at a time, as by one thread.
"""

import asyncio
import ctypes

from . import _ffi
from .errors import EndOfStream, Timeout, check

# How long a call may block the loop before the wait goes through it.
SPIN = 50e-6


def fileno(end):
    """The end's pollable file descriptor (an eventfd the end owns: do not
    close it; closing the end does)."""
    handle = end._enter("chan_fd")
    try:
        fd = ctypes.c_int()
        check(_ffi.lib.shmlib_chan_fd(handle, ctypes.byref(fd)))
        return fd.value
    finally:
        end._lock.release()


def arm(end):
    """Makes the end's fd readable when the end is ready (at once if it is
    now); clears it until then."""
    handle = end._enter("chan_arm")
    try:
        check(_ffi.lib.shmlib_chan_arm(handle))
    finally:
        end._lock.release()


async def _ready(end):
    """Waits, without blocking the loop, until the end is ready."""
    loop = asyncio.get_running_loop()
    fd = fileno(end)
    arm(end)
    future = loop.create_future()

    def wake():
        if not future.done():
            future.set_result(None)

    loop.add_reader(fd, wake)
    try:
        await future
    finally:
        loop.remove_reader(fd)


async def call_async(end, call):
    """call(timeout) once the end is ready: first with SPIN, then with 0
    after each wake."""
    timeout = SPIN
    while True:
        try:
            return call(timeout)
        except Timeout:
            await _ready(end)
            timeout = 0


async def recv_async(end):
    return await call_async(end, lambda t: end.recv(timeout=t))


async def send_async(end, data):
    return await call_async(end, lambda t: end.send(data, timeout=t))


async def anext_message(end):
    try:
        return await recv_async(end)
    except EndOfStream:
        raise StopAsyncIteration from None
