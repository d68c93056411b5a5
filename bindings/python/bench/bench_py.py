#!/usr/bin/env python3
"""bench_py.py - shmlib from Python against multiprocessing.shared_memory.

Measures, per cycle, on 4 KiB POSIX segments:

  py.lifecycle.posix  shmlib.create() (create + attach) + detach + destroy,
                      against SharedMemory(create=True) + close() + unlink().
  py.attach.posix     shmlib.attach() + detach of an existing segment,
                      against SharedMemory(name=...) + close().
  py.lifecycle.posix  (baseline "c") the cycle of bench/lifecycle.c from
                      Python: create + write 1 byte (seg.buf[0] = 1) +
                      detach + destroy; bench/run.py fills in the baseline,
                      lifecycle.posix of libshm from C in the same run.
  py.import           ms for `import shmlib` + a first call
                      (shmlib.library_version(), which loads libshm.so and
                      starts its Go runtime), in fresh interpreters (python
                      -I), from a compiled copy of the package (as pip
                      installs it); baseline: `from multiprocessing import
                      shared_memory` the same way. The target is on the
                      value: <= 5 ms.

Fairness: the stdlib registers every segment with its resource tracker (a
helper process it talks to through a pipe; before Python 3.13 even segments
it merely opens). That is bookkeeping libshm does not do, so for this run
resource_tracker.register/unregister are replaced by no-ops, which only
makes the baseline faster. Neither side touches the memory.

  chan.py.1MiB        MB/s (10^6 bytes) of 1 MiB numpy arrays (float64) from
                      this process to another one through a channel, once
                      against multiprocessing.Pipe and once against
                      multiprocessing.Queue (one entry each). Every transport
                      does the same work: the producer sends one existing
                      array, the consumer gets each one as an ndarray and
                      reads every element (arr.sum(), checked). Channel:
                      send_array (one copy, into the ring) and peek_array
                      (zero copy), 4 MiB ring. Pipe: send_bytes(arr) and
                      recv_bytes_into a buffer of its own + np.frombuffer,
                      one-way (duplex=False: an os.pipe, twice as fast as
                      the default socketpair). Queue: put(arr), get(). The
                      notes give recv_array (a copy out of the ring, then
                      the sum) too.

  chan.py.rtt.64B     ns per round trip of a 64-byte bytes message between
                      this process and a spawned one that sends each back:
                      Channel.send + Channel.recv over two channels, against
                      multiprocessing.Pipe (duplex) send_bytes + recv_bytes.
                      Target: <= 0.1x.

Each figure is the median of interleaved rounds (shmlib, stdlib, shmlib,
...), so that both see the same machine. The notes also give two figures
that explain the ratio: the same libshm calls made straight through ctypes
(what the Python package adds), and the stdlib's own system calls made
directly with os/mmap (the kernel's share of the baseline, a floor for any
implementation that does the same work).

Prints a JSON list of entries on stdout (see bench/run.py); takes < 20 s.
"""

import _posixshmem
import compileall
import contextlib
import ctypes
import gc
import json
import mmap
import multiprocessing
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from multiprocessing import resource_tracker, shared_memory

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import shmlib  # noqa: E402  (needs the path above)
from shmlib import _ffi  # noqa: E402

SIZE = 4096
ROUNDS = 7
ROUND_SECONDS = 0.15  # per function and round: 2 x 4 x 7 x 0.15 s ~ 8.5 s
# Targets on the ratio to multiprocessing.shared_memory, and to C.
LIFECYCLE_TARGET = 1.0
ATTACH_TARGET = 0.9
C_TARGET = 1.15
IMPORT_RUNS = 21
IMPORT_TARGET_MS = 5.0


def shmlib_lifecycle():
    segment = shmlib.create(SIZE)
    segment.detach()
    shmlib.destroy(segment.key)


def shmlib_lifecycle_write():
    segment = shmlib.create(SIZE)
    segment.buf[0] = 1
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


def entry(name, value, baseline_value, target, notes,
          baseline="multiprocessing.shared_memory", unit="ns"):
    return {
        "name": name,
        "value": round(value, 3),
        "unit": unit,
        "baseline": baseline,
        "baseline_value": None if baseline_value is None else round(baseline_value, 3),
        "ratio": None if baseline_value is None else round(value / baseline_value, 3),
        "target": target,
        "better": "lower",
        "notes": notes,
    }


# ---------------------------------------------------------------- import

IMPORT_PROBE = """
import sys, time
sys.path.insert(0, {package_dir!r})
start = time.perf_counter()
{statement}
print((time.perf_counter() - start) * 1e3)
"""


def import_ms(statement, package_dir, flag):
    """Median ms that `statement` takes at the start of fresh interpreters
    run with `flag`: -I as a user's script runs (site, but not PYTHON*
    variables or the user's site-packages), or -S, without site, which then
    leaves more of the standard library to the statement (the worst case)."""
    probe = IMPORT_PROBE.format(statement=statement, package_dir=package_dir)
    runs = []
    for _ in range(IMPORT_RUNS):
        out = subprocess.run([sys.executable, flag, "-c", probe], check=True,
                             capture_output=True, text=True, timeout=60).stdout
        runs.append(float(out))
    return statistics.median(runs)


def import_entry():
    first_call = "import shmlib; shmlib.library_version()"
    with tempfile.TemporaryDirectory(prefix="shmlib-bench-") as tmp:
        # As pip installs it: compiled, with the library beside it.
        shutil.copytree(os.path.dirname(shmlib.__file__), os.path.join(tmp, "shmlib"),
                        ignore=shutil.ignore_patterns("__pycache__"))
        compileall.compile_dir(os.path.join(tmp, "shmlib"), quiet=1)
        ours = import_ms(first_call, tmp, "-I")
        import_only = import_ms("import shmlib", tmp, "-I")
        theirs = import_ms("from multiprocessing import shared_memory", tmp, "-I")
        bare = import_ms(first_call, tmp, "-S")
    return entry(
        "py.import", ours, theirs, IMPORT_TARGET_MS,
        f"ms for `import shmlib` + shmlib.library_version() (loads libshm.so, starts "
        f"its Go runtime) in a fresh `python -I`, median of {IMPORT_RUNS}; the import "
        f"alone: {import_only:.2f} ms; both under `python -S` (no site: more of the "
        f"standard library left to import): {bare:.2f} ms. Baseline: `from "
        f"multiprocessing import shared_memory` the same way. Target on the value: "
        f"<= {IMPORT_TARGET_MS:g} ms", baseline="multiprocessing.shared_memory import",
        unit="ms") | {"target_on": "value"}


# ------------------------------------------------------------ channels

ARRAY_BYTES = 1 << 20
CHAN_CAPACITY = 4 << 20   # three 1 MiB array messages in flight
CHAN_ROUNDS = 5
CHAN_ROUND_SECONDS = 0.12  # per transport and round: 4 x 5 x 0.12 s ~ 2.4 s
CHAN_TARGET = 5
TRANSPORTS = ("chan", "chan-copy", "pipe", "queue")


def consume(transport, source, control):
    """A consumer process: on each count from `control`, receives that many
    arrays from `source` (a channel key, a Connection or a Queue), sums
    each, and answers with how many sums were wrong."""
    import numpy as np

    expected = control.recv()
    rx = (shmlib.open_channel(source, "consumer")
          if transport.startswith("chan") else None)
    buffer = bytearray(ARRAY_BYTES)
    try:
        for count in iter(control.recv, None):
            wrong = 0
            for _ in range(count):
                if transport == "chan":
                    with rx.peek_array() as array:
                        total = array.sum()
                        del array
                elif transport == "chan-copy":
                    total = rx.recv_array().sum()
                elif transport == "pipe":
                    source.recv_bytes_into(buffer)
                    total = np.frombuffer(buffer, np.float64).sum()
                else:
                    total = source.get().sum()
                wrong += total != expected
            control.send(wrong)
    finally:
        if rx is not None:
            rx.close()


# A consumer that died or never started must end the benchmark, not hang
# it: sends give up after this long, and this process keeps no copy of the
# consumer's connection ends, so a dead consumer means EOF or EPIPE here.
STALL_SECONDS = 20


class Stream:
    """This process's side of one transport, with its consumer process."""

    def __init__(self, ctx, transport, key, array):
        self.transport = transport
        if transport == "pipe":
            source, self.conn = ctx.Pipe(duplex=False)
        elif transport == "queue":
            source = self.queue = ctx.Queue(maxsize=3)
        else:
            source = key
        self.control, theirs = ctx.Pipe()
        self.process = ctx.Process(target=consume,
                                   args=(transport, source, theirs))
        self.process.start()
        theirs.close()
        if transport == "pipe":
            source.close()
        self.control.send(float(array.sum()))
        self.tx = shmlib.open_channel(key, "producer") if key else None

    def seconds(self, array, count):
        """Seconds to send `count` arrays and hear that all were summed."""
        start = time.perf_counter()
        self.control.send(count)
        for _ in range(count):
            if self.tx is not None:
                self.tx.send_array(array, timeout=STALL_SECONDS)
            elif self.transport == "pipe":
                self.conn.send_bytes(array)
            else:
                self.queue.put(array, timeout=STALL_SECONDS)
        wrong = self.control.recv()
        elapsed = time.perf_counter() - start
        if wrong:
            raise RuntimeError(f"{self.transport}: {wrong} of {count} arrays "
                               "arrived with a wrong sum")
        return elapsed

    def close(self):
        with contextlib.suppress(OSError):  # it may be gone already
            self.control.send(None)
        self.process.join(STALL_SECONDS)
        if self.process.exitcode is None:
            self.process.kill()
            self.process.join()
        if self.tx is not None:
            self.tx.close()


def channel_entries():
    import numpy as np

    array = np.random.default_rng(1).random(ARRAY_BYTES // 8)
    ctx = multiprocessing.get_context("spawn")
    keys, streams = {}, []
    try:
        for transport in TRANSPORTS:
            if transport.startswith("chan"):
                keys[transport] = shmlib.create_channel(CHAN_CAPACITY)
            streams.append(Stream(ctx, transport, keys.get(transport), array))
        counts = []
        for stream in streams:
            stream.seconds(array, 4)  # warm up: first touch of every page
            estimate = stream.seconds(array, 8) / 8
            counts.append(max(8, int(CHAN_ROUND_SECONDS / estimate)))
        runs = {transport: [] for transport in TRANSPORTS}
        for _ in range(CHAN_ROUNDS):
            for stream, count in zip(streams, counts):
                megabytes = count * ARRAY_BYTES / 1e6
                runs[stream.transport].append(
                    megabytes / stream.seconds(array, count))
    finally:
        for stream in streams:
            stream.close()
        for key in keys.values():
            shmlib.destroy(key)
    mbps = {t: statistics.median(r) for t, r in runs.items()}
    notes = (
        f"1 MiB float64 arrays, this process to a spawned one. Channel: "
        f"send_array + peek_array (zero copy) + arr.sum(), {CHAN_CAPACITY >> 20}"
        f" MiB ring; with recv_array (a copy) + sum instead: "
        f"{mbps['chan-copy']:.0f} MB/s. Pipe: one-way (duplex=False), "
        f"send_bytes + recv_bytes_into + frombuffer + sum: {mbps['pipe']:.0f} "
        f"MB/s. Queue (maxsize 3): put + get + sum: {mbps['queue']:.0f} MB/s. "
        f"Median of {CHAN_ROUNDS} interleaved rounds of ~"
        f"{CHAN_ROUND_SECONDS} s each")
    return [{
        "name": "chan.py.1MiB",
        "value": round(mbps["chan"], 1),
        "unit": "MB/s",
        "baseline": baseline,
        "baseline_value": round(mbps[transport], 1),
        "ratio": round(mbps["chan"] / mbps[transport], 3),
        "target": CHAN_TARGET,
        "better": "higher",
        "notes": notes,
    } for baseline, transport in (("multiprocessing.Pipe", "pipe"),
                                  ("multiprocessing.Queue", "queue"))]


RTT_ROUNDS = 5
RTT_ROUND_SECONDS = 0.2
RTT_TARGET = 0.1


def echo(transport, a, b, count):
    """The far side of a ping-pong: `count` times, receive and send back."""
    if transport == "chan":
        rx, tx = shmlib.open_channel(a, "consumer"), shmlib.open_channel(b, "producer")
        try:
            for _ in range(count):
                tx.send(rx.recv(timeout=STALL_SECONDS), timeout=STALL_SECONDS)
        finally:
            rx.close()
            tx.close()
    else:
        for _ in range(count):
            a.send_bytes(a.recv_bytes())


def ping_pong(ctx, transport, count):
    """ns per round trip of `count` 64-byte messages, after a first eighth
    that is not timed."""
    message, warm = bytes(range(64)), count // 8
    keys = []
    if transport == "chan":
        keys = [shmlib.create_channel(1 << 16), shmlib.create_channel(1 << 16)]
        args = (keys[0], keys[1], count)
    else:
        ours, theirs = ctx.Pipe()
        args = (theirs, None, count)
    process = ctx.Process(target=echo, args=(transport,) + args)
    process.start()
    try:
        if transport == "chan":
            tx = shmlib.open_channel(keys[0], "producer")
            rx = shmlib.open_channel(keys[1], "consumer")
            send = lambda: tx.send(message, timeout=STALL_SECONDS)  # noqa: E731
            recv = lambda: rx.recv(timeout=STALL_SECONDS)  # noqa: E731
        else:
            theirs.close()
            send, recv = (lambda: ours.send_bytes(message)), ours.recv_bytes
        for i in range(count):
            if i == warm:
                start = time.perf_counter_ns()
            send()
            if recv() != message:
                raise RuntimeError(f"{transport}: a reply arrived changed")
        elapsed = time.perf_counter_ns() - start
        if transport == "chan":
            tx.close()
            rx.close()
        process.join(STALL_SECONDS)
    finally:
        if process.exitcode is None:
            process.kill()
            process.join()
        for key in keys:
            shmlib.destroy(key)
    return elapsed / (count - warm)


def rtt_entry():
    ctx = multiprocessing.get_context("spawn")
    counts = {t: max(64, int(RTT_ROUND_SECONDS * 1e9 / ping_pong(ctx, t, 256)))
              for t in ("chan", "pipe")}
    runs = {"chan": [], "pipe": []}
    for _ in range(RTT_ROUNDS):
        for t in ("chan", "pipe"):
            runs[t].append(ping_pong(ctx, t, counts[t]))
    chan, pipe = statistics.median(runs["chan"]), statistics.median(runs["pipe"])
    return {
        "name": "chan.py.rtt.64B",
        "value": round(chan, 1),
        "unit": "ns",
        "baseline": "multiprocessing.Pipe",
        "baseline_value": round(pipe, 1),
        "ratio": round(chan / pipe, 3),
        "target": RTT_TARGET,
        "better": "lower",
        "notes": ("ns per round trip of a 64-byte bytes message to a spawned "
                  "process that sends it back: Channel.send + Channel.recv over "
                  "two 64 KiB channels, against multiprocessing.Pipe() "
                  "send_bytes + recv_bytes; median of "
                  f"{RTT_ROUNDS} interleaved rounds of ~{RTT_ROUND_SECONDS} s"),
    }


def main():
    # See the module docstring: the tracker's bookkeeping is not measured.
    resource_tracker.register = lambda name, rtype: None
    resource_tracker.unregister = lambda name, rtype: None

    ours, theirs, raw, floor, written = compare([
        shmlib_lifecycle, stdlib_lifecycle, ctypes_lifecycle, syscalls_lifecycle,
        shmlib_lifecycle_write])
    entries = [entry(
        "py.lifecycle.posix", ours, theirs, LIFECYCLE_TARGET,
        "shmlib.create(4096) + detach() + destroy() against "
        "SharedMemory(create=True, size=4096) + close() + unlink(), resource "
        f"tracker off. The same 4 libshm calls through bare ctypes: {raw:.0f} "
        f"ns; the stdlib's system calls made directly: {floor:.0f} ns"),
        entry("py.lifecycle.posix", written, None, C_TARGET,
              "the cycle of lifecycle.posix from Python: shmlib.create(4096) + "
              "seg.buf[0] = 1 + detach() + destroy(); baseline: lifecycle.posix "
              "of libshm from C in the same run (bench/run.py fills it in). The "
              f"same 4 libshm calls through bare ctypes, no write: {raw:.0f} ns",
              baseline="c")]

    key = shmlib.create_detached(SIZE)
    try:
        ours, theirs, raw, floor = compare(attach_cycles(key))
    finally:
        shmlib.destroy(key)
    entries.append(entry(
        "py.attach.posix", ours, theirs, ATTACH_TARGET,
        "shmlib.attach(key) + detach() against SharedMemory(name=...) + "
        "close(), resource tracker off. The same 2 libshm calls through bare "
        f"ctypes: {raw:.0f} ns; the stdlib's system calls made directly: "
        f"{floor:.0f} ns"))
    entries += channel_entries()
    entries.append(import_entry())
    entries.append(rtt_entry())
    json.dump(entries, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
