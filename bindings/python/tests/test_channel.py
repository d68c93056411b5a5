"""Channels within one process (each end has its own handle, as it would in
two processes): the API, zero copy, the with-block rules, timeouts, end of
stream, errors, corruption and the fork rule. test_channel_processes.py
runs the ends in separate processes."""

import ctypes
import errno
import gc
import os
import pickle
import threading
import time

import pytest

import shmlib
from conftest import unique_name
from shmlib import _ffi

# Offsets in the channel segment (internal/channel/layout.go).
TAIL = 64
HEAD = 128
DATA = 4096
RECORD_HEADER = 16


@pytest.fixture
def pair(chan_key, channels):
    """(producer, consumer) of a new 16 KiB channel."""
    return channels(chan_key, "producer"), channels(chan_key, "consumer")


@pytest.fixture
def raw(chan_key, cleanup):
    """A plain attach of the channel's segment: the bytes the ends share."""
    return cleanup(shmlib.attach(chan_key))


def u64(segment, offset):
    return int.from_bytes(segment.buf[offset:offset + 8], "little")


def set_u64(segment, offset, value):
    segment.buf[offset:offset + 8] = value.to_bytes(8, "little")


# ------------------------------------------------------------ create/open

@pytest.mark.parametrize("backend", ["posix", "sysv"])
def test_create_and_open(backend, cleanup, channels):
    key = cleanup(shmlib.create_channel(5000, backend=backend, mode=0o640))
    assert key.startswith(backend + ":")
    info = shmlib.stat(key)
    # Rounded up to 8192 bytes of ring, plus the 4096-byte header page.
    assert info.channel and info.size == 8192 + 4096 and info.mode == 0o640
    tx = channels(key, "producer")
    rx = channels(key, "consumer")
    assert (tx.key, tx.end, rx.end) == (key, "producer", "consumer")
    assert tx.max_message == rx.max_message == 8192 // 2 - 16
    assert not tx.closed
    assert repr(tx) == (f"<shmlib.Channel {key} producer, messages up to "
                        "4080 bytes, open>")


def test_create_at_a_key_and_its_errors(cleanup):
    key = "posix:/" + unique_name()
    assert cleanup(shmlib.create_channel(4096, key)) == key
    with pytest.raises(shmlib.AlreadyExists):
        shmlib.create_channel(4096, key)
    for capacity in (0, -1, (8 << 30) + 1, 2**64):
        with pytest.raises(shmlib.InvalidArgument):
            shmlib.create_channel(capacity)
    with pytest.raises(TypeError):
        shmlib.create_channel(4096.0)
    with pytest.raises(shmlib.InvalidArgument):
        shmlib.create_channel(4096, "posix:/x", backend="sysv")
    with pytest.raises(shmlib.InvalidArgument):
        shmlib.create_channel(4096, mode=-1)
    with pytest.raises(shmlib.NotSupported):
        shmlib.create_channel(4096, sparse=True, backend="sysv")


def test_open_errors(chan_key, segment, channels):
    with pytest.raises(shmlib.InvalidArgument, match="end must be"):
        shmlib.open_channel(chan_key, "reader")
    with pytest.raises(shmlib.InvalidArgument, match="not a channel"):
        shmlib.open_channel(segment.key, "consumer")
    with pytest.raises(shmlib.NotFound):
        shmlib.open_channel("posix:/" + unique_name(), "consumer")
    channels(chan_key, "consumer")
    with pytest.raises(shmlib.Busy) as busy:
        shmlib.open_channel(chan_key, "consumer")  # held by this process
    assert busy.value.errno == errno.EBUSY
    assert not isinstance(busy.value, BlockingIOError)


def test_channels_are_made_by_open_channel(pair):
    with pytest.raises(TypeError):
        shmlib.Channel()


def test_pickling_hands_the_end_over(pair, channels):
    tx, rx = pair
    tx.send(b"before")
    data = pickle.dumps(tx)
    assert tx.closed  # the end is handed over, not closed: no end of stream
    with pytest.raises(shmlib.InvalidArgument, match="closed"):
        tx.handover()
    again = pickle.loads(data)  # opens the end, here as it would elsewhere
    try:
        again.send(b"after")
        assert rx.recv() == b"before" and rx.recv() == b"after"
        with pytest.raises(shmlib.Timeout):
            rx.recv(timeout=0)
    finally:
        again.close()


# ----------------------------------------------------------- copy in, out

def test_send_and_recv_every_bytes_like(pair):
    tx, rx = pair
    sent = [b"bytes", bytearray(b"bytearray"), memoryview(b"view")[1:],
            b"", ctypes.create_string_buffer(b"ctypes", 6),
            memoryview(bytes(range(12))).cast("I")]
    for data in sent:
        tx.send(data)
    for data in sent:
        assert rx.recv() == bytes(data)
    with pytest.raises(TypeError):
        tx.send("text")


def test_each_end_does_its_own_calls(pair):
    tx, rx = pair
    with pytest.raises(shmlib.InvalidArgument, match="only the consumer"):
        tx.recv(timeout=0)
    with pytest.raises(shmlib.InvalidArgument, match="only the producer"):
        rx.send(b"x")
    with pytest.raises(shmlib.InvalidArgument):
        next(iter(tx))


def test_max_message(pair):
    tx, rx = pair
    tx.send(bytes(tx.max_message))
    assert len(rx.recv()) == 8176
    for attempt in (lambda: tx.send(bytes(8177)),
                    lambda: tx.send(bytearray(8177)),
                    lambda: tx.reserve(8177).__enter__()):
        with pytest.raises(shmlib.MessageTooLarge) as err:
            attempt()
        assert isinstance(err.value, ValueError)
    tx.send(b"still works")
    assert rx.recv() == b"still works"


def test_recv_into(pair):
    tx, rx = pair
    tx.send(b"0123456789")
    buffer = bytearray(16)
    assert rx.recv_into(buffer) == 10 and buffer[:10] == b"0123456789"
    tx.send(b"x" * 100)
    with pytest.raises(shmlib.BufferTooSmall) as small:
        rx.recv_into(bytearray(99))
    assert small.value.length == 100 and isinstance(small.value, ValueError)
    assert pickle.loads(pickle.dumps(small.value)).length == 100
    exact = bytearray(100)
    assert rx.recv_into(memoryview(exact)) == 100  # it stayed in the channel
    assert exact == b"x" * 100
    with pytest.raises(TypeError):
        rx.recv_into(b"read-only")


# -------------------------------------------------------------- zero copy

def test_reserve_writes_in_place_and_commits_at_exit(pair, raw):
    tx, rx = pair
    with tx.reserve(11) as buf:
        assert isinstance(buf, memoryview) and len(buf) == 11
        assert not buf.readonly
        buf[:] = b"in the ring"
        # The first record's payload, seen through another mapping.
        assert bytes(raw.buf[DATA + RECORD_HEADER:][:11]) == b"in the ring"
        with pytest.raises(shmlib.Timeout):
            rx.recv(timeout=0)  # not committed yet
    with pytest.raises(ValueError):
        buf[0]  # released with the block
    assert u64(raw, TAIL) == RECORD_HEADER + 16
    assert rx.recv() == b"in the ring"


def test_reserve_length_commits_fewer_bytes(pair):
    tx, rx = pair
    reservation = tx.reserve(100)
    with reservation as buf:
        buf[:5] = b"short"
        reservation.length = 5
    assert rx.recv() == b"short"
    bad = tx.reserve(10)
    with pytest.raises(shmlib.InvalidArgument, match="length must be 0..10"):
        with bad as buf:
            bad.length = 11
    tx.send(b"afresh")  # the failed reservation was given back first
    assert rx.recv() == b"afresh"


def test_peek_is_the_ring_itself(pair, raw):
    tx, rx = pair
    tx.send(b"original")
    with rx.peek() as view:
        assert view.readonly and bytes(view) == b"original"
        raw.buf[DATA + RECORD_HEADER] = ord("O")  # another mapping writes
        assert bytes(view) == b"Original"
        assert u64(raw, HEAD) == 0  # held, not released
    with pytest.raises(ValueError):
        view[0]
    assert u64(raw, HEAD) == RECORD_HEADER + 16


def test_zero_length_messages_in_place(pair):
    tx, rx = pair
    with tx.reserve(0) as buf:
        assert len(buf) == 0
    with rx.peek() as view:
        assert len(view) == 0
    tx.send(b"next")
    assert rx.recv() == b"next"


# --------------------------------------------- with-blocks: all or nothing

def test_an_exception_in_reserve_sends_nothing_and_gives_the_space_back(pair,
                                                                         raw):
    tx, rx = pair
    with pytest.raises(KeyError):
        with tx.reserve(64) as buf:
            buf[:4] = b"half"
            raise KeyError
    with pytest.raises(shmlib.Timeout):
        rx.recv(timeout=0)
    assert u64(raw, TAIL) == 0
    tx.send(bytes(65))           # any size: nothing is reserved any more
    assert len(rx.recv()) == 65
    with pytest.raises(KeyError):
        with tx.reserve(8):
            raise KeyError
    with tx.reserve(16) as buf:  # a new reservation, where the old one was
        buf[:] = bytes(range(16))
    assert rx.recv() == bytes(range(16))


def test_a_pending_reservation_dies_with_close(pair, chan_key, channels):
    tx, rx = pair
    tx.send(b"one")
    with pytest.raises(KeyError):
        with tx.reserve(64):
            raise KeyError
    tx.close()
    assert list(rx) == [b"one"]


def test_a_view_kept_past_reserve_raises_and_sends_nothing(pair):
    tx, rx = pair
    with pytest.raises(BufferError, match="nothing is sent"):
        with tx.reserve(8) as buf:
            buf[:] = b"12345678"
            kept = buf[2:]
    with pytest.raises(shmlib.Timeout):
        rx.recv(timeout=0)
    with pytest.raises(BufferError):
        tx.send(b"x")  # would reuse the space `kept` still shows
    with pytest.raises(BufferError):
        tx.close()
    del kept
    tx.send(b"now")
    assert rx.recv() == b"now"


def test_an_exception_in_peek_consumes_nothing(pair):
    tx, rx = pair
    tx.send(b"first")
    tx.send(b"second")
    with pytest.raises(KeyError):
        with rx.peek() as view:
            assert bytes(view) == b"first"
            raise KeyError
    with rx.peek() as view:
        assert bytes(view) == b"first"  # delivered again
    with pytest.raises(KeyError):
        with rx.peek():
            raise KeyError
    buf = bytearray(16)
    assert rx.recv_into(buf) == 6 and buf[:6] == b"second"


def test_a_view_kept_past_peek_raises_and_keeps_the_message(pair, raw):
    tx, rx = pair
    tx.send(b"kept")
    with pytest.raises(BufferError, match="stays held"):
        with rx.peek() as view:
            part = view[1:]
    assert bytes(part) == b"ept" and u64(raw, HEAD) == 0
    with pytest.raises(BufferError):
        rx.recv()
    with pytest.raises(BufferError):
        rx.close()
    del part
    assert rx.recv() == b"kept"
    assert u64(raw, HEAD) == RECORD_HEADER + 16


def test_calls_inside_a_block_are_refused(pair):
    tx, rx = pair
    with tx.reserve(4) as buf:
        buf[:] = b"abcd"
        for call in (lambda: tx.send(b"x"), lambda: tx.reserve(1).__enter__()):
            with pytest.raises(shmlib.InvalidArgument, match="pending"):
                call()
        with pytest.raises(BufferError):
            tx.close()
    with rx.peek() as view:
        for call in (rx.recv, lambda: rx.recv_into(bytearray(9)),
                     lambda: rx.peek().__enter__()):
            with pytest.raises(shmlib.InvalidArgument, match="held"):
                call()
        assert bytes(view) == b"abcd"


def test_a_dropped_channel_with_a_live_view_stays_mapped(chan_key):
    tx = shmlib.open_channel(chan_key, "producer")
    rx = shmlib.open_channel(chan_key, "consumer")
    tx.send(b"alive")
    block = rx.peek()
    view = block.__enter__()
    part = view[:]
    del rx, block, view  # the view keeps its Channel, and so the mapping
    assert bytes(part) == b"alive"
    with pytest.raises(shmlib.Busy):
        shmlib.open_channel(chan_key, "consumer")
    del part  # the last view: the Channel goes, and closes its end
    gc.collect()
    shmlib.open_channel(chan_key, "consumer").close()
    tx.close()


# --------------------------------------------------------------- timeouts

def test_timeouts(pair):
    tx, rx = pair
    start = time.monotonic()
    with pytest.raises(shmlib.Timeout) as err:
        rx.recv(timeout=0)
    assert time.monotonic() - start < 0.05
    assert isinstance(err.value, TimeoutError)
    assert err.value.errno == errno.ETIMEDOUT
    for timeout in (0.1, 0.45):  # shorter and longer than one library wait
        start = time.monotonic()
        with pytest.raises(shmlib.Timeout, match="timed out after"):
            rx.recv(timeout=timeout)
        assert timeout <= time.monotonic() - start < timeout + 0.5
    while True:  # fill the ring
        try:
            tx.send(bytes(1000), timeout=0)
        except shmlib.Timeout:
            break
    start = time.monotonic()
    with pytest.raises(shmlib.Timeout):
        tx.send(bytes(1000), timeout=0.3)
    assert 0.3 <= time.monotonic() - start < 0.8
    with pytest.raises(shmlib.Timeout):
        tx.reserve(1000, timeout=0).__enter__()
    with pytest.raises(shmlib.InvalidArgument):
        rx.recv(timeout=-1)
    with pytest.raises(shmlib.InvalidArgument):
        rx.recv(timeout=float("nan"))
    with pytest.raises(TypeError):
        rx.recv(timeout="1")
    assert len(rx.recv(timeout=float("inf"))) == 1000


def test_recv_without_timeout_waits_for_the_message(pair):
    tx, rx = pair
    sender = threading.Timer(0.5, tx.send, args=(b"late",))
    sender.start()
    start = time.monotonic()
    assert rx.recv() == b"late"  # ctypes releases the GIL while it waits
    assert time.monotonic() - start >= 0.45
    sender.join()


# ---------------------------------------------------------- end of stream

def test_end_of_stream_ends_iteration(chan_key, channels):
    tx = channels(chan_key, "producer")
    rx = channels(chan_key, "consumer")
    for i in range(5):
        tx.send(b"%d" % i)
    tx.close()
    assert tx.closed
    assert [m for m in rx] == [b"0", b"1", b"2", b"3", b"4"]
    assert list(rx) == []
    with pytest.raises(shmlib.EndOfStream) as eos:
        rx.recv(timeout=0)
    assert isinstance(eos.value, EOFError)
    with pytest.raises(shmlib.EndOfStream):
        shmlib.open_channel(chan_key, "producer")  # the stream is over


def test_close(chan_key):
    with shmlib.open_channel(chan_key, "producer") as tx:
        tx.send(b"x")
    assert tx.closed
    tx.close()  # again: nothing
    for call in (lambda: tx.send(b"y"), lambda: tx.reserve(1).__enter__()):
        with pytest.raises(shmlib.InvalidArgument, match="closed"):
            call()
    rx = shmlib.open_channel(chan_key, "consumer")
    assert rx.recv() == b"x"
    del rx  # a dropped Channel leaves its end
    shmlib.open_channel(chan_key, "consumer").close()


# ------------------------------------------------------------------- busy

def test_one_thread_at_a_time(pair):
    tx, rx = pair
    waiting = threading.Thread(target=rx.recv, kwargs={"timeout": 5})
    waiting.start()
    time.sleep(0.2)
    with pytest.raises(shmlib.Busy, match="another thread"):
        rx.recv(timeout=0)
    tx.send(b"wake up")
    waiting.join()
    with pytest.raises(shmlib.Timeout):
        rx.recv(timeout=0)  # the thread got the message


# ------------------------------------------------------------- corruption

def test_a_scribbled_tail_is_corrupt(pair, raw):
    tx, rx = pair
    tx.send(b"fine")
    set_u64(raw, TAIL, 40)  # not a multiple of 16: no record ends there
    with pytest.raises(shmlib.Corrupt) as err:
        rx.recv(timeout=0)
    assert isinstance(err.value, OSError) and "tail 40" in str(err.value)


def test_a_scribbled_record_is_corrupt(pair, raw):
    tx, rx = pair
    tx.send(b"fine")
    raw.buf[DATA:DATA + 4] = (1 << 20).to_bytes(4, "little")  # its length
    with pytest.raises(shmlib.Corrupt, match="bad record"):
        with rx.peek():
            pass


def test_a_scribbled_head_is_corrupt_for_the_producer(pair, raw):
    tx, rx = pair
    set_u64(raw, HEAD, 1 << 40)  # released more than was ever sent
    with pytest.raises(shmlib.Corrupt):
        tx.send(b"x")


def test_a_corrupt_channel_does_not_open(chan_key, raw):
    set_u64(raw, TAIL, 16)  # head 0, tail 16: fine
    set_u64(raw, HEAD, 32)  # head past tail: not fine
    with pytest.raises(shmlib.Corrupt):
        shmlib.open_channel(chan_key, "consumer")


# ------------------------------------------------------------------- fork

def test_a_forked_child_refuses_channel_calls(pair, chan_key):
    tx, rx = pair
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report, never return into pytest
        status = 1
        try:
            outcomes = []
            for call in (lambda: tx.send(b"child"), lambda: rx.recv(timeout=0),
                         lambda: tx.reserve(1).__enter__(),
                         lambda: shmlib.open_channel(chan_key, "consumer"),
                         lambda: shmlib.create_channel(4096)):
                try:
                    call()
                    outcomes.append("ran")
                except shmlib.Forked:
                    outcomes.append("Forked")
            tx.close()  # the parent's end: only this child's use ends
            os.write(write_end, ",".join(outcomes).encode())
            status = 0
        finally:
            os._exit(status)
    os.close(write_end)
    with os.fdopen(read_end) as report:
        outcomes = report.read()
    _, status = os.waitpid(pid, 0)
    assert status == 0
    assert outcomes == ",".join(["Forked"] * 5)
    tx.send(b"parent")  # still open
    assert rx.recv() == b"parent"


def test_error_classes():
    assert issubclass(shmlib.Timeout, TimeoutError)
    assert issubclass(shmlib.EndOfStream, EOFError)
    assert issubclass(shmlib.PeerGone, ConnectionResetError)
    assert not issubclass(shmlib.PeerGone, BrokenPipeError)
    assert issubclass(shmlib.Corrupt, OSError)
    assert issubclass(shmlib.Busy, OSError)
    assert not issubclass(shmlib.Busy, BlockingIOError)
    assert issubclass(shmlib.MessageTooLarge, ValueError)
    assert issubclass(shmlib.BufferTooSmall, ValueError)
    for code, cls in ((_ffi.ETIMEDOUT, shmlib.Timeout),
                      (_ffi.EEOS, shmlib.EndOfStream),
                      (_ffi.EPEER, shmlib.PeerGone),
                      (_ffi.ECORRUPT, shmlib.Corrupt),
                      (_ffi.EBUSY, shmlib.Busy),
                      (_ffi.EMSGSIZE, shmlib.MessageTooLarge),
                      (_ffi.ERANGE, shmlib.BufferTooSmall)):
        err = shmlib.errors.from_code(code, "m")
        assert type(err) is cls
        assert type(pickle.loads(pickle.dumps(err))) is cls
