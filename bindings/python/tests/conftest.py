"""Fixtures for the shmlib tests: unique keys, cleanup, and a leak check.

Tests import shmlib from this source tree, with the libshm.so that
`make lib` copies into it (or $SHMLIB_LIBRARY); copied out of the tree
(scripts/check-python-package.sh), they test the installed package.
"""

import contextlib
import gc
import itertools
import os
import random
import sys

import pytest

PYTHON_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, PYTHON_DIR)

import shmlib  # noqa: E402  (needs the path above)

SHM_DIR = "/dev/shm"
SYSV_TABLE = "/proc/sysvipc/shm"

_counter = itertools.count()


def unique_name():
    """A POSIX name no other test, run or process uses at the same time."""
    return f"shmlib-test-{os.getpid()}-{next(_counter)}"


def unused_sysv_key():
    """A random System V key no segment has right now."""
    while True:
        key = f"sysv:key=0x{random.getrandbits(32) or 1:08x}"
        try:
            shmlib.stat(key)
        except shmlib.NotFound:
            return key


def _segments():
    """The segments that exist now and are this run's to judge: /dev/shm
    names and System V (key, shmid) pairs (a key made again gets a new
    shmid). Under scripts/isolate.sh (make test), /dev/shm and the System V
    table are the run's own: every segment. On a /dev/shm shared with other
    programs, only this process's: the names it or the library chose for it
    carry its pid ("shmlib-test-PID-...", "shmlib-PID-..."), and the kernel
    records the creator of a System V segment."""
    isolated = os.environ.get("SHMLIB_TEST_ISOLATED") == "1"
    mark, pid = f"-{os.getpid()}-", str(os.getpid())
    found = {"posix:/" + name for name in os.listdir(SHM_DIR) if isolated or mark in name}
    with open(SYSV_TABLE) as table:
        next(table)  # the header line
        for line in table:
            key, shmid, _perms, _size, cpid = line.split()[:5]
            if isolated or cpid == pid:
                found.add(f"sysv key={int(key) & 0xffffffff:#010x} shmid={shmid}")
    return found


@pytest.fixture(scope="session", autouse=True)
def no_leaked_segments():
    """Fails the session if a segment it made is still there."""
    before = _segments()
    yield
    gc.collect()  # unmap Segments that tests dropped without detaching
    leaked = _segments() - before
    if leaked:
        pytest.fail("segments left behind by the tests:\n  " + "\n  ".join(sorted(leaked)))


@pytest.fixture
def cleanup():
    """`cleanup(key)` registers a key to destroy after the test (it may be
    gone already) and returns it; a Segment given instead is detached, then destroyed."""
    keys, segments = [], []

    def register(thing):
        if isinstance(thing, shmlib.Segment):
            segments.append(thing)
            keys.append(thing.key)
        else:
            keys.append(thing)
        return thing

    yield register
    for segment in segments:
        with contextlib.suppress(ValueError, BufferError):
            segment.detach()
    for key in keys:
        with contextlib.suppress(shmlib.NotFound):
            shmlib.destroy(key)


@pytest.fixture
def posix_key(cleanup):
    """A fresh POSIX key, not yet created, destroyed after the test."""
    return cleanup("posix:/" + unique_name())


@pytest.fixture
def segment(cleanup):
    """An attached 4 KiB POSIX segment, detached and destroyed after."""
    return cleanup(shmlib.create(4096, "posix:/" + unique_name()))


@pytest.fixture(params=["posix", "sysv"])
def any_segment(request, cleanup):
    """An attached 4 KiB segment of each backend in turn."""
    return cleanup(shmlib.create(4096, backend=request.param))


# ---------------------------------------------------------------- channels

PEER = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                    "channel_peer.py")


@pytest.fixture
def channels():
    """`channels(key, end)` opens an end of a channel and closes it after
    the test (a System V segment stays until its last detach, so an end
    left open would be a leak)."""
    opened = []

    def open_end(key, end):
        channel = shmlib.open_channel(key, end)
        opened.append(channel)
        return channel

    yield open_end
    gc.collect()  # views in dead frames must not keep an end from closing
    for channel in opened:
        with contextlib.suppress(shmlib.Error, BufferError):
            channel.close()


@pytest.fixture
def chan_key(cleanup):
    """A new POSIX channel of 16 KiB (messages up to 8176 bytes), destroyed
    after the test."""
    return cleanup(shmlib.create_channel(16384, "posix:/" + unique_name()))


@pytest.fixture(params=["posix", "sysv"])
def any_chan_key(request, cleanup):
    """A new 16 KiB channel of each backend in turn."""
    return cleanup(shmlib.create_channel(16384, backend=request.param))


class Peer:
    """A channel_peer.py process (see there for its roles)."""

    def __init__(self, *args, stdin=None):
        import subprocess

        self.proc = subprocess.Popen(
            [sys.executable, PEER, *args], stdin=stdin,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env=dict(os.environ, PYTHONPATH=PYTHON_DIR))

    def line(self):
        """Its next line on stdout; fails if it ended instead."""
        text = self.proc.stdout.readline()
        if not text:
            self.proc.wait(10)
            pytest.fail(f"channel peer exited with {self.proc.returncode}: "
                        f"{self.proc.stderr.read()}")
        return text.rstrip("\n")

    def kill(self, reap=True):
        """SIGKILL; and reap it, unless asked to leave a zombie (the
        fixture reaps it at the end of the test)."""
        self.proc.kill()
        if reap:
            self.proc.wait(10)

    def finish(self, input=None, timeout=60):
        """Waits for it to end well (after writing `input` to its stdin and
        closing that); returns the rest of its stdout."""
        out, err = self.proc.communicate(input, timeout=timeout)
        assert self.proc.returncode == 0, err
        return out


@pytest.fixture
def peer():
    """`peer(*args)` starts a channel_peer.py process; killed after the
    test if it still runs."""
    started = []

    def start(*args, **kwargs):
        started.append(Peer(*args, **kwargs))
        return started[-1]

    yield start
    for p in started:
        if p.proc.poll() is None:
            p.kill()
        p.proc.stdout.close()
        p.proc.stderr.close()
        if p.proc.stdin:
            p.proc.stdin.close()
