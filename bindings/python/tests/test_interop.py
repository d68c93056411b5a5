"""Segments shared with programs that never heard of libshm: Python's
multiprocessing.shared_memory (POSIX) and the sysv_ipc package (System V)."""

import sys
from multiprocessing import resource_tracker, shared_memory

import pytest

import shmlib


@pytest.fixture
def sysv_ipc():
    return pytest.importorskip(
        "sysv_ipc", reason="the sysv_ipc package is not installed: System V "
                           "interop is not tested")


def open_shared_memory(name):
    """SharedMemory(name=...) that will not destroy the segment behind our
    back: before Python 3.13 the stdlib registers a segment it merely opened
    with the resource tracker, which unlinks it when this process exits (and
    warns about a "leak"). This test suite owns the segment, so take it off
    the tracker's list at once; 3.13 has track=False for that."""
    if sys.version_info >= (3, 13):
        return shared_memory.SharedMemory(name=name, track=False)
    sm = shared_memory.SharedMemory(name=name)
    resource_tracker.unregister(sm._name, "shared_memory")
    return sm


@pytest.fixture
def stdlib_segment():
    sm = shared_memory.SharedMemory(create=True, size=1000)
    yield sm
    sm.close()
    sm.unlink()


def test_attach_a_stdlib_segment(stdlib_segment):
    assert not stdlib_segment.name.startswith("/")
    stdlib_segment.buf[:5] = b"stdlb"
    seg = shmlib.attach("/" + stdlib_segment.name)
    try:
        assert seg.key == "posix:/" + stdlib_segment.name
        assert seg.size == 1000
        assert bytes(seg.buf[:5]) == b"stdlb"
        seg.buf[5:10] = b"shmlb"
        assert bytes(stdlib_segment.buf[5:10]) == b"shmlb"
        info = shmlib.stat(shmlib.posix_key(stdlib_segment.name))
        assert info.size == 1000 and info.backend == "posix"
    finally:
        seg.detach()


def test_posix_key_and_name_helpers():
    assert shmlib.posix_key("psm_1f2e") == "posix:/psm_1f2e"
    assert shmlib.posix_key("/psm_1f2e") == "posix:/psm_1f2e"
    assert shmlib.posix_name("posix:/frames") == "frames"
    assert shmlib.posix_name("/frames") == "frames"
    with pytest.raises(shmlib.InvalidArgument):
        shmlib.posix_name("sysv:key=0x1")


def test_stdlib_opens_a_shmlib_segment(segment):
    segment.buf[:4] = b"ours"
    sm = open_shared_memory(shmlib.posix_name(segment.key))
    try:
        assert sm.size == 4096
        assert bytes(sm.buf[:4]) == b"ours"
        sm.buf[4:9] = b"stdlb"
        assert bytes(segment.buf[4:9]) == b"stdlb"
    finally:
        sm.close()
    assert shmlib.stat(segment.key).size == 4096  # not unlinked by close


def test_stdlib_unlink_is_a_destroy(posix_key):
    with shmlib.create(100, posix_key) as seg:
        # Registered with the tracker on open, and taken off again by
        # unlink(): no open_shared_memory() here.
        sm = shared_memory.SharedMemory(name=shmlib.posix_name(posix_key))
        sm.close()
        sm.unlink()
        with pytest.raises(shmlib.NotFound):
            shmlib.attach(posix_key)
        seg.buf[0] = 1  # our mapping outlives the destroy


def test_attach_a_sysv_ipc_segment(sysv_ipc):
    theirs = sysv_ipc.SharedMemory(None, sysv_ipc.IPC_CREX, mode=0o600,
                                   size=8192)
    try:
        theirs.write(b"sysv_ipc", 0)
        by_key = shmlib.attach(f"sysv:key=0x{theirs.key & 0xffffffff:08x}")
        by_id = shmlib.attach(f"sysv:id={theirs.id}")
        try:
            assert bytes(by_key.buf[:8]) == b"sysv_ipc"
            assert by_key.size == 8192
            by_id.buf[8:14] = b"shmlib"
            assert theirs.read(6, 8) == b"shmlib"
            info = shmlib.stat(by_key.key)
            assert info.shmid == theirs.id and info.nattach == 3
        finally:
            by_key.detach()
            by_id.detach()
    finally:
        theirs.detach()
        theirs.remove()


def test_sysv_ipc_attaches_a_shmlib_segment(sysv_ipc, cleanup):
    seg = cleanup(shmlib.create(4096, backend="sysv", mode=0o640))
    seg.buf[:6] = b"shmlib"
    info = shmlib.stat(seg.key)
    theirs = sysv_ipc.SharedMemory(info.ipc_key)
    try:
        assert theirs.id == info.shmid
        assert theirs.size == 4096 and theirs.mode & 0o777 == 0o640
        assert theirs.read(6) == b"shmlib"
        theirs.write(b"sysv", 6)
        assert bytes(seg.buf[6:10]) == b"sysv"
        assert theirs.number_attached == 2
    finally:
        theirs.detach()


def test_sysv_ipc_remove_is_a_destroy(sysv_ipc, cleanup):
    seg = cleanup(shmlib.create(4096, backend="sysv"))
    shmid = shmlib.stat(seg.key).shmid
    sysv_ipc.remove_shared_memory(shmid)
    with pytest.raises(shmlib.NotFound):
        shmlib.attach(seg.key)
    assert shmlib.stat(f"sysv:id={shmid}").destroyed  # we still have it
    seg.buf[0] = 1
