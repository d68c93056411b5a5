#!/usr/bin/env python3
"""bench_py.py - shmlib from Python against multiprocessing.shared_memory.

Measures, per cycle, on 4 KiB POSIX segments:

  py.lifecycle.posix  shmlib.create() (create + attach) + detach + destroy,
                      against SharedMemory(create=True) + close() + unlink().
  py.attach.posix     shmlib.attach() + detach of an existing segment,
                      against SharedMemory(name=...) + close().

Fairness: the stdlib registers every segment with its resource tracker (a
helper process it talks to through a pipe; before Python 3.13 even segments
it merely opens). That is bookkeeping libshm does not do, so for this run
resource_tracker.register/unregister are replaced by no-ops, which only
makes the baseline faster. Neither side touches the memory.

Each figure is the median of interleaved rounds (shmlib, stdlib, shmlib,
...), so that both see the same machine. The notes also give two figures
that explain the ratio: the same libshm calls made straight through ctypes
(what the Python package adds), and the stdlib's own system calls made
directly with os/mmap (the kernel's share of the baseline, a floor for any
implementation that does the same work).

Prints a JSON list of entries on stdout (see bench/run.py); takes < 20 s.
"""

import _posixshmem
import ctypes
import gc
import json
import mmap
import os
import secrets
import statistics
import sys
import time
from multiprocessing import resource_tracker, shared_memory

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import shmlib  # noqa: E402  (needs the path above)
from shmlib import _ffi  # noqa: E402

SIZE = 4096
ROUNDS = 7
ROUND_SECONDS = 0.15  # per function and round: 2 x 4 x 7 x 0.15 s ~ 8.5 s
TARGET = 0.5


def shmlib_lifecycle():
    segment = shmlib.create(SIZE)
    segment.detach()
    shmlib.destroy(segment.key)


def stdlib_lifecycle():
    sm = shared_memory.SharedMemory(create=True, size=SIZE)
    sm.close()
    sm.unlink()


_out_key = ctypes.create_string_buffer(_ffi.KEY_MAX)
_address = ctypes.c_void_p()
_size = ctypes.c_uint64()


def ctypes_lifecycle():
    _ffi.lib.shmlib_create(b"posix:", SIZE, 0o600, 0, _out_key, _ffi.KEY_MAX)
    key = _out_key.value
    _ffi.lib.shmlib_attach(key, None, 0, ctypes.byref(_address),
                           ctypes.byref(_size))
    _ffi.lib.shmlib_detach(_address.value)
    _ffi.lib.shmlib_destroy(key)


def syscalls_lifecycle():
    # What SharedMemory(create=True) + close() + unlink() asks of the kernel.
    name = "/psm_" + secrets.token_hex(4)
    fd = _posixshmem.shm_open(name, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600)
    os.ftruncate(fd, SIZE)
    os.fstat(fd)
    mmap.mmap(fd, SIZE).close()
    os.close(fd)
    _posixshmem.shm_unlink(name)


def attach_cycles(key):
    raw_key = key.encode()
    name = shmlib.posix_name(key)

    def shmlib_attach():
        shmlib.attach(key).detach()

    def stdlib_attach():
        shared_memory.SharedMemory(name=name).close()

    def ctypes_attach():
        _ffi.lib.shmlib_attach(raw_key, None, 0, ctypes.byref(_address),
                               ctypes.byref(_size))
        _ffi.lib.shmlib_detach(_address.value)

    def syscalls_attach():
        fd = _posixshmem.shm_open("/" + name, os.O_RDWR, 0o600)
        os.fstat(fd)
        mmap.mmap(fd, SIZE).close()
        os.close(fd)

    return shmlib_attach, stdlib_attach, ctypes_attach, syscalls_attach


def per_cycle_ns(cycle, count):
    gc.collect()
    gc.disable()
    try:
        start = time.perf_counter_ns()
        for _ in range(count):
            cycle()
        return (time.perf_counter_ns() - start) / count
    finally:
        gc.enable()


def compare(cycles):
    """Median ns per cycle of each function, measured in interleaved rounds
    of a count calibrated to ROUND_SECONDS."""
    counts = []
    for cycle in cycles:
        cycle()  # warm up: first calls pay for imports and page faults
        estimate = per_cycle_ns(cycle, 200)
        counts.append(max(200, int(ROUND_SECONDS * 1e9 / estimate)))
    runs = [[] for _ in cycles]
    for _ in range(ROUNDS):
        for cycle, count, results in zip(cycles, counts, runs):
            results.append(per_cycle_ns(cycle, count))
    return [statistics.median(results) for results in runs]


def entry(name, value, baseline_value, notes):
    return {
        "name": name,
        "value": round(value, 1),
        "unit": "ns",
        "baseline": "multiprocessing.shared_memory",
        "baseline_value": round(baseline_value, 1),
        "ratio": round(value / baseline_value, 3),
        "target": TARGET,
        "better": "lower",
        "notes": notes,
    }


def main():
    # See the module docstring: the tracker's bookkeeping is not measured.
    resource_tracker.register = lambda name, rtype: None
    resource_tracker.unregister = lambda name, rtype: None

    ours, theirs, raw, floor = compare([shmlib_lifecycle, stdlib_lifecycle,
                                        ctypes_lifecycle, syscalls_lifecycle])
    entries = [entry(
        "py.lifecycle.posix", ours, theirs,
        "shmlib.create(4096) + detach() + destroy() against "
        "SharedMemory(create=True, size=4096) + close() + unlink(), resource "
        f"tracker off. The same 4 libshm calls through bare ctypes: {raw:.0f} "
        f"ns; the stdlib's system calls made directly: {floor:.0f} ns")]

    key = shmlib.create_detached(SIZE)
    try:
        ours, theirs, raw, floor = compare(attach_cycles(key))
    finally:
        shmlib.destroy(key)
    entries.append(entry(
        "py.attach.posix", ours, theirs,
        "shmlib.attach(key) + detach() against SharedMemory(name=...) + "
        "close(), resource tracker off. The same 2 libshm calls through bare "
        f"ctypes: {raw:.0f} ns; the stdlib's system calls made directly: "
        f"{floor:.0f} ns"))
    json.dump(entries, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
