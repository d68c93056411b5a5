"""Segments in other processes: pickling, spawn and fork start methods, and
the fork rule (no library calls in a forked child; inherited mappings are
reused)."""

import ctypes
import multiprocessing
import os
import pickle

import pytest

import shmlib
from conftest import PYTHON_DIR
from shmlib import _ffi

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))

# The children run these; they live at module level so that spawned
# children can import them.


def fill(segment, index, value):
    segment.buf[index] = value
    return segment.key, os.getpid()


def read_prefix(segment, length):
    return bytes(segment.buf[:length])


def attach_in_child(key):
    shmlib.attach(key)


def unpickle_in_child(pickled):
    return pickle.loads(pickled)


def reattach_in_child(key, readonly):
    # What unpickling a Segment runs (Segment.__reduce__).
    return shmlib.segment._reattach(key, readonly).readonly


def write_then_detach_inherited(segment, queue):
    segment.buf[0] = 99
    segment.detach()
    try:
        segment.buf
    except ValueError as exc:
        queue.put(("detached", str(exc)))
    else:
        queue.put(("still attached", ""))


def raw_library_calls(conn):
    st = _ffi.Stat()
    rc = _ffi.lib.shmlib_stat(b"posix:/anything", ctypes.byref(st))
    message = ctypes.create_string_buffer(_ffi.ERROR_MAX)
    _ffi.lib.shmlib_last_error(message, len(message))
    conn.send((rc, message.value.decode(), _ffi.lib.shmlib_version(),
               shmlib.strerror(rc)))


def test_segment_pickles_as_key_and_readonly(any_segment, cleanup):
    again = cleanup(pickle.loads(pickle.dumps(any_segment)))
    assert again.key == any_segment.key and again.address != any_segment.address
    assert not again.readonly
    any_segment.buf[0] = 1
    assert again.buf[0] == 1
    ro = cleanup(shmlib.attach(any_segment.key, readonly=True))
    assert cleanup(pickle.loads(pickle.dumps(ro))).readonly


def test_spawn_process_writes_the_parents_segment(any_segment):
    ctx = multiprocessing.get_context("spawn")
    child = ctx.Process(target=fill, args=(any_segment, 5, 55))
    child.start()
    child.join(60)
    assert child.exitcode == 0
    assert any_segment.buf[5] == 55


def test_spawn_pool(any_segment):
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        results = pool.starmap(fill, [(any_segment, i, i + 1) for i in range(8)])
    assert bytes(any_segment.buf[:8]) == bytes(range(1, 9))
    assert {key for key, _ in results} == {any_segment.key}
    assert os.getpid() not in {pid for _, pid in results}


def test_spawn_child_can_use_the_library(any_segment):
    # A spawned child is a fresh program: attach works there.
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        any_segment.buf[:3] = b"xyz"
        assert pool.apply(read_prefix, (any_segment, 3)) == b"xyz"


def test_forkserver_that_imported_shmlib(segment, tmp_path, monkeypatch):
    # The server forks the workers, so libshm must not be running in it:
    # importing shmlib there must not load the library. (The server starts
    # once per session, with the preload list of the first user.)
    mark = tmp_path / "preloaded"
    monkeypatch.setenv("SHMLIB_TEST_PRELOAD_MARK", str(mark))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([PYTHON_DIR, TESTS_DIR]))
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["forkserver_preload"])
    with ctx.Pool(2) as pool:
        # A worker that fails to unpickle its task dies and the pool waits
        # forever: bound the wait.
        results = pool.starmap_async(
            fill, [(segment, i, 100 + i) for i in range(8)]).get(timeout=60)
    assert bytes(segment.buf[:8]) == bytes(range(100, 108))
    server = int(mark.read_text())
    assert server != os.getpid()
    assert server not in {pid for _, pid in results}


def test_fork_pool_reuses_the_inherited_mapping(any_segment):
    # The workers are forked after the attach, so they inherit the mapping;
    # unpickling the Segment there must reuse it, as the library cannot run.
    with multiprocessing.get_context("fork").Pool(2) as pool:
        pool.starmap(fill, [(any_segment, i, 200 + i) for i in range(8)])
    assert bytes(any_segment.buf[:8]) == bytes(range(200, 208))


def test_fork_child_library_calls_raise_forked(any_segment, posix_key):
    shmlib.create_detached(64, posix_key)
    with multiprocessing.get_context("fork").Pool(1) as pool:
        with pytest.raises(shmlib.Forked) as info:
            pool.apply(attach_in_child, (posix_key,))
    message = str(info.value)
    assert posix_key in message
    assert "spawn" in message and "forkserver" in message
    assert info.value.code == -10


def test_fork_child_without_an_inherited_mapping_raises_forked(posix_key):
    # The worker is forked before the segment is attached: nothing to reuse.
    with multiprocessing.get_context("fork").Pool(1) as pool:
        late = shmlib.create(64, posix_key)
        try:
            with pytest.raises(shmlib.Forked, match="did not inherit"):
                pool.apply(unpickle_in_child, (pickle.dumps(late),))
        finally:
            late.detach()


def test_fork_child_cannot_make_a_readonly_mapping_writable(any_segment,
                                                           cleanup):
    ro = cleanup(shmlib.attach(any_segment.key, readonly=True))
    any_segment.detach()  # only the read-only mapping is inherited
    with multiprocessing.get_context("fork").Pool(1) as pool:
        with pytest.raises(shmlib.Forked, match="writable"):
            pool.apply(reattach_in_child, (ro.key, False))
        assert pool.apply(reattach_in_child, (ro.key, True)) is True


def test_library_refuses_every_call_in_a_forked_child(segment):
    # Below the Python guard: the C library itself answers EFORKED, and its
    # error text, strerror and version still work there.
    parent_conn, child_conn = multiprocessing.Pipe()
    child = multiprocessing.get_context("fork").Process(
        target=raw_library_calls, args=(child_conn,))
    child.start()
    rc, message, version, description = parent_conn.recv()
    child.join(60)
    assert rc == -10
    assert "fork" in message
    assert version == 100
    assert description == "called in a forked child"


def test_detach_in_a_forked_child_only_ends_python_access(any_segment):
    queue = multiprocessing.get_context("fork").SimpleQueue()
    child = multiprocessing.get_context("fork").Process(
        target=write_then_detach_inherited, args=(any_segment, queue))
    child.start()
    state, message = queue.get()
    child.join(60)
    assert child.exitcode == 0
    assert state == "detached" and "detached" in message
    assert any_segment.attached and any_segment.buf[0] == 99


def produce(tx, count):
    # Runs in a worker: the Channel argument arrived as its end, handed over.
    with tx:
        for i in range(count):
            tx.send(b"msg %d" % i)
    return os.getpid()


@pytest.mark.parametrize("method", ["spawn", "forkserver"])
def test_channel_end_passed_to_a_pool_worker(method, any_chan_key):
    # The parent hands its producer end to a worker, which sends and closes:
    # the parent's consumer gets every message, then the end of the stream.
    tx = shmlib.open_channel(any_chan_key, "producer")
    with shmlib.open_channel(any_chan_key, "consumer") as rx, \
            multiprocessing.get_context(method).Pool(1) as pool:
        worker = pool.apply_async(produce, (tx, 20)).get(timeout=60)
        assert tx.closed and worker != os.getpid()
        assert list(rx) == [b"msg %d" % i for i in range(20)]
