"""The ctypes layer: every function of the generated table declared, the
stat layout as the header fixes it, and a clear ImportError."""

import ctypes
import os
import re
import subprocess
import sys
import threading

import pytest

import shmlib
from conftest import PYTHON_DIR
from shmlib import _ffi

def test_every_function_is_declared():
    # _abi.PROTOTYPES is generated from the header (make test-generate
    # checks that it is current); every one must be in the library.
    assert len(_ffi.PROTOTYPES) >= 25
    for name, (restype, argtypes) in _ffi.PROTOTYPES.items():
        func = getattr(_ffi.lib, name)
        assert func.restype is restype, name
        assert func.argtypes == argtypes, name


def test_stat_layout_matches_the_header():
    assert ctypes.sizeof(_ffi.Stat) == 408
    assert _ffi.Stat.size.offset == 272
    assert _ffi.Stat.backend.offset == 312
    assert _ffi.Stat.ipc_key.offset == 348
    assert _ffi.Stat.reserved.offset == 360


def test_version():
    assert shmlib.library_version() == _ffi.VERSION_STRING == shmlib.__version__
    assert _ffi.lib.shmlib_version() == _ffi.VERSION_NUMBER
    assert _ffi.VERSION_STRING == "%d.%d.%d" % (
        _ffi.VERSION_MAJOR, _ffi.VERSION_MINOR, _ffi.VERSION_PATCH)


def test_strerror():
    assert shmlib.strerror(-2) == "no such segment"
    assert shmlib.strerror(12345) == "unknown error code"


def test_library_path_is_absolute_and_loaded():
    assert os.path.isabs(shmlib.library_path())
    assert os.path.exists(shmlib.library_path())


def _import_with_library(value):
    # libshm is loaded by the first call, not by the import.
    env = dict(os.environ, SHMLIB_LIBRARY=value,
               PYTHONPATH=os.path.dirname(os.path.dirname(shmlib.__file__)))
    code = "import shmlib; shmlib.library_version()"
    return subprocess.run([sys.executable, "-c", code], env=env,
                          capture_output=True, text=True, timeout=60)


def test_import_does_not_load_the_library():
    # Loading starts a Go runtime, which a process must not have when it
    # forks workers that use libshm (the forkserver imports shmlib too).
    code = """
import shmlib
def mapped():
    with open("/proc/self/maps") as maps:
        return "libshm" in maps.read()
before = mapped()
shmlib.list_segments()
print(before, mapped())
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True,
                            text=True, timeout=60,
                            env=dict(os.environ, PYTHONPATH=PYTHON_DIR))
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "True"]


def test_missing_library_is_one_clear_import_error(tmp_path):
    missing = str(tmp_path / "no-such-libshm.so")
    result = _import_with_library(missing)
    assert result.returncode != 0
    assert "ImportError" in result.stderr
    assert missing in result.stderr
    assert "make lib" in result.stderr and "SHMLIB_LIBRARY" in result.stderr


def test_shmlib_library_env_is_used(tmp_path):
    # A copy elsewhere, named by the variable, is the one loaded.
    copy = tmp_path / "libshm-copy.so"
    with open(shmlib.library_path(), "rb") as src:
        copy.write_bytes(src.read())
    env = dict(os.environ, SHMLIB_LIBRARY=str(copy),
               PYTHONPATH=os.path.dirname(os.path.dirname(shmlib.__file__)))
    result = subprocess.run(
        [sys.executable, "-c", "import shmlib; print(shmlib.library_path())"],
        env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(copy)


def _libc_path():
    with open("/proc/self/maps") as maps:
        for line in maps:
            path = line.split()[-1]
            if re.search(r"/libc[.-][^/]*so", path):
                return path
    pytest.skip("libc's path not found in /proc/self/maps")


def test_a_library_that_is_not_libshm_is_refused():
    result = _import_with_library(_libc_path())
    assert result.returncode != 0
    assert "does not export shmlib_" in result.stderr


# The header's promises that the binding builds on, checked on the library
# itself through the raw functions.

def _new_posix_names(before):
    return set(os.listdir("/dev/shm")) - before


def test_last_error_truncates_with_erange_and_starts_empty():
    seen = {}

    def fresh_thread():
        buf = ctypes.create_string_buffer(64)
        seen["rc"] = _ffi.lib.shmlib_last_error(buf, len(buf))
        seen["value"] = buf.value

    thread = threading.Thread(target=fresh_thread)
    thread.start()
    thread.join()
    assert seen == {"rc": 0, "value": b""}

    assert _ffi.lib.shmlib_destroy(b"posix:/shmlib-no-such-segment") == -2
    small = ctypes.create_string_buffer(8)
    assert _ffi.lib.shmlib_last_error(small, len(small)) == _ffi.ERANGE
    assert small.value == b"destroy"  # its beginning, NUL-terminated
    assert _ffi.lib.shmlib_last_error(small, 0) == _ffi.EINVAL


def test_create_with_a_small_key_buffer_leaves_nothing_behind():
    before = set(os.listdir("/dev/shm"))
    out = ctypes.create_string_buffer(8)
    rc = _ffi.lib.shmlib_create(b"posix:", 64, 0o600, 0, out, len(out))
    assert rc == _ffi.ERANGE
    assert not {n for n in _new_posix_names(before) if n.startswith("shmlib-")}
    rc = _ffi.lib.shmlib_create(b"posix:", 64, 0o600, 0, None, 0)
    assert rc == _ffi.EINVAL


def test_failed_calls_leave_output_parameters_alone():
    address = ctypes.c_void_p(1234)
    size = ctypes.c_uint64(5678)
    rc = _ffi.lib.shmlib_attach(b"posix:/shmlib-no-such-segment", None, 0,
                                ctypes.byref(address), ctypes.byref(size))
    assert rc == _ffi.ENOENT
    assert (address.value, size.value) == (1234, 5678)


def test_attach_flag_and_detach_address_errors(segment):
    address = ctypes.c_void_p()
    key = segment.key.encode()
    assert _ffi.lib.shmlib_attach(key, None, 0x80, ctypes.byref(address),
                                  None) == _ffi.EINVAL
    assert _ffi.lib.shmlib_attach(key, None, _ffi.FIXED,
                                  ctypes.byref(address), None) == _ffi.EINVAL
    assert _ffi.lib.shmlib_detach(None) == _ffi.EINVAL
    assert _ffi.lib.shmlib_detach(segment.address + 1) == _ffi.ENOTATTACHED


def test_list_sizing_and_erange(cleanup):
    for _ in range(3):
        cleanup(shmlib.create_detached(1))
    count = ctypes.c_size_t()
    assert _ffi.lib.shmlib_list(None, 0, ctypes.byref(count)) == 0
    assert count.value >= 3
    one = (_ffi.Stat * 1)()
    assert _ffi.lib.shmlib_list(one, 1, ctypes.byref(count)) == _ffi.ERANGE
    assert count.value >= 3 and one[0].key.startswith((b"posix:/", b"sysv:"))
    assert _ffi.lib.shmlib_list(None, 1, ctypes.byref(count)) == _ffi.EINVAL
