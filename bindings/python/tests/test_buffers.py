"""The safety rule: no Python code reaches memory that detach() unmapped.
Views alive -> BufferError and the mapping stays; after detach, clear
ValueErrors instead of faults. And numpy, zero-copy."""

import gc
import threading

import pytest

import shmlib

@pytest.fixture
def np():
    return pytest.importorskip(
        "numpy", reason="numpy is not installed: Segment.ndarray() and the "
                        "numpy view rules are not tested")


VIEW_MAKERS = {
    "buf": lambda seg: seg.buf,
    "slice": lambda seg: seg.buf[10:20],
    "slice-of-slice": lambda seg: seg.buf[10:][2:4],
    "cast": lambda seg: seg.buf.cast("I"),
    "toreadonly": lambda seg: seg.buf.toreadonly(),
    "memoryview-of-view": lambda seg: memoryview(seg.buf),
    "exporter-object": lambda seg: seg.buf.obj,
}


@pytest.mark.parametrize("make_view", VIEW_MAKERS.values(), ids=VIEW_MAKERS)
def test_a_live_view_blocks_detach(any_segment, make_view):
    view = make_view(any_segment)
    with pytest.raises(BufferError, match="views of its memory"):
        any_segment.detach()
    assert any_segment.attached
    any_segment.buf[0] = 1  # the mapping stayed
    del view
    any_segment.detach()
    assert not any_segment.attached


def test_temporary_views_do_not_block(any_segment):
    any_segment.buf[:4] = b"abcd"
    assert bytes(any_segment.buf[:4]) == b"abcd"
    any_segment.detach()


def test_with_block_with_a_live_view_raises_and_stays_attached(segment):
    with pytest.raises(BufferError):
        with segment:
            kept = segment.buf[:8]
    assert segment.attached and kept[0] == 0
    del kept
    segment.detach()


def test_after_detach_buf_and_address_raise_value_error(segment):
    segment.detach()
    for attribute in ("buf", "address"):
        with pytest.raises(ValueError, match="detached"):
            getattr(segment, attribute)
    with pytest.raises(ValueError):
        segment.ndarray(4)


def test_dropping_a_segment_with_live_views_keeps_them_valid(posix_key):
    view = shmlib.create(4096, posix_key).buf  # the Segment is garbage now
    gc.collect()
    view[0] = 200  # still mapped: the view keeps its Segment alive
    with shmlib.attach(posix_key) as again:
        assert again.buf[0] == 200


def test_a_dropped_segment_is_unmapped_after_its_last_view(cleanup, np):
    key = cleanup(shmlib.create_detached(4096, backend="sysv"))
    array = shmlib.attach(key).ndarray(16, np.uint32)
    gc.collect()
    assert shmlib.stat(key).nattach == 1
    array[:] = 7
    del array
    gc.collect()
    assert shmlib.stat(key).nattach == 0


def test_dropping_a_segment_detaches_it(cleanup):
    seg = shmlib.create(4096, backend="sysv")
    key = cleanup(seg.key)
    seg.buf[0] = 1  # with a view made and gone
    assert shmlib.stat(key).nattach == 1
    del seg
    gc.collect()
    assert shmlib.stat(key).nattach == 0


def test_detach_races_with_views_from_other_threads(segment):
    # Threads keep taking views while the main thread tries to detach: it
    # either refuses with BufferError or succeeds, and then every later view
    # attempt gets a ValueError; never a view of unmapped memory.
    stop = threading.Event()
    faults = []

    def reader():
        while not stop.is_set():
            try:
                view = segment.buf
            except ValueError:
                return
            if view[0] != 0:
                faults.append(view[0])
            del view

    threads = [threading.Thread(target=reader) for _ in range(4)]
    for thread in threads:
        thread.start()
    while True:
        try:
            segment.detach()
            break
        except BufferError:
            pass
    stop.set()
    for thread in threads:
        thread.join()
    assert not faults


ARRAY_MAKERS = {
    "frombuffer": lambda seg, np: np.frombuffer(seg.buf, dtype=np.uint8),
    "ndarray": lambda seg, np: seg.ndarray((16, 16), np.float64),
    "asarray": lambda seg, np: np.asarray(seg.buf),
    "slice-of-ndarray": lambda seg, np: seg.ndarray(100, np.int32)[10:20],
    "reshaped": lambda seg, np: seg.ndarray(64, np.int64).reshape(8, 8).T,
}


@pytest.mark.parametrize("make_array", ARRAY_MAKERS.values(), ids=ARRAY_MAKERS)
def test_numpy_arrays_block_detach(any_segment, np, make_array):
    array = make_array(any_segment, np)
    with pytest.raises(BufferError):
        any_segment.detach()
    array[...] = 3  # still mapped
    del array
    any_segment.detach()


def test_ndarray_is_zero_copy(any_segment, np):
    matrix = any_segment.ndarray((4, 8), "f4", offset=64)
    matrix[1, 2] = 1.5
    flat = any_segment.ndarray(32, np.float32, offset=64)
    assert flat[10] == 1.5
    assert bytes(any_segment.buf[64 + 40:64 + 44]) == np.float32(1.5).tobytes()
    assert matrix.ctypes.data == any_segment.address + 64
    del matrix, flat


def test_ndarray_of_a_readonly_segment_is_readonly(any_segment, cleanup, np):
    ro = cleanup(shmlib.attach(any_segment.key, readonly=True))
    array = ro.ndarray(10, np.uint8)
    assert not array.flags.writeable
    with pytest.raises(ValueError):
        array[0] = 1
    with pytest.raises(ValueError):
        array.flags.writeable = True
    del array


def test_ndarray_bounds_and_alignment(segment, np):
    with pytest.raises(ValueError, match="segment .* has 4096"):
        segment.ndarray(513, np.float64)
    with pytest.raises(ValueError, match="needs bytes"):
        segment.ndarray(1, np.uint8, offset=4096)
    with pytest.raises(ValueError):
        segment.ndarray(1, np.uint8, offset=-1)
    with pytest.raises(ValueError, match="not aligned"):
        segment.ndarray(2, np.float64, offset=4)
    with pytest.raises(ValueError, match="negative"):
        segment.ndarray((-1, 2), np.uint8)
    assert segment.ndarray(512, np.float64).shape == (512,)
    assert segment.ndarray((0, 3), np.uint8).shape == (0, 3)
    assert segment.ndarray(1, np.uint8, offset=4095).shape == (1,)
