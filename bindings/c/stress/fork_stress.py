#!/usr/bin/env python3
"""fork_stress.py - os.fork() while a thread is calling libshm through the
Python binding, over and over (the Python side of fork.c).

The parent attaches two segments (POSIX and System V), then starts a thread
that loops create, write, read back, stat, detach, destroy without pause.
Meanwhile the main thread forks CYCLES times (default 1000; --quick: 100).
Each child, forked at whatever moment the thread was in:

  - reads the inherited segments through their Segment.buf and checks every
    byte, then writes bytes of its own there for the parent to check;
  - unpickles a Segment of an inherited key, which must reuse the mapping;
  - gets shmlib.Forked (a RuntimeError naming the fix) from create, attach,
    stat, destroy and list_segments, and SHMLIB_EFORKED from the raw C
    function too; the inherited buffers still work after that;
  - leaves with os._exit(0).

The parent waits for each child at most --timeout seconds (default 5): a
child that has not ended is a hang, and is killed. Every EXEC_EVERY-th
child (default 50) execs a fresh interpreter instead, which must use the
library normally. The script ends with "N passed, N failed", a nonzero exit
on failure, and leaves no segment behind.

As root it runs itself in private IPC and mount namespaces with a private
tmpfs on /dev/shm (util-linux unshare), like the C stress programs;
--no-isolate runs on the real /dev/shm.

    PYTHONPATH=bindings/python python3 bindings/c/stress/fork_stress.py [--quick]
"""

import argparse
import ctypes
import os
import pickle
import shutil
import signal
import subprocess
import sys
import threading
import time

import shmlib
from shmlib import _ffi

SEG_SIZE = 64 * 1024
PATTERN_OFF, CHILD_OFF, CHILD_LEN = 4096, 32768, 512
ISOLATED_ENV = "LIBSHM_STRESS_ISOLATED"

passed = 0
failed = 0


def check(ok, message):
    global passed, failed
    if ok:
        passed += 1
    else:
        failed += 1
        print(f"FAIL fork_stress.py: {message}", flush=True)
    return ok


def pattern(tag, n):
    """n bytes that depend on tag: cheap, and a wrong byte is caught."""
    block = tag.to_bytes(8, "little") * 32 + bytes(range(256))
    return (block * (n // len(block) + 1))[:n]


def isolate(argv):
    """Re-runs this script in private namespaces when root; returns if not."""
    if os.environ.get(ISOLATED_ENV) == "1" or "--no-isolate" in argv or "--exec-child" in argv:
        return
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        print("isolation: off (not root, or no unshare): running on the real /dev/shm")
        return
    if subprocess.call(["unshare", "--ipc", "--mount", "true"], stderr=subprocess.DEVNULL) != 0:
        print("isolation: unshare is not permitted here: running on the real /dev/shm")
        return
    env = dict(os.environ, **{ISOLATED_ENV: "1"})
    script = ('mount -t tmpfs -o size=1g,mode=1777 tmpfs /dev/shm && '
              'echo 268435456 > /proc/sys/kernel/shmmax && exec "$0" "$@"')
    cmd = ["unshare", "--ipc", "--mount", "--propagation", "private",
           "sh", "-c", script, sys.executable, os.path.abspath(__file__)] + argv
    sys.exit(subprocess.call(cmd, env=env))


# ------------------------------------------------------------------ children

def forked_child(cycle, segs):
    """Runs in the forked child; never returns."""
    bad = 0

    def fail(msg):
        nonlocal bad
        bad += 1
        os.write(1, f"FAIL fork_stress.py [forked child, cycle {cycle}]: {msg}\n".encode())

    try:
        for i, seg in enumerate(segs):
            buf = seg.buf
            if int.from_bytes(buf[0:8], "little") != cycle:
                fail(f"{seg.key}: stamp {int.from_bytes(buf[0:8], 'little')}, want {cycle}")
            if bytes(buf[PATTERN_OFF:CHILD_OFF]) != pattern(i, CHILD_OFF - PATTERN_OFF):
                fail(f"{seg.key}: inherited bytes differ")
            buf[CHILD_OFF:CHILD_OFF + CHILD_LEN] = pattern(cycle * 8 + i, CHILD_LEN)
            buf[8:16] = (0xAC << 56 | cycle).to_bytes(8, "little")
            del buf
        # A pickled Segment reuses the inherited mapping.
        again = pickle.loads(pickle.dumps(segs[0]))
        if again.address != segs[0].address:
            fail("unpickling an inherited Segment did not reuse its mapping")
        # Every call that needs the library is refused, naming the fix.
        calls = [
            ("create", lambda: shmlib.create(4096)),
            ("create sysv", lambda: shmlib.create(4096, backend="sysv")),
            ("attach", lambda: shmlib.attach(segs[1].key)),
            ("stat", lambda: shmlib.stat(segs[0].key)),
            ("destroy", lambda: shmlib.destroy(segs[1].key)),
            ("list_segments", lambda: shmlib.list_segments()),
        ]
        for name, call in calls:
            try:
                call()
                fail(f"{name} worked in a forked child")
            except shmlib.Forked as e:
                text = str(e)
                names_fix = "exec" in text or "spawn" in text
                if "fork" not in text or not names_fix:
                    fail(f"{name}: Forked says {text!r}, not the fix")
            except Exception as e:  # noqa: BLE001 - anything else is the failure
                fail(f"{name} raised {type(e).__name__}: {e}, want shmlib.Forked")
        # The C guard itself, under the binding.
        buf = ctypes.create_string_buffer(shmlib.KEY_MAX)
        rc = _ffi.lib.shmlib_create(b"sysv:", 4096, 0, 0, buf, shmlib.KEY_MAX)
        if rc != _ffi.EFORKED:
            fail(f"raw shmlib_create returned {rc}, want SHMLIB_EFORKED")
        # What works in a forked child.
        if shmlib.library_version() != shmlib.__version__:
            fail(f"library_version() is {shmlib.library_version()!r}")
        # The inherited memory is still there after all that.
        if bytes(segs[0].buf[PATTERN_OFF:PATTERN_OFF + 64]) != pattern(0, 64):
            fail("the inherited mapping changed after the refused calls")
        again.detach()  # only ends Python's access to it here
    except BaseException as e:  # noqa: BLE001
        fail(f"{type(e).__name__}: {e}")
    os._exit(0 if bad == 0 else 1)


def exec_child(key, cycle, slot):
    """A fresh interpreter: the library works normally."""
    seg = shmlib.attach(key)
    ok = True
    ok &= check(int.from_bytes(seg.buf[0:8], "little") == cycle, f"exec'd child: stamp of {key}")
    ok &= check(bytes(seg.buf[PATTERN_OFF:CHILD_OFF]) == pattern(slot, CHILD_OFF - PATTERN_OFF),
                f"exec'd child: bytes of {key}")
    seg.buf[CHILD_OFF:CHILD_OFF + CHILD_LEN] = pattern(cycle * 8 + slot, CHILD_LEN)
    seg.buf[8:16] = (0xAC << 56 | cycle).to_bytes(8, "little")
    seg.detach()
    for backend in ("posix", "sysv"):
        s = shmlib.create(4096, backend=backend)
        s.buf[:5] = b"hello"
        ok &= check(bytes(s.buf[:5]) == b"hello", f"exec'd child: {backend} segment")
        s.detach()
        shmlib.destroy(s.key)
    sys.exit(0 if failed == 0 else 1)


# -------------------------------------------------------------------- parent

def wait_timeout(pid, timeout):
    """(status, hung): waits up to timeout seconds, then kills."""
    deadline = time.monotonic() + timeout
    nap = 0.0001
    while True:
        got, status = os.waitpid(pid, os.WNOHANG)
        if got == pid:
            return status, False
        if time.monotonic() >= deadline:
            os.kill(pid, signal.SIGKILL)
            _, status = os.waitpid(pid, 0)
            return status, True
        time.sleep(nap)
        nap = min(nap * 2, 0.005)


def leftovers(prefix, pid):
    """Segments of this run that still exist: names with the prefix, System
    V segments this process made; in isolation, every segment there is."""
    everything = os.environ.get(ISOLATED_ENV) == "1"
    found = [f"posix:/{n}" for n in os.listdir("/dev/shm") if everything or n.startswith(prefix)]
    with open("/proc/sysvipc/shm") as f:
        next(f)
        for line in f:
            cols = line.split()
            if everything or int(cols[4]) == pid:
                found.append(f"sysv:id={cols[1]}")
    return found


def main():
    isolate(sys.argv[1:])
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="100 cycles")
    ap.add_argument("--cycles", type=int, default=None)
    ap.add_argument("--exec-every", type=int, default=50)
    ap.add_argument("--timeout", type=float, default=5.0)
    ap.add_argument("--no-isolate", action="store_true")
    ap.add_argument("--exec-child", nargs=3, metavar=("KEY", "CYCLE", "SLOT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.exec_child:
        key, cycle, slot = args.exec_child
        exec_child(key, int(cycle), int(slot))
    cycles = args.cycles or (100 if args.quick else 1000)
    prefix = f"libshm-stress-py-{os.getpid()}"
    if os.environ.get(ISOLATED_ENV) == "1":
        print("isolation: private IPC and mount namespaces, private tmpfs on /dev/shm")
    print(f"fork_stress.py: {cycles} cycles (every {args.exec_every}-th child execs), a thread calling "
          f"libshm meanwhile, {args.timeout:.1f} s per child; libshm {shmlib.library_version()}, "
          f"Python {sys.version.split()[0]}", flush=True)

    segs = [shmlib.create(SEG_SIZE, f"posix:/{prefix}-seg0"), shmlib.create(SEG_SIZE, backend="sysv")]
    for i, seg in enumerate(segs):
        seg.buf[PATTERN_OFF:CHILD_OFF] = pattern(i, CHILD_OFF - PATTERN_OFF)

    stop = threading.Event()
    thread_cycles = [0]
    thread_errors = []

    def churn():
        n = 0
        while not stop.is_set():
            try:
                if n % 2 == 0:
                    s = shmlib.create(8192, f"posix:/{prefix}-t{n}")
                else:
                    s = shmlib.create(8192, backend="sysv")
                s.buf[:8] = n.to_bytes(8, "little")
                if int.from_bytes(s.buf[:8], "little") != n:
                    thread_errors.append(f"{s.key}: read back wrong")
                if shmlib.stat(s.key).size != 8192:
                    thread_errors.append(f"{s.key}: stat size")
                s.detach()
                shmlib.destroy(s.key)
            except Exception as e:  # noqa: BLE001
                thread_errors.append(f"{type(e).__name__}: {e}")
                if len(thread_errors) > 10:
                    return
            n += 1
            thread_cycles[0] = n

    t = threading.Thread(target=churn, daemon=True)
    t.start()

    survived = hangs = bad = forked = execd = 0
    worst = 0.0
    t0 = time.monotonic()
    for cycle in range(1, cycles + 1):
        do_exec = args.exec_every > 0 and cycle % args.exec_every == 0
        slot = cycle % len(segs)
        for seg in segs:
            seg.buf[0:8] = cycle.to_bytes(8, "little")
            seg.buf[8:16] = bytes(8)
        sys.stdout.flush()
        start = time.monotonic()
        pid = os.fork()
        if pid == 0:
            if do_exec:
                try:
                    os.execv(sys.executable, [sys.executable, os.path.abspath(__file__),
                                              "--exec-child", segs[slot].key, str(cycle), str(slot)])
                finally:
                    os._exit(127)
            forked_child(cycle, segs)
        status, hung = wait_timeout(pid, args.timeout * (4 if do_exec else 1))
        worst = max(worst, time.monotonic() - start)
        if do_exec:
            execd += 1
        else:
            forked += 1
        if hung:
            hangs += 1
            check(False, f"cycle {cycle}: the {'exec' if do_exec else 'fork'}ed child did not end "
                         f"within {args.timeout} s: killed")
            continue
        if not check(os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0,
                     f"cycle {cycle}: child wait status {status:#x}"):
            bad += 1
            continue
        ok = True
        for i, seg in enumerate(segs):
            if do_exec and i != slot:
                continue
            ack = int.from_bytes(seg.buf[8:16], "little")
            ok &= check(ack == (0xAC << 56 | cycle)
                        and bytes(seg.buf[CHILD_OFF:CHILD_OFF + CHILD_LEN]) == pattern(cycle * 8 + i, CHILD_LEN),
                        f"cycle {cycle}: {seg.key}: the child's writes are not visible")
        if ok:
            survived += 1
        else:
            bad += 1
    secs = time.monotonic() - t0
    stop.set()
    t.join(10)
    check(not t.is_alive(), "the library thread did not stop")
    for e in thread_errors:
        check(False, f"library thread: {e}")
    print(f"fork_stress.py: {forked} forked children, {execd} exec'd children; {survived} survived, "
          f"{bad} failed, {hangs} hangs; slowest child {worst * 1000:.1f} ms; {secs:.2f} s", flush=True)
    print(f"fork_stress.py: the thread made {thread_cycles[0]} lifecycles meanwhile")
    check(hangs == 0, f"{hangs} hangs")
    check(survived == cycles, f"{survived} of {cycles} children survived")
    check(thread_cycles[0] > 0, "the library thread made no progress")

    for seg in segs:
        check(shmlib.stat(seg.key).size == SEG_SIZE, f"{seg.key} is gone: a child's destroy went through")
        seg.detach()
        shmlib.destroy(seg.key)
    left = leftovers(prefix, os.getpid())
    for key in left:
        check(False, f"leaked {key} (removed)")
        if key.startswith("posix:/"):
            os.unlink("/dev/shm/" + key[len("posix:/"):])
        else:
            subprocess.call(["ipcrm", "-m", key[len("sysv:id="):]])
    check(not left, "segments left")
    print(f"{passed} passed, {failed} failed", flush=True)
    sys.exit(0 if failed == 0 else 1)


if __name__ == "__main__":
    try:
        main()
    except SystemExit:
        raise
    except BaseException:  # noqa: BLE001 - report, then fail with the usual last line
        import traceback
        traceback.print_exc()
        print(f"{passed} passed, {failed + 1} failed", flush=True)
        sys.exit(1)
