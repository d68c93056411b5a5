"""libshm as a guest in a Python process: the rules of the README's "Living
inside your Python process", each checked in a fresh interpreter (libshm
loads at the first call, so what happens before and after it matters)."""

import os
import subprocess
import sys

import shmlib
from conftest import PYTHON_DIR

FAULT_CHILD = """
import ctypes, faulthandler, sys
import shmlib
if sys.argv[1] == "before":
    faulthandler.enable()
shmlib.library_version()  # loads libshm
if sys.argv[1] == "after":
    faulthandler.enable()
lib = ctypes.CDLL(shmlib.library_path())
unmapped = ctypes.c_void_p(0x1000)  # the page after NULL's is never mapped
print(lib.shmlib_attach(sys.argv[2].encode(), None, 0, unmapped, None), flush=True)
"""

SIGWAIT_CHILD = """
import os, signal, threading
import shmlib
wanted = {signal.SIGINT, signal.SIGTERM}
signal.pthread_sigmask(signal.SIG_BLOCK, wanted)
stop = False
def calls():
    while not stop:
        try:
            shmlib.stat("posix:/shmlib-test-guest-no-such-segment")
        except shmlib.NotFound:
            pass
shmlib.library_version()  # loads libshm, after the signals were blocked
threads = [threading.Thread(target=calls) for _ in range(2)]
for t in threads:
    t.start()
got = 0
for i in range(10):
    sig = signal.SIGINT if i % 2 == 0 else signal.SIGTERM
    os.kill(os.getpid(), sig)
    info = signal.sigtimedwait(wanted, 5)
    got += info is not None and info.si_signo == sig
stop = True
for t in threads:
    t.join()
print(got, flush=True)
"""


def run_child(code, *args, env=None):
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120,
        env=dict(env or os.environ, PYTHONPATH=PYTHON_DIR))


def test_faulthandler_enabled_before_load_keeps_faults_errors(segment):
    result = run_child(FAULT_CHILD, "before", segment.key)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "-9", result.stdout  # SHMLIB_EFAULT


def test_faulthandler_enabled_after_load_makes_a_fault_fatal(segment):
    """The documented rule, kept honest: if this ever stops aborting, the
    README and shmlib.h say more than they need to."""
    result = run_child(FAULT_CHILD, "after", segment.key)
    assert result.returncode < 0, (result.returncode, result.stdout)
    assert "Fatal Python error" in result.stderr


def test_sigwait_gets_every_signal_and_godebug_prints_nothing():
    env = dict(os.environ, GODEBUG="gctrace=1,inittrace=1")
    result = run_child(SIGWAIT_CHILD, env=env)
    assert result.returncode == 0, (result.returncode, result.stderr[-2000:])
    assert result.stdout.strip() == "10"
    assert result.stderr == ""
