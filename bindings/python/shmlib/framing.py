"""The array message: how Channel.send_array() frames a numpy array, so that
any program (C, Go, Python without numpy) can write or read one.

All integers are little-endian:

    offset  size     field
         0     7     magic b"LSHMARR"
         7     1     version, 1
         8     4     data offset D (u32): where the elements start; a
                     multiple of 16, at least 16 + 8 * ndim + L
        12     2     ndim (u16), 0..64
        14     2     L, the length of the dtype string (u16), 1..255
        16  8*ndim   the shape, one u64 per dimension
  16+8*ndim    L     the dtype as numpy's dtype.str spells it, ASCII, e.g.
                     "<f4" (float32, little-endian), "|u1" (uint8),
                     "<i8", "<c16", ">f8"; any string numpy.dtype() reads
                     is accepted, except dtypes holding Python objects
     ...       ...   zero padding up to D (readers ignore it)
         D   nbytes  the elements in C order, in the byte order the dtype
                     says; nbytes = product(shape) * itemsize, and the
                     message is exactly D + nbytes bytes long

Channel payloads start 16-byte aligned and D is a multiple of 16, so the
elements are aligned for any dtype and Channel.peek_array() can view them
in place. This module needs numpy only for the dtype; the header itself is
plain struct packing.
"""

import functools
import struct

MAGIC = b"LSHMARR"
VERSION = 1
_FIXED = struct.Struct("<7sBIHH")  # magic, version, D, ndim, L: 16 bytes
assert _FIXED.size == 16
MAX_NDIM = 64  # numpy's own limit (NPY_MAXDIMS in numpy 2)
MAX_DTYPE = 255
ALIGN = 16


def _data_offset(ndim, dtype_length):
    return -(-(_FIXED.size + 8 * ndim + dtype_length) // ALIGN) * ALIGN


def check_dtype(numpy, dtype):
    """Refuses dtypes the header cannot carry: Python objects (their bytes
    are pointers into one process) and those dtype.str does not describe
    fully (structured and subarray dtypes, whose str is just "|V<size>")."""
    if dtype.hasobject:
        raise ValueError(f"arrays of {dtype} hold Python objects, which "
                         "cannot cross processes; send bytes instead")
    if dtype.itemsize == 0:
        raise ValueError(f"the dtype {dtype} has no bytes per element")
    if numpy.dtype(dtype.str) != dtype:
        raise ValueError(f"the dtype {dtype} is not described by its "
                         f"dtype.str {dtype.str!r} (structured or subarray "
                         "dtype); send a plain dtype, or bytes")


# Streams send the same dtype and shape over and over: building the header
# costs more than copying a small array, so the last few are kept.
@functools.lru_cache(maxsize=16)
def header(numpy, dtype, shape):
    """The header of an array message for `dtype` and `shape` (a tuple),
    padded to its data offset: the elements follow it."""
    check_dtype(numpy, dtype)
    text = dtype.str.encode("ascii")
    offset = _data_offset(len(shape), len(text))
    head = bytearray(offset)
    _FIXED.pack_into(head, 0, MAGIC, VERSION, offset, len(shape), len(text))
    struct.pack_into(f"<{len(shape)}Q", head, _FIXED.size, *shape)
    start = _FIXED.size + 8 * len(shape)
    head[start:start + len(text)] = text
    return bytes(head)


def parse(numpy, message):
    """(dtype, shape, data offset) of an array message (a bytes-like
    object); ValueError saying what is wrong if it is not one."""
    size = len(message)
    if size < _FIXED.size:
        raise ValueError(f"not an array message: {size} bytes, shorter "
                         "than the 16-byte header")
    magic, version, offset, ndim, length = _FIXED.unpack_from(message)
    if magic != MAGIC:
        raise ValueError(f"not an array message: it starts with "
                         f"{bytes(message[:7])!r}, not {MAGIC!r}")
    if version != VERSION:
        raise ValueError(f"array message version {version}; this shmlib "
                         f"reads version {VERSION}")
    if ndim > MAX_NDIM or not 1 <= length <= MAX_DTYPE:
        raise ValueError(f"bad array message: ndim {ndim} (at most "
                         f"{MAX_NDIM}), dtype length {length} (1..255)")
    end = _FIXED.size + 8 * ndim + length
    if offset % ALIGN or not end <= offset <= size:
        raise ValueError(f"bad array message: data offset {offset} (a "
                         f"multiple of 16 from {end} to the message length "
                         f"{size})")
    shape = struct.unpack_from(f"<{ndim}Q", message, _FIXED.size)
    raw = bytes(message[end - length:end])
    try:
        dtype = numpy.dtype(raw.decode("ascii"))
    except (UnicodeDecodeError, TypeError, ValueError) as exc:
        raise ValueError(f"bad array message: dtype {raw!r}: {exc}") from None
    if dtype.hasobject or dtype.itemsize == 0:
        raise ValueError(f"bad array message: dtype {dtype} (Python objects "
                         "are pointers; 0-byte elements are no data)")
    count = 1
    for n in shape:
        count *= n
    if offset + count * dtype.itemsize != size:
        raise ValueError(f"bad array message: {shape} of {dtype} needs "
                         f"{count * dtype.itemsize} bytes after offset "
                         f"{offset}, the message has {size - offset}")
    return dtype, shape, offset
