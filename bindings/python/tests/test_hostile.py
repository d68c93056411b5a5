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
