"""create / attach / detach / destroy on real segments, and every error."""

import ctypes
import os
import pickle
import subprocess
import sys

import pytest

import shmlib
from conftest import PYTHON_DIR, unique_name, unused_sysv_key


def test_create_attaches_and_zero_fills(any_segment):
    assert any_segment.attached and any_segment.created
    assert any_segment.size == 4096
    assert not any_segment.readonly
    assert any_segment.address > 0
    assert bytes(any_segment.buf) == bytes(4096)


def test_two_attaches_share_the_pages(any_segment, cleanup):
    other = cleanup(shmlib.attach(any_segment.key))
    assert other.address != any_segment.address
    any_segment.buf[100:105] = b"hello"
    assert bytes(other.buf[100:105]) == b"hello"
    other.buf[0] = 7
    assert any_segment.buf[0] == 7


def test_contents_outlive_detach(any_segment, cleanup):
    any_segment.buf[:3] = b"abc"
    any_segment.detach()
    again = cleanup(shmlib.attach(any_segment.key))
    assert bytes(again.buf[:3]) == b"abc"


def test_canonical_keys(cleanup):
    posix = cleanup(shmlib.create(10))
    assert posix.key.startswith("posix:/")
    sysv = cleanup(shmlib.create(10, backend="sysv"))
    assert sysv.key.startswith("sysv:key=0x") and len(sysv.key) == 19
    private = cleanup(shmlib.create(10, "sysv:private"))
    assert private.key.startswith("sysv:id=")
    assert shmlib.stat(private.key).ipc_key == 0


def test_short_and_decimal_forms_name_the_same_segment(cleanup):
    name = unique_name()
    posix = cleanup(shmlib.create(10, "/" + name))
    assert posix.key == "posix:/" + name
    sysv = cleanup(shmlib.create(10, backend="sysv"))
    number = int(sysv.key.split("=")[1], 16)
    by_decimal = cleanup(shmlib.attach(f"sysv:key={number}"))
    assert by_decimal.key == sysv.key
    by_id = cleanup(shmlib.attach(f"sysv:id={shmlib.stat(sysv.key).shmid}"))
    by_id.buf[0] = 42
    assert sysv.buf[0] == 42


def test_create_detached_does_not_attach(cleanup):
    key = cleanup(shmlib.create_detached(8192, backend="sysv"))
    info = shmlib.stat(key)
    assert info.nattach == 0 and info.size == 8192
    with shmlib.attach(key) as seg:
        assert shmlib.stat(key).nattach == 1
        assert seg.size == 8192
    assert shmlib.stat(key).nattach == 0


def test_with_block_detaches_and_destroys_nothing(posix_key):
    with shmlib.create(100, posix_key) as seg:
        seg.buf[0] = 1
    assert not seg.attached
    assert shmlib.stat(posix_key).size == 100


def test_mode_is_applied_exactly_despite_umask(cleanup):
    old = os.umask(0o077)
    try:
        posix = cleanup(shmlib.create(10, mode=0o644))
        sysv = cleanup(shmlib.create(10, backend="sysv", mode=0o640))
    finally:
        os.umask(old)
    assert shmlib.stat(posix.key).mode == 0o644
    assert shmlib.stat(sysv.key).mode == 0o640


def test_exists(any_segment):
    with pytest.raises(shmlib.AlreadyExists) as info:
        shmlib.create(4096, any_segment.key)
    assert isinstance(info.value, FileExistsError)
    assert info.value.code == -3
    assert any_segment.key in str(info.value)


def test_open_existing(any_segment, cleanup):
    any_segment.buf[0] = 9
    opened = cleanup(shmlib.create(100, any_segment.key, open_existing=True))
    assert not opened.created
    assert opened.size == 4096 and opened.buf[0] == 9
    with pytest.raises(shmlib.InvalidArgument):  # smaller than asked
        shmlib.create(8192, any_segment.key, open_existing=True)


def test_open_existing_creates_when_missing(posix_key, cleanup):
    seg = cleanup(shmlib.create(100, posix_key, open_existing=True))
    assert seg.created


def test_destroy_keeps_existing_mappings(any_segment):
    any_segment.buf[0] = 5
    any_segment.destroy()
    assert any_segment.buf[0] == 5  # still mapped, still ours
    any_segment.buf[1] = 6
    with pytest.raises(shmlib.NotFound) as info:
        shmlib.attach(any_segment.key)
    assert isinstance(info.value, FileNotFoundError)
    any_segment.detach()


def test_destroy_twice(any_segment):
    any_segment.destroy()
    with pytest.raises(shmlib.NotFound) as info:
        shmlib.destroy(any_segment.key)
    assert info.value.code == -2
    assert str(info.value) == f"destroy {any_segment.key}: no such segment"


def test_detach_twice(any_segment):
    any_segment.detach()
    with pytest.raises(shmlib.NotAttached) as info:
        any_segment.detach()
    assert isinstance(info.value, ValueError)
    assert "detached" in str(info.value)


def test_missing_segment():
    key = "posix:/" + unique_name()
    for call in (shmlib.attach, shmlib.destroy, shmlib.stat):
        with pytest.raises(shmlib.NotFound, match="no such segment"):
            call(key)
    with pytest.raises(shmlib.NotFound):
        shmlib.attach(unused_sysv_key())


@pytest.mark.parametrize("key", [
    "frames", "posix:frames", "posix:/", "/", "/a/b", "posix:/..", "/.",
    "/" + "x" * 256, "sysv:key=0", "sysv:key=-1", "sysv:key=0x1_0",
    "sysv:key=0x100000000", "sysv:key=", "sysv:id=-3", "sysv:id=x",
    "sysv:nope", "",
])
def test_malformed_keys(key):
    for call in (shmlib.attach, shmlib.destroy, shmlib.stat):
        with pytest.raises(shmlib.InvalidArgument) as info:
            call(key)
        assert isinstance(info.value, ValueError)
        assert info.value.code == -1


@pytest.mark.parametrize("key", ["posix:", "sysv:", "sysv:private"])
def test_creation_only_keys_cannot_be_attached(key):
    with pytest.raises(shmlib.InvalidArgument):
        shmlib.attach(key)


def test_a_sysv_id_cannot_be_created(any_segment):
    with pytest.raises(shmlib.InvalidArgument):
        shmlib.create(10, "sysv:id=1")


def test_nul_in_a_key_is_refused_not_truncated(segment):
    # In C the key would end at the NUL and name `segment`.
    with pytest.raises(shmlib.InvalidArgument, match="NUL"):
        shmlib.destroy(segment.key + "\0tail")
    assert shmlib.stat(segment.key)


def test_keys_must_be_str():
    with pytest.raises(TypeError):
        shmlib.attach(b"/frames")


@pytest.mark.parametrize("size", [0, -1, 2**64])
def test_bad_sizes(size):
    with pytest.raises(shmlib.InvalidArgument):
        shmlib.create(size)


def test_bad_mode_and_backend():
    with pytest.raises(shmlib.InvalidArgument):
        shmlib.create(10, mode=0o1777)
    with pytest.raises(shmlib.InvalidArgument):
        shmlib.create(10, mode=-1)
    with pytest.raises(shmlib.InvalidArgument):
        shmlib.create(10, backend="windows")
    with pytest.raises(shmlib.InvalidArgument, match="not a sysv key"):
        shmlib.create(10, "/x", backend="sysv")


def test_flags_of_the_other_backend_are_not_supported():
    with pytest.raises(shmlib.NotSupported):
        shmlib.create(10, backend="sysv", sparse=True)
    with pytest.raises(shmlib.NotSupported):
        shmlib.create(10, backend="posix", hugetlb=True)


def test_sparse_posix(cleanup):
    seg = cleanup(shmlib.create(1 << 30, sparse=True))
    seg.buf[-1] = 1
    assert seg.size == 1 << 30


def test_readonly_attach(any_segment, cleanup):
    any_segment.buf[0] = 3
    ro = cleanup(shmlib.attach(any_segment.key, readonly=True))
    assert ro.readonly and ro.buf.readonly
    assert ro.buf[0] == 3
    with pytest.raises(TypeError):
        ro.buf[0] = 4
    assert any_segment.buf[0] == 3


def test_populate_and_lock(any_segment, cleanup):
    seg = cleanup(shmlib.attach(any_segment.key, populate=True, lock=True))
    seg.buf[0] = 1
    assert any_segment.buf[0] == 1


def test_segments_are_not_constructed_directly():
    with pytest.raises(TypeError):
        shmlib.Segment()


def test_repr(segment):
    assert segment.key in repr(segment) and "4096 bytes" in repr(segment)
    segment.detach()
    assert "detached" in repr(segment)


def test_errors_pickle_with_code_and_message():
    err = shmlib.NotFound(-2, "attach posix:/x: no such segment")
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is shmlib.NotFound
    assert (back.code, back.message, str(back)) == (err.code, err.message,
                                                   str(err))
    assert back.errno == 2


def test_error_classes_are_the_builtin_ones():
    assert issubclass(shmlib.NotFound, FileNotFoundError)
    assert issubclass(shmlib.AlreadyExists, FileExistsError)
    assert issubclass(shmlib.PermissionDenied, PermissionError)
    assert issubclass(shmlib.InvalidArgument, ValueError)
    assert issubclass(shmlib.NotAttached, ValueError)
    for cls in (shmlib.OutOfMemory, shmlib.NotSupported, shmlib.OSFailure):
        assert issubclass(cls, OSError)
    # Not an OSError, which Pool workers would swallow (see errors.py).
    assert issubclass(shmlib.Forked, RuntimeError)
    assert not issubclass(shmlib.Forked, OSError)
    assert all(issubclass(getattr(shmlib, name), shmlib.Error)
               for name in shmlib.__all__
               if isinstance(getattr(shmlib, name), type)
               and issubclass(getattr(shmlib, name), Exception))


def test_codes_without_a_class_are_os_failures():
    err = shmlib.errors.from_code(-11, "destroy posix:/x: EIO")
    assert type(err) is shmlib.OSFailure and isinstance(err, OSError)
    assert str(err) == "destroy posix:/x: EIO"
    assert type(shmlib.errors.from_code(-999, "?")) is shmlib.OSFailure


def test_ftok(tmp_path):
    path = tmp_path / "anchor"
    path.write_text("")
    key = shmlib.ftok(path, 7)
    st = os.stat(path)
    # glibc: (proj_id & 0xff) << 24 | (st_dev & 0xff) << 16 | (st_ino & 0xffff)
    expected = (7 << 24) | ((st.st_dev & 0xff) << 16) | (st.st_ino & 0xffff)
    assert key == f"sysv:key=0x{expected:08x}"
    assert shmlib.ftok(str(path), 7) == key


def test_ftok_errors(tmp_path):
    with pytest.raises(shmlib.NotFound):
        shmlib.ftok(tmp_path / "missing", 1)
    for proj_id in (0, 256, -1, 2**40):
        with pytest.raises(shmlib.InvalidArgument):
            shmlib.ftok(tmp_path, proj_id)
    with pytest.raises(shmlib.InvalidArgument):
        shmlib.ftok("", 1)


def test_ftok_key_creates_a_segment(tmp_path, cleanup):
    key = shmlib.ftok(tmp_path, 0x5a)
    try:
        seg = cleanup(shmlib.create(64, key))
    except shmlib.AlreadyExists:
        pytest.skip(f"{key} happens to be in use on this machine")
    assert seg.key == key


def test_stat_fields(cleanup):
    sysv = cleanup(shmlib.create(5000, backend="sysv", mode=0o640))
    info = shmlib.stat(sysv.key)
    assert info.key == sysv.key and info.backend == "sysv"
    assert info.size == 5000 and info.mode == 0o640
    assert info.nattach == 1 and info.cpid == os.getpid()
    assert info.uid == os.geteuid() and info.cuid == os.geteuid()
    assert info.ipc_key == int(sysv.key.split("=")[1], 16)
    assert info.shmid >= 0 and not info.destroyed
    sysv.destroy()
    gone = shmlib.stat(f"sysv:id={info.shmid}")
    assert gone.destroyed and gone.key == f"sysv:id={info.shmid}"
    sysv.detach()

    posix = cleanup(shmlib.create(100))
    info = shmlib.stat(posix.key)
    assert info.backend == "posix" and info.size == 100
    assert info.nattach is None and info.cpid is None and info.shmid is None
    with pytest.raises(AttributeError):  # frozen
        info.size = 1


def test_list_segments_sees_both_kinds(cleanup):
    posix = cleanup(shmlib.create(100))
    sysv = cleanup(shmlib.create(100, backend="sysv"))
    listed = {info.key: info for info in shmlib.list_segments()}
    assert listed[posix.key].backend == "posix"
    assert listed[sysv.key].nattach == 1
    backends = [info.backend for info in shmlib.list_segments()]
    assert backends == sorted(backends)  # POSIX first, then System V


def test_list_grows_past_its_first_guess(cleanup):
    # More segments than list_segments() first makes room for (64): the
    # library answers ERANGE with the count, and the call must retry.
    made = {cleanup(shmlib.create_detached(1)) for _ in range(80)}
    listed = {info.key for info in shmlib.list_segments()}
    assert made <= listed


def test_destroy_on_exit(posix_key):
    code = ("import shmlib, sys; "
            f"s = shmlib.create(64, {posix_key!r}, destroy_on_exit=True); "
            "k = shmlib.create_detached(64, backend='sysv', "
            "destroy_on_exit=True); print(k)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True,
                            text=True, env=dict(os.environ, PYTHONPATH=PYTHON_DIR),
                            timeout=60)
    assert result.returncode == 0, result.stderr
    with pytest.raises(shmlib.NotFound):
        shmlib.stat(posix_key)
    with pytest.raises(shmlib.NotFound):
        shmlib.stat(result.stdout.strip())


def test_exit_destroys_nothing_by_default(posix_key):
    code = f"import shmlib; shmlib.create(64, {posix_key!r})"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60,
                   env=dict(os.environ, PYTHONPATH=PYTHON_DIR))
    assert shmlib.stat(posix_key).size == 64


def test_destroy_cancels_destroy_on_exit(posix_key):
    # After an explicit destroy, a new segment of the same name belongs to
    # somebody else: exit must not destroy it.
    code = (f"import shmlib; s = shmlib.create(64, {posix_key!r}, "
            "destroy_on_exit=True); s.destroy(); s.detach(); "
            f"shmlib.create_detached(32, {posix_key!r})")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60,
                   env=dict(os.environ, PYTHONPATH=PYTHON_DIR))
    assert shmlib.stat(posix_key).size == 32


def test_a_create_whose_attach_fails_leaves_nothing(cleanup):
    # Limit the address space so that creating a 1 GiB segment works (sparse
    # POSIX: nothing reserved; System V: memory is only committed on touch)
    # but mapping it cannot: create() must destroy what it made.
    names = ["posix:/" + unique_name(), unused_sysv_key()]
    for key in names:
        cleanup(key)
    code = f"""
import resource, shmlib
shmlib.library_version()  # load libshm (and start its Go runtime) first
with open("/proc/self/statm") as f:
    used = int(f.read().split()[0]) * resource.getpagesize()
resource.setrlimit(resource.RLIMIT_AS, (used + (256 << 20),) * 2)
for key, sparse in (({names[0]!r}, True), ({names[1]!r}, False)):
    try:
        shmlib.create(1 << 30, key, sparse=sparse)
    except shmlib.OutOfMemory as exc:
        print(exc)
    else:
        print("attached")
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True,
                            text=True, timeout=60,
                            env=dict(os.environ, PYTHONPATH=PYTHON_DIR))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 2 and all(line.startswith("attach ") for line in lines), lines
    for key in names:
        with pytest.raises(shmlib.NotFound):
            shmlib.stat(key)


@pytest.mark.parametrize("backend", ["posix", "sysv"])
def test_stat_tells_a_channel_from_a_plain_segment(backend, cleanup):
    # The Python package has no channel API yet; make one through ctypes.
    out = ctypes.create_string_buffer(shmlib.KEY_MAX)
    rc = shmlib._ffi.lib.shmlib_chan_create(f"{backend}:".encode(), 4096,
                                            0o600, 0, out, len(out))
    assert rc == 0, shmlib.strerror(rc)
    channel = cleanup(out.value.decode())
    plain = cleanup(shmlib.create_detached(8192, backend=backend))
    assert shmlib.stat(channel).channel
    assert not shmlib.stat(plain).channel
    listed = {info.key: info.channel for info in shmlib.list_segments()}
    assert listed[channel] and not listed[plain]
