"""Channels: messages from one producer process to one consumer process
through a ring in a shared segment (see CHANNELS in include/shmlib.h).

    key = shmlib.create_channel(1 << 20)
    with shmlib.open_channel(key, "producer") as tx:      # one process
        tx.send(b"hello")
    with shmlib.open_channel(key, "consumer") as rx:      # another one
        for message in rx:                                # until end of stream
            ...
    shmlib.destroy(key)

Zero copy. `reserve(n)` and `peek()` lend ring memory to Python: the space
a message is being written into (producer), or the message being read
(consumer). Views of it are built on one ctypes array per loan, as in
segment.py, so the array's reference count tells whether any view is alive.
A loan ends (commit, release) only when none is: the with-block raises
BufferError otherwise, because the memory then belongs to the other process.
The array refers back to its Channel, so the mapping outlives every view.

A with-block is all or nothing. Leaving it normally commits or releases.
Leaving it by an exception (or by that BufferError) sends nothing and
consumes nothing: the next call on this end gives the loan back
(shmlib_chan_unreserve, shmlib_chan_unpeek) once no view of it is alive, so
the next peek or recv gets the same message again, and the next reserve or
send starts afresh. close() drops a pending reservation, and leaves a held
message for the next consumer, as shmlib_chan_close does.

Waiting: ends are opened with SHMLIB_CHAN_EINTR, so a signal that lands
on the waiting thread ends the library's wait at once (SHMLIB_EINTR) and
Python runs its handler (Ctrl-C raises KeyboardInterrupt) before the call
is made again. A signal may land on another thread, so the library is also
called with timeouts of at most _SLICE_NS and again until the caller's
timeout. A call that times out or is interrupted has done nothing, so
calling again is safe.
"""

import contextlib
import ctypes
import math
import numbers
import sys
import threading
import time

from . import _ffi, _fork, framing, keys
from .errors import (Busy, EndOfStream, InvalidArgument, Timeout, check,
                     from_code)
from .segment import _creation_key, _KeyBuffer, _numpy

_ENDS = {"producer": _ffi.CHAN_PRODUCER, "consumer": _ffi.CHAN_CONSUMER}

# The longest the library waits in one call (0.1 s): how late Ctrl-C can be
# when the signal lands on a thread other than the waiting one.
_SLICE_NS = 100_000_000


def create_channel(capacity, key=None, *, backend=None, mode=0o600,
                   hugetlb=False, sparse=False):
    """Creates a segment holding an empty channel and returns its key.

    capacity  bytes of ring, rounded up to a multiple of 4096, at most
              8 GiB. A message may take half of it, less 16 bytes
              (Channel.max_message); each costs 16 bytes plus its length
              rounded up to 16.
    key, backend, mode, hugetlb, sparse: as for shmlib.create(). The
              segment is capacity + 4096 bytes.

    Nothing is attached. Open its ends with open_channel(key, ...) and
    destroy it with shmlib.destroy(key) when every process is done.
    """
    op = "chan_create"
    key, raw = _creation_key(op, key, backend, mode)
    if not isinstance(capacity, int):
        raise TypeError(f"{op}: capacity must be an int, not "
                        f"{type(capacity).__name__}")
    # ctypes would silently wrap a negative or huge one into a uint64_t.
    if not 0 <= capacity < 2**64:
        raise InvalidArgument(_ffi.EINVAL, f"{op} {key}: capacity must be 1 "
                              f"byte to 8 GiB, not {capacity}")
    flags = (_ffi.HUGETLB if hugetlb else 0) | (_ffi.SPARSE if sparse else 0)
    out = _KeyBuffer()
    check(_ffi.lib.shmlib_chan_create(raw, capacity, mode, flags, out,
                                      _ffi.KEY_MAX))
    return keys.decode(out.value)


def open_channel(key, end):
    """Attaches the channel named by `key` and takes one end of it:
    "producer" (sends) or "consumer" (receives). Returns a Channel; close
    it, or use it in a with-block.

    Each end is held by one process at a time: a second one, this process
    included, gets Busy, unless the holder has died, in which case the end
    is taken over. Opening the producer of a channel whose producer closed
    raises EndOfStream; a segment that is not a channel, InvalidArgument.
    """
    op = "chan_open"
    raw = keys.encode(key, op)
    code = _ENDS.get(end) if isinstance(end, str) else None
    if code is None:
        raise InvalidArgument(_ffi.EINVAL, f"{op} {key}: end must be "
                              f"'producer' or 'consumer', not {end!r}")
    if _fork.forked:
        _fork.refuse(op, key)
    handle = _ffi.chan_t()
    check(_ffi.lib.shmlib_chan_open(raw, code | _ffi.CHAN_EINTR, ctypes.byref(handle)))
    size = ctypes.c_uint64()  # asked once: it never changes
    check(_ffi.lib.shmlib_chan_max_message(handle, ctypes.byref(size)))
    return Channel._wrap(keys.canonical(key), end, handle.value, size.value)


def _timeout_ns(op, key, timeout):
    """Seconds (int or float) as nanoseconds; None (or infinity) is None,
    waiting forever."""
    if timeout is None:
        return None
    if not isinstance(timeout, numbers.Real):  # numpy's numbers are too
        raise TypeError(f"{op} {key}: timeout must be seconds or None, not "
                        f"{timeout!r}")
    seconds = float(timeout)
    if not seconds >= 0:  # negative or NaN
        raise InvalidArgument(_ffi.EINVAL, f"{op} {key}: timeout must be 0 "
                              f"or more seconds, or None, not {timeout!r}")
    if seconds == math.inf:
        return None
    return math.ceil(seconds * 1e9)


class _Loan:
    """Ring memory lent to this process: the message a peek holds, or the
    space a reserve set aside. `active` while a with-block has it."""

    __slots__ = ("address", "length", "active", "_array")

    def __init__(self, address, length):
        self.address = address
        self.length = length
        self.active = True
        self._array = None  # made by the first view

    def view(self, channel, readonly):
        array = self._array
        if array is None:
            array = (ctypes.c_char * self.length).from_address(self.address)
            array.channel = channel  # see the module docstring
            self._array = array
        view = memoryview(array).cast("B")
        return view.toreadonly() if readonly else view

    def views_alive(self):
        # References: self._array and getrefcount's argument; any other
        # one is a view (a memoryview's buffer, a numpy array's base).
        return self._array is not None and sys.getrefcount(self._array) > 2


class Channel:
    """One open end of a channel: made by open_channel().

    Producer: send(), reserve(), send_array(). Consumer: recv(),
    recv_into(), peek(), recv_array(), peek_array(), and iteration, which
    yields each message as bytes until the end of the stream.

    Calls that wait take `timeout` in seconds: None (the default) waits as
    long as it takes, 0 does not wait (Timeout at once if the call cannot
    proceed). If the process holding the other end dies, a waiting call
    raises PeerGone (after the consumer has received every committed
    message).

    An end is used by one thread at a time: a call made while another
    thread is in one on the same Channel raises Busy. close() (or the end
    of a with-block) leaves the end; a producer's close ends the stream.
    Pickling a Channel hands its end over to the process that unpickles it
    (see __reduce__): that is how an end goes to a Pool worker.
    """

    __slots__ = ("_key", "_end", "_handle", "_max_message", "_lock",
                 "_loan", "__weakref__")

    def __init__(self):
        raise TypeError("Channels are made by shmlib.open_channel()")

    @classmethod
    def _wrap(cls, key, end, handle, max_message):
        self = object.__new__(cls)
        self._key = key
        self._end = end
        self._handle = handle  # None once closed
        self._max_message = max_message
        # Held for the duration of each call, never across a with-block:
        # it makes this Channel's bookkeeping as single-threaded as the
        # library's handle (a second thread gets Busy from either).
        self._lock = threading.Lock()
        self._loan = None
        return self

    @property
    def key(self):
        """The canonical key of the channel's segment."""
        return self._key

    @property
    def end(self):
        """"producer" or "consumer"."""
        return self._end

    @property
    def max_message(self):
        """The largest message, in bytes: half the capacity, less 16."""
        return self._max_message

    @property
    def closed(self):
        return self._handle is None

    # -------------------------------------------------------------- calls

    def _enter(self, op):
        """Starts a call and returns the handle; the caller releases
        self._lock. Which end may make it, the library says."""
        if _fork.forked:
            _fork.refuse(op, self._key)
        if not self._lock.acquire(blocking=False):
            raise Busy(_ffi.EBUSY, f"{op} {self._key}: another thread is in a "
                       f"call on this {self._end} end; an end is used by one "
                       "thread at a time")
        if self._handle is None:
            self._lock.release()
            raise InvalidArgument(_ffi.EINVAL, f"{op} {self._key}: this "
                                  f"{self._end} end is closed")
        return self._handle

    def _wait(self, op, call, timeout):
        """call(timeout_ns) -> rc, repeated in slices of at most _SLICE_NS
        until `timeout` (see the module docstring)."""
        ns = _timeout_ns(op, self._key, timeout)
        deadline = None if ns is None else time.monotonic_ns() + ns
        left = _SLICE_NS if ns is None else ns
        while True:
            rc = call(min(left, _SLICE_NS))
            # On EINTR, Python runs the signal's handler here (a raise ends
            # the loop) and the wait goes on.
            if rc != _ffi.EINTR and (rc != _ffi.ETIMEDOUT or (ns is not None and ns <= _SLICE_NS)):
                return rc
            if rc == _ffi.ETIMEDOUT and deadline is not None and left <= _SLICE_NS:
                # The library's own words for the whole wait, not for the
                # last slice of it.
                raise Timeout(_ffi.ETIMEDOUT, f"{op} {self._key}: timed out "
                              f"after {_duration_text(ns)}")
            if deadline is not None:
                left = max(deadline - time.monotonic_ns(), 0)

    def _settle(self, op, handle):
        """Gives back the loan a with-block left (it failed, or views of
        the loan outlived it), before another call on this end; refuses
        while a block still uses the loan or views of it are alive."""
        loan = self._loan
        if loan is None:
            return
        if loan.active:
            what = ("a reservation is pending" if self._end == "producer"
                    else "a message is held")
            raise InvalidArgument(_ffi.EINVAL, f"{op} {self._key}: {what} in "
                                  "a with-block; leave the block first")
        if loan.views_alive():
            raise self._views_error(op)
        give_back = (_ffi.lib.shmlib_chan_unreserve if self._end == "producer"
                     else _ffi.lib.shmlib_chan_unpeek)
        check(give_back(handle))
        self._loan = None

    def _views_error(self, op):
        if self._end == "producer":
            what, fate = ("reserved space", "nothing is sent, and the space "
                          "is given back once they are gone")
        else:
            what, fate = ("held message", "the message stays held until they "
                          "are gone; then the next peek or recv on this end "
                          "delivers it again")
        return BufferError(f"{op} {self._key}: views of the {what} are still "
                           "alive (memoryviews, slices, numpy arrays); "
                           f"delete them first. {fate}")

    # ----------------------------------------------------------- producer

    def send(self, data, timeout=None):
        """Sends `data`, a bytes-like object (C-contiguous), as one message,
        waiting up to `timeout` for room.

        Raises MessageTooLarge beyond max_message, Timeout, PeerGone (the
        consumer died while the ring was full), Corrupt.
        """
        if type(data) is bytes:
            address, size = data, len(data)
        elif type(data) is bytearray:
            # ctypes gives the address of a writable buffer without a copy.
            size = len(data)
            address = (ctypes.c_char * size).from_buffer(data) if size else b""
        else:
            # Other buffers: copy into reserved space instead, still one copy.
            view = memoryview(data).cast("B")
            with self.reserve(len(view), timeout) as buf:
                buf[:] = view
            return
        op = "chan_send"
        handle = self._enter(op)
        try:
            self._settle(op, handle)
            rc = self._wait(op, lambda ns: _ffi.lib.shmlib_chan_send(
                handle, address, size, ns), timeout)
        finally:
            self._lock.release()
        if rc < 0:
            raise from_code(rc)

    def reserve(self, size, timeout=None):
        """Space for a message of `size` bytes, written in place:

            with tx.reserve(size) as buf:     # waits up to timeout for room
                buf[:] = ...                  # a writable memoryview, no copy

        Normal exit commits the message; set `length` on the Reservation
        first to commit only the first bytes. See Reservation for the
        rules (exceptions, views that outlive the block).
        """
        if not isinstance(size, int):
            raise TypeError(f"chan_reserve: size must be an int, not "
                            f"{type(size).__name__}")
        return Reservation(self, size, timeout)

    def _reserve_view(self, size, timeout):
        op = "chan_reserve"
        handle = self._enter(op)
        try:
            if size < 0:
                raise InvalidArgument(_ffi.EINVAL, f"{op} {self._key}: size "
                                      f"must be 0 or more, not {size}")
            self._settle(op, handle)
            address = ctypes.c_void_p()
            rc = self._wait(op, lambda ns: _ffi.lib.shmlib_chan_reserve(
                handle, size, ns, ctypes.byref(address)), timeout)
            if rc < 0:
                raise from_code(rc)
            self._loan = _Loan(address.value, size)
            return self._loan.view(self, readonly=False)
        finally:
            self._lock.release()

    def _commit(self, length):
        """Ends a reserve block that exited normally."""
        op = "chan_commit"
        handle = self._enter(op)
        try:
            loan = self._loan
            loan.active = False  # whatever happens next, the block is over
            if not isinstance(length, int) or not 0 <= length <= loan.length:
                raise InvalidArgument(_ffi.EINVAL, f"{op} {self._key}: "
                                      f"length must be 0..{loan.length}, "
                                      f"not {length!r}")
            if loan.views_alive():
                raise self._views_error(op)
            check(_ffi.lib.shmlib_chan_commit(handle, length))
            self._loan = None
        finally:
            self._lock.release()

    def send_array(self, array, timeout=None):
        """Sends a numpy array (or anything numpy.asarray takes) as one
        array message: a header with its dtype and shape, then its elements
        in C order (see shmlib.framing for the format, which C programs can
        write too). Written in place, one copy. recv_array() or peek_array()
        on the other end gives it back with the same dtype and shape.

        ValueError for dtypes the header cannot describe (Python objects,
        structured dtypes); MessageTooLarge if it does not fit max_message.
        """
        numpy = _numpy("Channel.send_array")

        array = numpy.asarray(array)
        head = framing.header(numpy, array.dtype, array.shape)
        with self.reserve(len(head) + array.nbytes, timeout) as buf:
            buf[:len(head)] = head
            if array.size:
                target = numpy.ndarray(array.shape, array.dtype, buf,
                                       len(head))
                # One pass, whatever the source's memory order.
                numpy.copyto(target, array, casting="no")
                del target  # a view: it must not outlive the block

    # ----------------------------------------------------------- consumer

    def _hold(self, op, handle, timeout):
        """The next message, held. Called with the lock held."""
        self._settle(op, handle)
        address, length = ctypes.c_void_p(), ctypes.c_size_t()
        rc = self._wait(op, lambda ns: _ffi.lib.shmlib_chan_peek(
            handle, ns, ctypes.byref(address), ctypes.byref(length)),
            timeout)
        if rc < 0:
            error = from_code(rc)
            if op != "chan_peek":  # recv() peeks: name what was called
                error = type(error)(rc, error.message.replace(
                    "chan_peek", op, 1))
            raise error
        self._loan = _Loan(address.value, length.value)
        return self._loan

    def _release(self, op, handle):
        """Releases the held message, if no view of it is alive."""
        if self._loan.views_alive():
            raise self._views_error(op)
        check(_ffi.lib.shmlib_chan_release(handle))
        self._loan = None

    def recv(self, timeout=None):
        """The next message, as bytes, waiting up to `timeout`.

        Raises EndOfStream once the producer has closed and every message
        was received; PeerGone if the producer died (after every message
        it committed); Timeout; Corrupt.
        """
        op = "chan_recv"
        handle = self._enter(op)
        try:
            loan = self._hold(op, handle, timeout)
            loan.active = False
            data = ctypes.string_at(loan.address, loan.length)
            self._release(op, handle)
            return data
        finally:
            self._lock.release()

    def recv_into(self, buffer, timeout=None):
        """Copies the next message into `buffer` (a writable, C-contiguous
        bytes-like object, such as a bytearray or a numpy array) and
        returns its length. A message longer than the buffer stays in the
        channel: BufferTooSmall, whose `length` says how long it is."""
        op = "chan_recv"
        view = memoryview(buffer)
        # Holds the buffer exported (a bytearray cannot be resized under
        # the library's copy); TypeError if it is read-only or not
        # contiguous.
        target = (ctypes.c_char * view.nbytes).from_buffer(view)
        handle = self._enter(op)
        try:
            self._settle(op, handle)
            length = ctypes.c_size_t()
            rc = self._wait(op, lambda ns: _ffi.lib.shmlib_chan_recv(
                handle, target, len(target), ctypes.byref(length), ns),
                timeout)
            if rc == _ffi.ERANGE:
                error = from_code(rc)
                error.length = length.value
                raise error
            if rc < 0:
                raise from_code(rc)
            return length.value
        finally:
            self._lock.release()

    def peek(self, timeout=None):
        """The next message in place, held until the with-block ends:

            with rx.peek() as view:       # a read-only memoryview, no copy
                header = bytes(view[:16])

        Normal exit releases it (its memory goes back to the producer) and
        releases `view`; see Peek for exceptions and views that outlive
        the block.
        """
        return Peek(self, timeout)

    def _peek_view(self, timeout):
        op = "chan_peek"
        handle = self._enter(op)
        try:
            loan = self._hold(op, handle, timeout)
            loan.active = True
            return loan.view(self, readonly=True)
        finally:
            self._lock.release()

    def _release_held(self):
        """Ends a peek block that exited normally."""
        op = "chan_release"
        handle = self._enter(op)
        try:
            self._loan.active = False
            self._release(op, handle)
        finally:
            self._lock.release()

    def _abandon(self):
        """Ends a with-block left by an exception: the next call on this
        end gives the loan back (_settle)."""
        loan = self._loan
        if loan is not None:
            loan.active = False

    def recv_array(self, timeout=None):
        """The next message, an array message (see send_array), as a new
        numpy array with its dtype and shape: one copy, out of the ring.

        A message that is not an array message raises ValueError and stays
        in the channel: recv() takes it as bytes.
        """
        with self.peek_array(timeout) as array:
            copy = array.copy()
            del array  # a view: it must not outlive the block
        return copy

    def peek_array(self, timeout=None):
        """The next message, an array message, as a read-only numpy array
        over the ring itself (no copy), held until the block ends:

            with rx.peek_array() as frame:
                total = frame.sum()
                del frame      # `with` leaves the name bound: delete it

        The array is a view: if it (or any array derived from it) is still
        alive when the block ends, the block raises BufferError and the
        message stays held. Copy what must outlive the block.
        """
        return PeekArray(self, timeout)

    # ----------------------------------------------------------- the rest

    def __iter__(self):
        return self

    def __next__(self):
        try:
            return self.recv()
        except EndOfStream:
            raise StopIteration from None

    # ------------------------------------------------------------ asyncio
    # (aio.py: pollable ends, for event loops)

    def fileno(self):
        """A file descriptor that turns readable when this end is ready,
        once arm() was called: for loop.add_reader, select, epoll."""
        from . import aio  # asyncio is imported only by those who use it
        return aio.fileno(self)

    def arm(self):
        """Makes fileno() readable when this end is ready (at once if it
        is now): call it before each wait, after calls with timeout 0 gave
        Timeout."""
        from . import aio
        aio.arm(self)

    async def recv_async(self):
        """recv() for asyncio: awaits the next message without blocking
        the loop."""
        from . import aio
        return await aio.recv_async(self)

    async def send_async(self, data):
        """send() for asyncio: awaits room without blocking the loop."""
        from . import aio
        return await aio.send_async(self, data)

    def __aiter__(self):
        return self

    async def __anext__(self):
        from . import aio
        return await aio.anext_message(self)

    def close(self):
        """Leaves this end and detaches the channel; the segment lives on.

        Closing the producer ends the stream: the consumer receives what was
        committed, then EndOfStream. A pending reservation is dropped; a
        held message is left for the next consumer. Raises BufferError
        (and stays open) while views of lent memory are alive. Closing
        twice does nothing.

        In a child made by fork() without exec(), the end belongs to the
        parent: close() only ends this child's use of it.
        """
        if self._handle is None:
            return
        if _fork.forked:
            self._handle = None
            return
        self._leave("chan_close", _ffi.lib.shmlib_chan_close)

    def handover(self):
        """Leaves this end WITHOUT closing it, so that another process can
        open it: the stream goes on and the peer is told nothing. A pending
        reservation is dropped; a held message goes to the next holder.
        This Channel is closed after. Pickling a Channel does this (see
        __reduce__)."""
        if _fork.forked:
            _fork.refuse("chan_handover", self._key)
        if self._handle is None:
            raise InvalidArgument(_ffi.EINVAL, f"chan_handover {self._key}: "
                                  f"this {self._end} end is closed")
        self._leave("chan_handover", _ffi.lib.shmlib_chan_handover)

    def _leave(self, op, call):
        """Ends this process's use of the end with call (close or handover),
        refusing while views of lent memory are alive."""
        handle = self._enter(op)
        try:
            loan = self._loan
            if loan is not None and loan.views_alive():
                raise BufferError(f"{op} {self._key}: views of lent ring "
                                  "memory are still alive; delete them "
                                  "first")
            check(call(handle))
            self._handle = None
            self._loan = None
        finally:
            self._lock.release()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def __del__(self):
        # Leave a forgotten end, as files close (at exit too, so that a
        # producer's stream ends). Views keep their Channel alive, so there
        # are none left by now. Failures are dropped, as they must be in
        # __del__, which may also run late in the interpreter's shutdown.
        try:
            self.close()
        except Exception:
            pass

    def __reduce__(self):
        """Pickling hands the end over to whoever unpickles it: this
        process leaves the end without closing it (handover()), and the
        receiving process opens it. So a Channel can be passed to a
        multiprocessing Process or Pool worker (spawn or forkserver: a
        forked worker cannot use the library); this Channel is closed once
        pickled."""
        key, end = self._key, self._end
        self.handover()
        return (open_channel, (key, end))

    def __repr__(self):
        state = "closed" if self._handle is None else "open"
        return (f"<shmlib.Channel {self._key} {self._end}, messages up to "
                f"{self._max_message} bytes, {state}>")


class _LoanBlock:
    """The end of a with-block that lends ring memory, shared by
    Reservation and Peek. A subclass has `_channel` and `_view` (what its
    __enter__ returned), and ends the loan in _finish() with the library
    call named in `_op` (the name the BufferError gives).

    Normal exit releases the view, then calls _finish(). An exception
    inside the block, or another view still alive (BufferError instead of
    the call), abandons the loan: the next call on the Channel gives it
    back."""

    __slots__ = ()

    def __exit__(self, exc_type, exc, tb):
        view = self._view
        if exc_type is not None:
            with contextlib.suppress(BufferError):
                view.release()
            self._channel._abandon()
            return
        try:
            view.release()
        except BufferError:  # something exported from the view itself
            self._channel._abandon()
            raise self._channel._views_error(self._op) from None
        self._finish()


class Reservation(_LoanBlock):
    """What Channel.reserve(size) returns; its with-block gives a writable
    memoryview of `size` bytes in the ring.

    length  how many bytes to commit (default: all of them); set it inside
            the block to send a shorter message, e.g.
                r = tx.reserve(65536)
                with r as buf:
                    r.length = f.readinto(buf)

    Normal exit commits the first `length` bytes as one message and
    releases `buf`. Any other view of the space (a slice, a numpy array)
    must be gone by then: the block raises BufferError otherwise. An
    exception inside the block, or that BufferError, sends nothing: the
    next call on this end gives the space back, once no view of it is
    alive.
    """

    __slots__ = ("_channel", "_size", "_timeout", "_view", "length")

    def __init__(self, channel, size, timeout):
        self._channel = channel
        self._size = size
        self._timeout = timeout
        self._view = None
        self.length = size

    def __enter__(self):
        if self._view is not None:
            raise RuntimeError("a Reservation is entered once")
        self._view = self._channel._reserve_view(self._size, self._timeout)
        return self._view

    _op = "chan_commit"

    def _finish(self):
        self._channel._commit(self.length)


class Peek(_LoanBlock):
    """What Channel.peek() returns; its with-block gives the next message
    as a read-only memoryview into the ring.

    Normal exit releases the message (its memory goes back to the
    producer) and releases the view. Any other view of it (a slice kept, a
    numpy array) must be gone by then: the block raises BufferError
    otherwise. An exception inside the block, or that BufferError,
    consumes nothing: the next call on this end gives the message back, and
    a peek or recv delivers it again (closing leaves it to the next
    consumer).
    """

    __slots__ = ("_channel", "_timeout", "_view")

    def __init__(self, channel, timeout):
        self._channel = channel
        self._timeout = timeout
        self._view = None

    def __enter__(self):
        if self._view is not None:
            raise RuntimeError("a Peek is entered once")
        self._view = self._channel._peek_view(self._timeout)
        return self._view

    _op = "chan_release"

    def _finish(self):
        self._channel._release_held()


class PeekArray(Peek):
    """What Channel.peek_array() returns: a Peek whose with-block gives the
    message decoded as a read-only numpy array (see shmlib.framing)."""

    __slots__ = ()

    def __enter__(self):
        numpy = _numpy("Channel.peek_array")
        view = super().__enter__()
        try:
            dtype, shape, offset = framing.parse(numpy, view)
            return numpy.ndarray(shape, dtype, view, offset)
        except BaseException:
            # Not an array message: it stays held, for recv() to take.
            self.__exit__(*sys.exc_info())
            raise


def _duration_text(ns):
    """ns written as the library writes a duration in its messages (Go's
    time.Duration: 300ms, 1.5s, 2m0s), so that a timeout reads the same
    from every language."""
    if ns < 1000:
        return f"{ns}ns"
    if ns < 10**6:
        return _decimal(ns, 10**3) + "\u00b5s"
    if ns < 10**9:
        return _decimal(ns, 10**6) + "ms"
    hours, rest = divmod(ns, 3600 * 10**9)
    minutes, rest = divmod(rest, 60 * 10**9)
    seconds = _decimal(rest, 10**9) + "s"
    if hours:
        return f"{hours}h{minutes}m{seconds}"
    if minutes:
        return f"{minutes}m{seconds}"
    return seconds


def _decimal(value, unit):
    """value / unit in decimal, without trailing zeros: exact, no floats."""
    whole, frac = divmod(value, unit)
    digits = str(frac).rjust(len(str(unit)) - 1, "0").rstrip("0")
    return f"{whole}.{digits}" if digits else str(whole)
