"""Permission errors, from the point of view of another user.

Root passes every permission check, so as root the other user is `nobody`:
a child process imports shmlib (the interpreter and this tree are root's)
and then drops to uid/gid 65534 before touching any segment. As another
user, the test makes segments with no permission at all instead.
"""

import json
import os
import subprocess
import sys

import pytest

import shmlib
from conftest import PYTHON_DIR

NOBODY = 65534

# shmlib imports its info module (stat) on first use: import it before
# dropping to nobody, who may not read the interpreter's files.
CHILD = """
import json, sys, shmlib, shmlib.info
import os
os.setgid({uid}); os.setuid({uid})
results = {{}}
for name, call in [
    ("attach", lambda: shmlib.attach({key!r})),
    ("attach_readonly", lambda: shmlib.attach({key!r}, readonly=True)),
    ("stat", lambda: shmlib.stat({key!r})),
    ("destroy", lambda: shmlib.destroy({key!r})),
]:
    try:
        call()
        results[name] = "ok"
    except shmlib.Error as exc:
        results[name] = type(exc).__name__
print(json.dumps(results))
"""


def as_nobody(key):
    code = CHILD.format(uid=NOBODY, key=key)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True,
                            text=True, timeout=60,
                            env=dict(os.environ, PYTHONPATH=PYTHON_DIR))
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


needs_root = pytest.mark.skipif(
    os.geteuid() != 0, reason="acting as another user needs root")


@needs_root
@pytest.mark.parametrize("backend", ["posix", "sysv"])
def test_private_segment_is_closed_to_others(backend, cleanup):
    seg = cleanup(shmlib.create(64, backend=backend, mode=0o600))
    results = as_nobody(seg.key)
    assert results["attach"] == "PermissionDenied"
    assert results["attach_readonly"] == "PermissionDenied"
    assert results["destroy"] == "PermissionDenied"
    # Metadata stays visible to all, as `ipcs -m` and `ls -l /dev/shm` show
    # it: where IPC_STAT is refused, the library reads /proc/sysvipc/shm.
    assert results["stat"] == "ok"
    assert shmlib.stat(seg.key).size == 64  # the refused destroy did nothing


@needs_root
@pytest.mark.parametrize("backend", ["posix", "sysv"])
def test_readable_segment_attaches_readonly_only(backend, cleanup):
    seg = cleanup(shmlib.create(64, backend=backend, mode=0o644))
    results = as_nobody(seg.key)
    assert results["attach"] == "PermissionDenied"
    assert results["attach_readonly"] == "ok"
    assert results["stat"] == "ok"


@needs_root
def test_world_writable_sysv_segment_is_still_destroyed_by_its_owner_only(cleanup):
    seg = cleanup(shmlib.create(64, backend="sysv", mode=0o666))
    results = as_nobody(seg.key)
    assert results["attach"] == "ok"
    assert results["destroy"] == "PermissionDenied"


def give_to_group(seg, gid):
    """Makes gid the segment's group, as its owner may."""
    if seg.key.startswith("posix:"):
        os.chown("/dev/shm/" + shmlib.posix_name(seg.key), -1, gid)
        return
    sysv_ipc = pytest.importorskip("sysv_ipc", reason="changing a System V segment's group uses IPC_SET through sysv_ipc")
    shm = sysv_ipc.SharedMemory(shmlib.stat(seg.key).ipc_key)  # attaches it
    shm.gid = gid
    shm.detach()


@needs_root
@pytest.mark.parametrize("backend", ["posix", "sysv"])
def test_group_member_attaches_read_only_only(backend, cleanup):
    # 0640 and a group the other user is in: read, not write.
    seg = cleanup(shmlib.create(64, backend=backend, mode=0o640))
    give_to_group(seg, NOBODY)
    results = as_nobody(seg.key)
    assert results["attach"] == "PermissionDenied"
    assert results["attach_readonly"] == "ok"
    assert results["destroy"] == "PermissionDenied"
    # Without the group, not even that.
    give_to_group(seg, 0)
    assert as_nobody(seg.key)["attach_readonly"] == "PermissionDenied"


def test_mode_zero_refuses_even_the_owner(posix_key):
    # create() takes mode 0 as 0600, so take the bits away afterwards.
    shmlib.create_detached(64, posix_key)
    path = "/dev/shm/" + shmlib.posix_name(posix_key)
    os.chmod(path, 0)
    if os.geteuid() == 0:
        # Root passes every mode check: give the segment to nobody, and ask
        # as nobody, its owner now.
        os.chown(path, NOBODY, NOBODY)
        assert as_nobody(posix_key)["attach"] == "PermissionDenied"
        return
    with pytest.raises(shmlib.PermissionDenied) as info:
        shmlib.attach(posix_key)
    assert isinstance(info.value, PermissionError)
