"""reap: segments libshm made whose creator died, and that nobody uses."""

import json
import os
import subprocess
import sys

import pytest

import shmlib
from conftest import PYTHON_DIR

ORPHAN_MAKER = """
import shmlib, sys
print(shmlib.create_detached(4096, backend="posix"))
print(shmlib.create_detached(4096, backend="sysv"))
print(shmlib.create_detached(4096, key=sys.argv[1]))
"""


def make_orphans(named):
    """Keys of segments made by a process that has exited since."""
    out = subprocess.run([sys.executable, "-c", ORPHAN_MAKER, named], check=True,
                         capture_output=True, text=True, timeout=60,
                         env=dict(os.environ, PYTHONPATH=PYTHON_DIR))
    return out.stdout.split()


def cli(*args):
    return subprocess.run([sys.executable, "-m", "shmlib", *args], capture_output=True,
                          text=True, timeout=60, env=dict(os.environ, PYTHONPATH=PYTHON_DIR))


def test_reap_finds_then_destroys_orphans_only(posix_key, cleanup):
    posix_orphan, sysv_orphan, named = make_orphans(posix_key)
    try:
        live = cleanup(shmlib.create(4096))  # its creator, this process, lives
        found = {info.key for info in shmlib.reap()}
        assert {posix_orphan, sysv_orphan} <= found
        assert named not in found and live.key not in found
        shmlib.stat(posix_orphan)  # a dry run destroys nothing

        text = cli("reap")
        creator = posix_orphan.split("-")[1]  # shmlib-PID-START-RANDOM
        assert f"would destroy {posix_orphan} (4096 bytes, creator pid {creator})" in text.stdout

        dry = cli("reap", "--json")
        assert dry.returncode == 0, dry.stderr
        assert {posix_orphan, sysv_orphan} <= {d["key"] for d in json.loads(dry.stdout)}

        with shmlib.attach(posix_orphan):  # in use: not an orphan now
            assert posix_orphan not in {info.key for info in shmlib.reap()}

        if os.environ.get("SHMLIB_TEST_ISOLATED") != "1":
            pytest.skip("reap --destroy would destroy other programs' orphans too on a shared "
                        "/dev/shm; make test runs this in a private one (scripts/isolate.sh)")
        done = cli("reap", "--destroy")
        assert done.returncode == 0, done.stderr
        assert f"destroyed {posix_orphan}" in done.stdout
        assert f"destroyed {sysv_orphan}" in done.stdout
        for key in (posix_orphan, sysv_orphan):
            try:
                shmlib.stat(key)
            except shmlib.NotFound:
                continue
            raise AssertionError(f"{key} survived reap --destroy")
        shmlib.stat(named)  # named by its user: never reaped
    finally:
        for key in (posix_orphan, sysv_orphan, named):
            try:
                shmlib.destroy(key)
            except shmlib.NotFound:
                pass
