"""What anyone on the machine can do to a user of libshm: plant things in
the world-writable /dev/shm, pick names with control bytes in them."""

import os
import subprocess
import sys

import pytest

import shmlib
from conftest import PYTHON_DIR, SHM_DIR, unique_name


@pytest.fixture
def fifo():
    """A FIFO planted in /dev/shm; its key. Removed after the test."""
    name = unique_name()
    path = os.path.join(SHM_DIR, name)
    os.mkfifo(path)
    yield "posix:/" + name
    os.unlink(path)


def _in_child(code, timeout=20):
    """Runs `code` in a Python process of its own, which a hang cannot take
    the test run with; returns it finished (or fails on the timeout)."""
    try:
        return subprocess.run([sys.executable, "-c", code], capture_output=True,
                              text=True, timeout=timeout,
                              env=dict(os.environ, PYTHONPATH=PYTHON_DIR))
    except subprocess.TimeoutExpired:
        pytest.fail(f"blocked for {timeout} s: {code}")


def test_readonly_attach_of_a_fifo_returns(fifo):
    done = _in_child(f"""
import shmlib
try:
    shmlib.attach({fifo!r}, readonly=True)
except shmlib.InvalidArgument as exc:
    print(exc)
""")
    assert done.returncode == 0, done.stderr
    assert "FIFO" in done.stdout and fifo in done.stdout


def test_cli_cat_of_a_fifo_returns(fifo):
    try:
        done = subprocess.run([sys.executable, "-m", "shmlib", "cat", fifo],
                              capture_output=True, text=True, timeout=20,
                              env=dict(os.environ, PYTHONPATH=PYTHON_DIR))
    except subprocess.TimeoutExpired:
        pytest.fail("`python3 -m shmlib cat` of a FIFO blocked")
    assert done.returncode == 1
    assert "FIFO" in done.stderr and done.stderr.count("\n") == 1


def test_destroy_leaves_a_fifo_alone(fifo):
    with pytest.raises(shmlib.InvalidArgument, match="FIFO"):
        shmlib.destroy(fifo)
    assert os.path.exists(os.path.join(SHM_DIR, fifo[len("posix:/"):]))


BAD_NAMES = ["a\nb", "a\rb", "\x1b[2J", "x\udcffy", "a\u2028b"]


@pytest.mark.parametrize("bad", BAD_NAMES)
def test_names_with_control_bytes_keep_messages_one_line(bad, cleanup):
    key = f"posix:/{unique_name()}-{bad}"
    shown = shmlib.keys.display(key)
    assert shown.startswith('"posix:/') and "\n" not in shown
    with pytest.raises(shmlib.NotFound) as missing:
        shmlib.attach(key)
    # The library's quoting and the package's are the same.
    assert str(missing.value) == f"attach {shown}: no such segment"
    segment = cleanup(shmlib.create(4096, key))
    assert segment.key == key  # the key itself is not changed
    for raised in (lambda: shmlib.create(4096, key),
                   lambda: shmlib.create(4096, key, mode=0o1777),
                   lambda: segment.ndarray((8192,), "u1")):
        with pytest.raises((shmlib.Error, ValueError)) as exc:
            raised()
        assert str(exc.value).isprintable() and shown in str(exc.value)
    segment.detach()
    with pytest.raises(shmlib.NotAttached) as exc:
        segment.buf
    assert str(exc.value).isprintable() and shown in str(exc.value)


def test_cli_output_quotes_such_names(cleanup):
    name = unique_name()
    key = cleanup(shmlib.create_detached(4096, f"posix:/{name}-a\nb"))
    shown = shmlib.keys.display(key)
    env = dict(os.environ, PYTHONPATH=PYTHON_DIR)

    def cli(*args):
        done = subprocess.run([sys.executable, "-m", "shmlib", *args],
                              capture_output=True, timeout=60, env=env)
        return done.returncode, done.stdout.decode(), done.stderr.decode()

    status, out, _ = cli("ls")
    rows = [line for line in out.splitlines() if name in line]
    assert status == 0 and len(rows) == 1 and rows[0].startswith(shown + " ")
    status, out, _ = cli("info", key)
    assert status == 0 and f"key:         {shown}\n" in out
    status, _, err = cli("info", key + "\nnot-there")
    assert status == 1 and err.count("\n") == 1
    assert shmlib.keys.display(key + "\nnot-there") in err
