"""Segments: create, attach, detach, destroy, and the Segment object.

Safety rule: once a Segment is detached no Python code can reach the
unmapped memory. Every view handed out (`Segment.buf`, its slices, numpy
arrays over it) is built on one private ctypes array per mapping, and each
keeps that array alive. So the array's reference count tells whether any
view is alive: detach() refuses with BufferError while one is, as
mmap.close() does, and only then unmaps.

The array also refers back to its Segment, so a Segment lives as long as
any view of it: one dropped without detach() is unmapped by the garbage
collector once the last view is gone, never before.
"""

import atexit
import ctypes
import operator
import os
import sys
import weakref
from _thread import allocate_lock  # threading.Lock, without importing threading

from . import _ffi, _fork, keys
from .errors import (FORK_HINT, Error, Forked, InvalidArgument, NotAttached,
                     NotFound, from_code)

# Every attached Segment of this process, including those inherited from a
# parent by fork(), as id -> weak reference: a forked child cannot call the
# library, so unpickling a Segment there reuses a mapping found here (see
# _reattach). Weak, so that a forgotten Segment is still collected and
# unmapped; detach() removes the entry.
_live = {}

# Guards the step from "no views" to "unmapped" against a view being made
# meanwhile in another thread (see Segment.detach). One lock for all
# Segments: it is held for a few bytecodes, never across a library call.
_views_lock = allocate_lock()

# Keys that create(..., destroy_on_exit=True) made.
_destroy_at_exit = set()
_exit_lock = allocate_lock()


def _reset_locks_in_child():
    # Another thread may have held one at the fork; it does not exist here.
    global _views_lock, _exit_lock
    _views_lock = allocate_lock()
    _exit_lock = allocate_lock()


os.register_at_fork(after_in_child=_reset_locks_in_child)


class Segment:
    """A segment attached to this process: one mapping of it.

    Made by `create()` and `attach()`. The memory is `buf`, a memoryview
    (read-only if the segment was attached read-only) that copies nothing;
    `ndarray()` gives numpy arrays over it. Detach with `detach()` or a
    `with` block; destroying is separate and explicit (`destroy()`).

    A Segment pickles as (key, readonly): passed to another process
    (multiprocessing.Process, Pool), it attaches the same segment there.
    """

    __slots__ = ("_key", "_size", "_readonly", "_address", "_array",
                 "_created", "__weakref__")

    def __init__(self):
        raise TypeError("Segments are made by shmlib.create() and "
                        "shmlib.attach()")

    @classmethod
    def _wrap(cls, key, address, size, readonly, created=False):
        self = object.__new__(cls)
        self._key = key
        self._size = size
        self._readonly = readonly
        self._address = address
        self._array = None  # the ctypes array views are built on, lazily
        self._created = created
        _live[id(self)] = weakref.ref(self)
        return self

    @property
    def key(self):
        """The canonical key, e.g. "posix:/frames", "sysv:key=0x5a01c0de" or
        "memfd:pid=4242,fd=7,ino=5151"."""
        return self._key

    @property
    def size(self):
        """The size of the segment (and of the mapping) in bytes."""
        return self._size

    @property
    def readonly(self):
        """True if mapped read-only; writing through `buf` raises TypeError."""
        return self._readonly

    @property
    def created(self):
        """True if this Segment's create() call made the segment; False if
        it was attached, or opened with create(open_existing=True)."""
        return self._created

    @property
    def attached(self):
        """False once detached."""
        return self._address is not None

    @property
    def address(self):
        """The address of the mapping in this process, as an int."""
        address = self._address
        if address is None:
            raise self._detached_error("address")
        return address

    @property
    def buf(self):
        """A memoryview of the whole segment (format "B"), no copy.

        Each access gives a new view. While any view (or a slice of it, or a
        numpy array over it) is alive, detach() raises BufferError.
        """
        array = self._array
        if array is None:
            array = self._map_array()
        view = memoryview(array).cast("B")
        return view.toreadonly() if self._readonly else view

    def _map_array(self):
        with _views_lock:
            if self._address is None:
                raise self._detached_error("buf")
            if self._array is None:
                array_type = ctypes.c_char * self._size
                array = array_type.from_address(self._address)
                array.segment = self  # see the module docstring
                self._array = array
            return self._array

    def ndarray(self, shape, dtype="uint8", offset=0):
        """A numpy array of `shape` and `dtype` viewing the segment from byte
        `offset` on, no copy (read-only if the segment is). numpy is needed
        only here. Raises ValueError if it would reach past the end or if
        `offset` does not suit the dtype's alignment."""
        numpy = _numpy("Segment.ndarray")

        dtype = numpy.dtype(dtype)
        try:
            shape = (operator.index(shape),)
        except TypeError:
            shape = tuple(operator.index(n) for n in shape)
        if any(n < 0 for n in shape):
            raise ValueError(f"ndarray: negative dimension in {shape}")
        count = 1
        for n in shape:
            count *= n
        nbytes = count * dtype.itemsize
        if offset < 0 or offset + nbytes > self._size:
            raise ValueError(
                f"ndarray: {shape} of {dtype} at offset {offset} needs bytes "
                f"{offset}..{offset + nbytes}, the segment {keys.display(self._key)} has "
                f"{self._size}")
        if (self.address + offset) % dtype.alignment:
            raise ValueError(
                f"ndarray: offset {offset} is not aligned for {dtype} (a "
                f"multiple of {dtype.alignment} is)")
        flat = numpy.frombuffer(self.buf, dtype=dtype, count=count,
                                offset=offset)
        return flat.reshape(shape)

    def detach(self):
        """Ends this mapping. The segment and its contents live on.

        Raises BufferError (and stays attached) while views of `buf` are
        alive, NotAttached if detached already.

        In a child made by fork() without exec(), a Segment mapped by the
        parent cannot be unmapped (the library does not run there): detach
        only ends Python's access to it; the memory stays mapped in the
        child until it exits.
        """
        with _views_lock:
            address = self._address
            if address is None:
                raise self._detached_error("detach")
            array = self._array
            # References to the array: self._array, `array` and
            # getrefcount's argument. Any other one is a view.
            if array is not None and sys.getrefcount(array) > 3:
                raise BufferError(
                    f"detach {keys.display(self._key)}: views of its memory are still "
                    "alive (memoryviews, slices, numpy arrays); delete them "
                    "first")
            self._array = None
            self._address = None
        _live.pop(id(self), None)
        # In a forked child every mapping is the parent's (the library makes
        # none there), and the library cannot unmap it.
        if not _fork.forked:
            rc = _ffi.lib.shmlib_detach(address)
            if rc < 0:
                raise from_code(rc)

    def destroy(self):
        """Destroys the segment (see shmlib.destroy); does not detach."""
        destroy(self._key)

    def _detached_error(self, op):
        return NotAttached(_ffi.ENOTATTACHED,
                           f"{op} {keys.display(self._key)}: the segment is detached; "
                           "attach it again to reach its memory")

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        if self._address is not None:
            self.detach()

    def __reduce__(self):
        return (_reattach, (self._key, self._readonly))

    def __del__(self):
        # Unmap a forgotten mapping, as mmap does. Views keep their Segment
        # alive, so there are none left by now.
        try:
            if self._address is not None:
                self.detach()
        except Exception:
            pass

    def __repr__(self):
        state = "detached" if self._address is None else f"at 0x{self._address:x}"
        mode = ", readonly" if self._readonly else ""
        return f"<shmlib.Segment {keys.display(self._key)} {self._size} bytes{mode} {state}>"


_KeyBuffer = ctypes.c_char * _ffi.KEY_MAX


def _numpy(what):
    """numpy, imported where an array is asked for (the package itself needs
    only the standard library), or ModuleNotFoundError saying how to get it."""
    try:
        import numpy
    except ImportError:
        raise ModuleNotFoundError(
            f"{what} needs numpy: pip install numpy (or install shmlib with its "
            "extra, shmlib[numpy])", name="numpy") from None
    return numpy


def _size_arg(op, size):
    # ctypes would silently wrap a negative or huge size into a c_uint64.
    if not isinstance(size, int):
        raise TypeError(f"{op}: size must be an int, not {type(size).__name__}")
    if not 0 <= size < 2**64:
        raise InvalidArgument(_ffi.EINVAL,
                              f"{op}: size must be at least 1 byte, not {size}")
    return size


# backend -> the key (and its bytes) that lets the library choose a name.
_CHOOSE = {None: ("posix:", b"posix:"), "posix": ("posix:", b"posix:"),
           "sysv": ("sysv:", b"sysv:"), "memfd": ("memfd:", b"memfd:")}


def _creation_key(op, key, backend, mode):
    """The checks create() and create_channel() share: returns the key to
    create (None and `backend` make "posix:" or "sysv:", for the library to
    choose) as (key, the bytes the library takes)."""
    if backend not in (None, "posix", "sysv", "memfd"):
        raise InvalidArgument(_ffi.EINVAL, f"{op}: backend must be 'posix', "
                              f"'sysv' or 'memfd', not {backend!r}")
    if key is None:  # the library chooses: the common case, kept short
        key, raw = _CHOOSE[backend]
    else:
        if backend is not None and isinstance(key, str):
            named = keys.backend_of(key)
            if named is not None and named != backend:
                raise InvalidArgument(_ffi.EINVAL,
                                      f"{op} {keys.display(key)}: not a {backend} key")
        raw = keys.encode(key, op)
    if _fork.forked:
        _fork.refuse(op, key)
    # ctypes would silently wrap a mode that does not fit a uint32_t.
    if not isinstance(mode, int) or not 0 <= mode < 2**32:
        raise InvalidArgument(_ffi.EINVAL,
                              f"{op} {keys.display(key)}: mode must be 0..0o777, not {mode!r}")
    return key, raw


def _create_raw(size, key, backend, mode, open_existing, hugetlb, sparse):
    """shmlib_create(): returns (the canonical key's bytes, True if opened
    not created)."""
    key, raw = _creation_key("create", key, backend, mode)
    size = _size_arg("create", size)
    flags = ((_ffi.OPEN_EXISTING if open_existing else 0)
             | (_ffi.HUGETLB if hugetlb else 0)
             | (_ffi.SPARSE if sparse else 0))
    out = _KeyBuffer()
    rc = _ffi.lib.shmlib_create(raw, size, mode, flags, out, _ffi.KEY_MAX)
    if rc < 0:
        raise from_code(rc)
    return out.value, rc == _ffi.OPENED


def create_detached(size, key=None, *, backend=None, mode=0o600,
                    open_existing=False, hugetlb=False, sparse=False,
                    destroy_on_exit=False):
    """Creates a segment without attaching it and returns its canonical key.

    Takes the arguments of create().
    """
    raw, _ = _create_raw(size, key, backend, mode, open_existing, hugetlb,
                         sparse)
    key = keys.decode(raw)
    if destroy_on_exit:
        _register_destroy_at_exit(key)
    return key


def create(size, key=None, *, backend=None, mode=0o600, open_existing=False,
           hugetlb=False, sparse=False, destroy_on_exit=False):
    """Creates a segment of `size` zeroed bytes and attaches it: returns an
    attached Segment.

    key            where: "posix:/NAME" (or "/NAME"), "sysv:key=K",
                   "sysv:private", "memfd:"; None lets the library choose a
                   unique name for `backend`.
    backend        "posix" (the default), "sysv" or "memfd"; only needed
                   with key=None. A memfd segment has no global name: it is
                   held by this process (key "memfd:pid=P,fd=F,ino=I") and goes
                   when its last holder and mapping do; see send_memfd().
    mode           permission bits, applied exactly (the umask does not
                   narrow them).
    open_existing  if the segment exists (and is at least `size` bytes),
                   attach it instead of raising AlreadyExists;
                   Segment.created tells which happened.
    hugetlb        System V only: back it with huge pages.
    sparse         POSIX and memfd: do not reserve the memory now (a full
                   /dev/shm then faults on first touch instead of failing
                   here).
    destroy_on_exit  destroy the segment when this process exits normally.

    Unless sparse, a POSIX or memfd size that the machine or this process's
    memory cgroup cannot back raises OutOfMemory naming the limit, before
    anything is reserved (see shmlib_create in include/shmlib.h).

    Nothing is ever destroyed unless asked: the segment outlives this
    process unless destroy() is called or destroy_on_exit is set. A memfd
    segment is the exception: it cannot outlive the processes that hold or
    map it (destroy() still lets go of this process's hold early).
    """
    raw, opened = _create_raw(size, key, backend, mode, open_existing,
                              hugetlb, sparse)
    key = keys.decode(raw)  # canonical: as attach() would make it
    try:
        segment = _attach(raw, key, 0)
    except BaseException:
        if not opened:  # a failed create() leaves nothing behind
            try:
                destroy(key)
            except Error:
                pass
        raise
    segment._created = not opened
    if destroy_on_exit:
        _register_destroy_at_exit(key)
    return segment


def attach(key, *, readonly=False, populate=False, lock=False):
    """Maps the segment named by `key` into this process.

    readonly  map it read-only (works on a segment one may only read).
    populate  pre-fault every page now.
    lock      lock the pages in RAM (needs RLIMIT_MEMLOCK room).

    Each attach is a new mapping, detached on its own. A POSIX object made
    by multiprocessing.shared_memory is attached as "/" + sm.name (its name
    has no leading slash) or posix_key(sm.name).
    """
    raw = keys.encode(key, "attach")
    if _fork.forked:
        _fork.refuse("attach", key)
    flags = ((_ffi.RDONLY if readonly else 0)
             | (_ffi.POPULATE if populate else 0)
             | (_ffi.LOCK if lock else 0))
    return _attach(raw, keys.canonical(key), flags)


def _attach(raw, key, flags):
    """shmlib_attach() of a key's bytes: a Segment named `key`."""
    address = ctypes.c_void_p()
    size = ctypes.c_uint64()
    rc = _ffi.lib.shmlib_attach(raw, None, flags, address, size)
    if rc < 0:
        raise from_code(rc)
    return Segment._wrap(key, address.value, size.value,
                         bool(flags & _ffi.RDONLY))


def destroy(key):
    """Destroys the segment named by `key`: new attaches fail from now on.

    Mappings that exist keep working until detached; the kernel frees the
    memory after the last one. Any process the mode allows may destroy.
    Raises NotFound if there is no such segment (or it is destroyed).

    A memfd key ("memfd:pid=P,fd=F,ino=I") is destroyed only by process P, and
    destroy there closes P's hold: new attaches by that key fail, while
    mappings and other holders (processes it was sent to) go on. Any other
    process gets PermissionDenied.
    """
    raw = keys.encode(key, "destroy")
    if _fork.forked:
        _fork.refuse("destroy", key)
    rc = _ffi.lib.shmlib_destroy(raw)
    if rc < 0:
        raise from_code(rc)
    if _destroy_at_exit:
        # Whatever is made under this key from now on is somebody else's.
        with _exit_lock:
            _destroy_at_exit.discard(keys.canonical(key))


def _register_destroy_at_exit(key):
    with _exit_lock:
        if not _destroy_at_exit:
            atexit.register(_destroy_registered)
        _destroy_at_exit.add(key)


def _destroy_registered():
    # A forked child inherits atexit handlers; the segments are not its own.
    if _fork.forked:
        return
    with _exit_lock:
        pending = list(_destroy_at_exit)
    for key in pending:
        try:
            destroy(key)
        except NotFound:
            pass


def _reattach(key, readonly):
    """Unpickles a Segment: attach it, or in a forked child reuse the
    mapping inherited from the parent."""
    if not _fork.forked:
        return attach(key, readonly=readonly)
    for ref in list(_live.values()):
        inherited = ref()
        if (inherited is not None and inherited._key == key
                and inherited._address is not None
                and (readonly or not inherited._readonly)):
            return Segment._wrap(key, inherited._address, inherited._size,
                                 readonly)
    raise Forked(_ffi.EFORKED,
                 f"attach {keys.display(key)}: this forked child did not inherit a "
                 f"{'' if readonly else 'writable '}mapping of it (the "
                 f"parent attached it after the fork, or not at all): "
                 f"{FORK_HINT}")
