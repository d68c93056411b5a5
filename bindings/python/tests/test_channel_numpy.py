"""numpy arrays through channels: send_array, recv_array, peek_array, the
framing (written by hand here, as a C program would) and the view rule."""

import struct

import pytest

import shmlib
from channel_peer import arrays

np = pytest.importorskip("numpy", reason="numpy is not installed: arrays "
                                         "through channels are not tested")

DATA = 4096  # the data area of the channel segment (layout.go)
RECORD_HEADER = 16


@pytest.fixture
def pair(chan_key, channels):
    return channels(chan_key, "producer"), channels(chan_key, "consumer")


def framed(dtype_text, shape, payload, data_offset=None):
    """An array message built by hand from the README's description, the
    way a C program would: not with shmlib.framing."""
    fixed = 16 + 8 * len(shape) + len(dtype_text)
    if data_offset is None:
        data_offset = (fixed + 15) // 16 * 16
    head = (b"LSHMARR" + bytes([1])
            + struct.pack("<IHH", data_offset, len(shape), len(dtype_text))
            + b"".join(struct.pack("<Q", n) for n in shape)
            + dtype_text.encode())
    return head + bytes(data_offset - len(head)) + payload


def test_round_trips_keep_dtype_shape_and_values(pair):
    tx, rx = pair
    for array in arrays():
        tx.send_array(array)
    for array in arrays():
        got = rx.recv_array()
        assert got.dtype == array.dtype and got.shape == array.shape
        assert np.array_equal(got, array)
        assert got.flags.c_contiguous and got.flags.writeable


def test_arrays_from_another_process(chan_key, channels, peer):
    sender = peer("send-arrays", chan_key)
    rx = channels(chan_key, "consumer")
    expected = arrays()
    for array in expected:
        got = rx.recv_array()
        assert got.dtype == array.dtype and got.shape == array.shape
        assert np.array_equal(got, array)
    with pytest.raises(shmlib.EndOfStream):
        rx.recv_array()
    sender.finish()


def test_non_contiguous_arrays_arrive_in_c_order(pair):
    tx, rx = pair
    base = np.arange(60, dtype=np.int32).reshape(6, 10)
    for array in (base.T, base[::2, 1::3], np.asfortranarray(base)):
        tx.send_array(array)
        assert np.array_equal(rx.recv_array(), array)


def test_recv_array_copies(pair):
    tx, rx = pair
    tx.send_array(np.full(100, 7, dtype=np.int64))
    got = rx.recv_array()
    for _ in range(40):  # round the ring: its old bytes are written over
        tx.send_array(np.zeros(100, dtype=np.int64))
        rx.recv_array()
    assert (got == 7).all()


def test_peek_array_views_the_ring(pair, chan_key, cleanup):
    tx, rx = pair
    raw = cleanup(shmlib.attach(chan_key))
    tx.send_array(np.arange(4, dtype="<f8"))
    with rx.peek_array() as array:
        assert not array.flags.writeable and not array.flags.owndata
        assert array.ctypes.data % 16 == 0
        # The elements start at the data offset, 32, of the first payload.
        where = DATA + RECORD_HEADER + 32
        raw.buf[where:where + 8] = struct.pack("<d", 42.0)  # another mapping
        assert array[0] == 42.0
        total = array.sum()
        del array
    assert total == 42.0 + 1 + 2 + 3


def test_an_array_kept_past_peek_array_raises_and_keeps_the_message(pair):
    tx, rx = pair
    tx.send_array(np.arange(3))
    with pytest.raises(BufferError, match="stays held"):
        with rx.peek_array() as array:
            pass  # `array` is still bound after the block
    assert array[2] == 2  # the message is held: the memory is still its own
    derived = array[1:]
    del array
    with pytest.raises(BufferError):
        rx.recv_array()  # `derived` still views it
    del derived
    assert list(rx.recv_array()) == [0, 1, 2]  # delivered again


def test_framing_written_by_hand_decodes(pair):
    tx, rx = pair
    values = np.arange(6, dtype="<f8").reshape(2, 3)
    tx.send(framed("<f8", (2, 3), values.tobytes()))
    got = rx.recv_array()
    assert got.dtype == np.float64 and np.array_equal(got, values)
    # A roomier data offset, big-endian elements, 0 dimensions.
    tx.send(framed(">i2", (4,), struct.pack(">4h", 1, -2, 3, -4),
                   data_offset=64))
    assert list(rx.recv_array()) == [1, -2, 3, -4]
    tx.send(framed("<u4", (), struct.pack("<I", 99)))
    scalar = rx.recv_array()
    assert scalar.shape == () and scalar == 99


def test_send_array_writes_what_the_readme_describes(pair):
    tx, rx = pair
    tx.send_array(np.arange(6, dtype="<i2").reshape(3, 2))
    assert rx.recv() == framed("<i2", (3, 2), struct.pack("<6h", *range(6)))


@pytest.mark.parametrize("message, error", [
    (b"plain bytes from somebody", "not an array message"),
    (b"LSHMARR\x02" + bytes(8), "version 2"),
    (framed("|O", (1,), bytes(8)), "Python objects"),
    (framed("<f8", (2,), bytes(8)), "needs 16 bytes"),
    (framed("<f8", (1,), bytes(8), data_offset=40), "data offset 40"),
    (framed("nonsense", (1,), bytes(1)), "dtype b'nonsense'"),
])
def test_a_message_that_is_not_an_array_stays_for_recv(pair, message, error):
    tx, rx = pair
    tx.send(message)
    with pytest.raises(ValueError, match=error):
        rx.recv_array()
    assert rx.recv() == message


def test_dtypes_the_header_cannot_describe_are_refused(pair):
    tx, rx = pair
    for array in (np.array([object()]),
                  np.zeros(2, dtype=[("a", "<i4"), ("b", "<f8")])):
        with pytest.raises(ValueError):
            tx.send_array(array)
    tx.send(b"nothing was left reserved")
    assert rx.recv() == b"nothing was left reserved"


def test_an_array_too_large_for_the_channel(pair):
    tx, _ = pair
    with pytest.raises(shmlib.MessageTooLarge):
        tx.send_array(np.zeros(tx.max_message, dtype=np.uint8))


def test_recv_into_a_numpy_array(pair):
    tx, rx = pair
    tx.send(np.arange(5, dtype=np.int16).tobytes())
    out = np.zeros(8, dtype=np.int16)
    assert rx.recv_into(out) == 10
    assert list(out) == [0, 1, 2, 3, 4, 0, 0, 0]
    tx.send(np.arange(4, dtype=np.uint8))  # any C-contiguous buffer
    assert rx.recv() == bytes(range(4))
