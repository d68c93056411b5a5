#!/usr/bin/env python3
"""bench/run.py BUILD - `make bench`: libshm against its baselines.

Runs, all in one go so the numbers share the machine's mood:

  lifecycle.posix/.sysv, attach.posix/.sysv   build/bench/lifecycle
      libshm against the same system calls made directly (bench/lifecycle.c
      says exactly which); target ratio <= 1.10.
  call.version    build/bench/call: one shmlib_version() call from C against
                  a plain C call into another shared object.
  load            dlopen + first call of libshm, in a fresh process each time,
                  against the same for a one-function C library (libtiny,
                  built here from bench/helpers/tiny.c).
  load.go-empty   the same for an empty Go c-shared library, built here with
                  libshm's flags: the share of `load` that is the Go runtime.
  size            bytes of libshm.so stripped, against that empty Go library
                  stripped: what libshm adds to the Go runtime it carries.
  chan.*          build/bench/chan: channels between two processes, against
                  a pipe, a Unix stream socket and memcpy (bench/chan.c says
                  exactly what each side does). One entry per baseline:
      chan.c.SIZE, chan.c.copy.SIZE   MB/s of 64 B, 4 KiB, 64 KiB, 1 MiB
                  messages, in place and copied; targets: 64 B >= 5x pipe,
                  64 KiB >= 3x unix-socket, 1 MiB >= 0.7x memcpy.
                  Also against c-ring (bench/cring.h, a plain C ring with the
                  same spin-then-futex waiting): 64 B >= 0.7x.
      chan.c.rtt.64B  ns per round trip: mean, target <= 0.25x pipe; p50,
                  target <= 2x c-ring's p50.
      chan.c.rtt.64B.p99  p99 of the round trips, target <= 3x c-ring's p99.
      chan.idle_cpu   % of one core used by a consumer asleep in recv;
                  no baseline; target <= 0.1 (~0: 1 ms of CPU a second).
      chan.idle.256   the same for one process with 256 threads each asleep
                  in recv on its own channel; target <= 1 (% of a core).
  bcast.*         build/bench/bcast: broadcast channels (issue 13), MB/s
                  delivered to each of 4 subscriber processes, against a
                  one-consumer channel and a pipe measured in the same run
                  (bench/bcast.c says what each side does):
      bcast.c.1MiB.4subs  target >= 0.8x chan.c.1MiB (per subscriber)
      bcast.c.64B.4subs   target >= 3x pipe
  waitany.c.rtt.64B  build/bench/waitany: ns per round trip through one of
                  64 channels to an echo process in shmlib_chan_wait_any,
                  against 64 pipes and epoll_wait; target <= 0.5x.
      notify.idle.256  % of a core while 256 ends sit armed; target <= 1.
  bindings/python/bench/bench_py.py and bench_aio.py, if they exist: their JSON lists of entries
                  (py.*: the binding against multiprocessing.shared_memory, and
                  against the same cycle from C measured above; py.import);
                  bench_aio.py: chan.py.asyncio.rtt.64B against
                  multiprocessing.Pipe awaited with loop.add_reader, target <= 0.5x.
  bridge.nats.64B, bridge.nats.1MiB   build/bridge/shmlib-bridge-bench
                  (bridge/cmd/shmlib-bridge-bench): MB/s through channel ->
                  shmlib-bridge out -> NATS -> shmlib-bridge in -> channel,
                  against a plain nats.go publisher and subscriber; target
                  >= 0.8x.

Prints a table and writes BUILD/bench.json, a list of entries:
  name, value, unit, baseline, baseline_value, ratio (= value / baseline_value,
  null without a baseline value), and where there is one, target and better
  ("lower"/"higher"), which apply to the ratio, or to the value for an entry
  without a baseline or with target_on "value"; plus the raw runs and notes.

Each microbenchmark reports the median of several interleaved runs (see
bench/lifecycle.c). Exits nonzero if a benchmark fails or leaves a segment
behind; a missed target is reported, not a failure.

Standard library only.
"""
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CC = os.environ.get("CC", "cc")
GO = os.environ.get("GO", "go")
CFLAGS = ["-O2", "-std=c11", "-D_GNU_SOURCE", "-Wall", "-Wextra", "-Werror"]

RUNS = 9            # interleaved runs per microbenchmark; the median is kept
RUN_MS = 150        # length of one run of the libshm side
LOAD_RUNS = 31      # fresh processes per library for the load benchmarks
TARGET_RATIO = 1.10
CHAN_RUNS = 7       # the channel benchmarks: about 30 s in all
CHAN_RUN_MS = 150

# (name, baseline) -> target; "better" is per unit: MB/s higher, else lower.
CHAN_TARGETS = {
    ("chan.c.64B", "pipe"): 5.0,
    ("chan.c.64KiB", "unix-socket"): 3.0,
    ("chan.c.1MiB", "memcpy"): 0.7,
    ("chan.c.rtt.64B", "pipe"): 0.25,
    ("chan.idle_cpu", None): 0.1,
    # issue 10: the C data plane against a plain C ring with the same waiting
    ("chan.c.64B", "c-ring"): 0.7,
    ("chan.c.rtt.64B", "c-ring"): 2.0,
    ("chan.c.rtt.64B.p99", "c-ring"): 3.0,
    ("chan.idle.256", None): 1.0,
    # issue 13: broadcast, per subscriber
    ("bcast.c.1MiB.4subs", "chan.c.1MiB"): 0.8,
    ("bcast.c.64B.4subs", "pipe"): 3.0,
    ("waitany.c.rtt.64B", "epoll"): 0.5,
    ("notify.idle.256", None): 1.0,
}

# A library with one export and nothing else: the Go runtime alone.
GO_EMPTY = """package main

import "C"

//export goempty_version
func goempty_version() C.uint { return 100 }

func main() {}
"""

failures = []


def fail(msg):
    failures.append(msg)
    print(f"bench: {msg}", file=sys.stderr)


def run(cmd, timeout=120, **kw):
    return subprocess.run(cmd, check=True, timeout=timeout, text=True,
                          stdout=subprocess.PIPE, **kw)


# ------------------------------------------------------------ leak checks

def sysv_segments():
    """(shmid, key, cpid) of every System V segment, from the kernel's table."""
    rows = Path("/proc/sysvipc/shm").read_text().splitlines()
    head = rows[0].split()
    out = []
    for row in rows[1:]:
        f = dict(zip(head, row.split()))
        out.append((int(f["shmid"]), int(f["key"]), int(f["cpid"])))
    return out


def run_checked(cmd, what, timeout, own_prefix=None):
    """Runs a benchmark program and returns its stdout. Then removes what it
    left behind: System V segments it created (by creator pid) and /dev/shm
    files named own_prefix + its pid; each is a failure. Other POSIX objects
    that appeared meanwhile are only reported: they may belong to another
    program on this machine."""
    before = set(os.listdir("/dev/shm"))
    proc = subprocess.Popen([str(c) for c in cmd], cwd=ROOT, text=True, stdout=subprocess.PIPE)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.terminate()   # the C programs' SIGTERM handlers remove their segments
        out, _ = proc.communicate()
        fail(f"{what} timed out after {timeout} s")
    finally:
        for shmid, key, cpid in sysv_segments():
            if cpid == proc.pid:
                fail(f"{what} left System V segment {shmid} (key 0x{key & 0xffffffff:08x}); removed")
                subprocess.run(["ipcrm", "-m", str(shmid)], check=False)
        for name in sorted(set(os.listdir("/dev/shm")) - before):
            if own_prefix and name.startswith(f"{own_prefix}{proc.pid}-"):
                fail(f"{what} left /dev/shm/{name}; removed")
                os.unlink(f"/dev/shm/{name}")
            else:
                print(f"bench: warning: /dev/shm/{name} appeared while {what} ran "
                      "and is still there", file=sys.stderr)
    if proc.returncode != 0:
        fail(f"{what} exited with status {proc.returncode}")
    return out


def run_c_bench(prog, *args, timeout=60):
    """Runs one C benchmark; returns its JSON lines as dicts."""
    out = run_checked([prog, *args], prog.name, timeout=timeout, own_prefix="shmlib-bench-")
    return [json.loads(line) for line in out.splitlines() if line.strip()]


# ---------------------------------------------------------------- entries

def entry(name, unit, value, baseline, baseline_value, notes, target=None,
          runs=None, baseline_runs=None, better=None):
    e = {"name": name, "value": value, "unit": unit, "baseline": baseline,
         "baseline_value": baseline_value,
         "ratio": value / baseline_value if baseline_value else None}
    if target is not None:
        e["target"] = target
    if better is not None or target is not None:
        e["better"] = better or "lower"
    if runs is not None:
        e["runs"] = runs
        e["baseline_runs"] = baseline_runs
    e["notes"] = notes
    return e


NOTES = {
    "lifecycle.posix": "ns per create+attach+write 1 byte+detach+destroy of a 4 KiB POSIX "
                       "object; raw-c: open(O_CREAT|O_EXCL|O_NOFOLLOW|O_CLOEXEC)+fchmod+"
                       "ftruncate+fallocate+close, open+fstat+mmap+close, munmap, unlink",
    "lifecycle.sysv": "ns per create+attach+write 1 byte+detach+destroy of a 4 KiB System V "
                      "segment; raw-c: shmget(IPC_CREAT|IPC_EXCL), shmget+IPC_STAT+shmat, "
                      "shmdt, IPC_RMID",
    "attach.posix": "ns per attach+detach of an existing 4 KiB POSIX object; "
                    "raw-c: open+fstat+mmap+close, munmap",
    "attach.sysv": "ns per attach+detach of an existing 4 KiB System V segment; "
                   "raw-c: shmget+IPC_STAT+shmat, shmdt",
    "call.version": "ns per shmlib_version() call from C (C guard -> Go -> back); "
                    "c-function: indirect call of a trivial function in another shared object",
}


def from_c_record(rec):
    name = rec["name"]
    runs, base_runs = rec["value_runs"], rec["baseline_runs"]
    target = TARGET_RATIO if name.startswith(("lifecycle.", "attach.")) else None
    return entry(name, rec["unit"], statistics.median(runs), rec["baseline"],
                 statistics.median(base_runs), NOTES[name], target, runs, base_runs)


def chan_notes(rec):
    """What a chan.* record measured, in words, with the sizes it used."""
    name, base = rec["name"], rec["baseline"]
    if name == "chan.idle_cpu":
        return (f"% of one core (all threads, getrusage) used by a consumer process asleep "
                f"in shmlib_chan_recv(SHMLIB_WAIT_FOREVER) for {rec['idle_ms']} ms with "
                "nothing sent; median of the runs")
    if name == "chan.idle.256":
        return (f"% of one core (all threads, getrusage) used by one process whose 256 threads "
                f"each sleep in shmlib_chan_recv(SHMLIB_WAIT_FOREVER) on their own channel for "
                f"{rec['idle_ms']} ms; median of the runs")
    if name.startswith("chan.c.rtt.64B") and base == "c-ring":
        q = "p99" if name.endswith(".p99") else "p50"
        return (f"{q} of ns per round trip of a 64-byte message between two processes, each "
                f"trip timed alone; c-ring: the same through two plain C rings (bench/cring.h) "
                f"with the same spin-then-futex waiting; capacity {rec['capacity']}")
    if name == "chan.c.rtt.64B":
        return (f"ns per round trip of a 64-byte message between two processes (each side "
                f"fills every word and sums it): two channels of capacity {rec['capacity']} "
                "used in place (reserve/fill/commit, peek/sum/release); pipe: two pipes, "
                "write/read of 64 bytes")
    way = ("shmlib_chan_send from a filled private buffer, shmlib_chan_recv into one, then "
           "the sum" if ".copy." in name else
           "in place: reserve, fill, commit; peek, sum, release (no copy)")
    what = {"pipe": f"write() of each filled message into a pipe (buffer {rec['pipe_buffer']} "
                    "bytes), read() of exactly one message, then the sum",
            "unix-socket": "the same over socketpair(AF_UNIX, SOCK_STREAM) (SO_SNDBUF "
                           f"{rec['socket_sndbuf']} as the kernel reports it)",
            "c-ring": "the same in place through a plain C ring (bench/cring.h: no handles, "
                      "no checks, the same spin-then-futex waiting)",
            "memcpy": "one thread in one process: fill a buffer, memcpy it to another, sum "
                      "that one (fill and sum included, as on every transport)"}[base]
    return (f"MB/s (10^6 bytes/s) of {rec['size']}-byte messages from a producer process "
            f"to a consumer process; every word written by the producer and summed by the "
            f"consumer; channel of capacity {rec['capacity']}, {way}; {base}: {what}")


def waitany_notes(rec):
    if rec["name"] == "notify.idle.256":
        return ("% of one core (all threads, getrusage) used by one process for a second while "
                "256 consumer ends are armed (shmlib_chan_arm) on idle channels: the watcher "
                "threads asleep in futex_waitv, waking every 100 ms; median of 3 runs")
    return (f"ns per round trip of a 64-byte message: sent on one of {rec['ends']} channels (a "
            "different one each round, copied in) to an echo process waiting on all their "
            "consumer ends in shmlib_chan_wait_any, which receives it from the end named and "
            "sends it back on a reply channel; epoll: the same over 64 pipes and epoll_wait, "
            f"the reply over a pipe; {rec['rounds']} round trips a run, first eighth not timed")


def bcast_notes(rec):
    """What a bcast.* record measured, in words."""
    base = rec["baseline"]
    what = ("a channel of the same capacity to ONE consumer process, in place"
            if base.startswith("chan.") else
            "write() of each filled message into a pipe, one reader process reading exactly "
            "one message at a time and summing it")
    return (f"MB/s (10^6 bytes/s) of {rec['size']}-byte messages delivered to EACH of "
            f"{rec['subscribers']} subscriber processes of one lossless broadcast channel "
            f"(capacity {rec['capacity']}): the producer reserves, fills every word and commits "
            f"once; every subscriber peeks, sums every word, checks it, releases; timed from "
            f"the first eighth to the exit of the last reader. All {rec['subscribers']} together "
            f"receive {rec['subscribers']}x this. {base}: {what}. On a machine with fewer cores "
            f"than readers + 1 the readers share cores, which bounds the per-subscriber ratio")


def from_chan_record(rec):
    name, base = rec["name"], rec["baseline"]
    runs, base_runs = rec["value_runs"], rec["baseline_runs"]
    notes = (bcast_notes(rec) if name.startswith("bcast.") else
             waitany_notes(rec) if name.startswith(("waitany.", "notify.")) else chan_notes(rec))
    return entry(name, rec["unit"], statistics.median(runs), base,
                 statistics.median(base_runs) if base_runs else None, notes,
                 CHAN_TARGETS.get((name, base)), runs, base_runs,
                 better="higher" if rec["unit"] == "MB/s" else "lower")


def load_times(loader, libs):
    """Median ms of dlopen + first call for each (path, symbol) in libs, each
    time in a fresh process, the libraries taking turns."""
    times = {lib: [] for lib in libs}
    for _ in range(LOAD_RUNS):
        for path, symbol in libs:
            out = run([str(loader), str(path), symbol], timeout=30).stdout
            times[(path, symbol)].append(float(out.split()[0]))
    return {lib: (statistics.median(t), t) for lib, t in times.items()}


def stripped_size(path):
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "lib.so"
        run(["strip", "--strip-all", "-o", str(copy), str(path)])
        return copy.stat().st_size


def build_go_empty(outdir):
    """The empty Go c-shared library, built as the Makefile builds libshm and
    for the same Go language version (which sets the runtime's GODEBUG
    defaults). Its own go.mod keeps it out of the project's ./... patterns."""
    go_line = re.search(r"^go .*$", (ROOT / "go.mod").read_text(), re.M).group(0)
    outdir.mkdir(parents=True, exist_ok=True)
    (outdir / "go.mod").write_text(f"module goempty\n\n{go_line}\n")
    (outdir / "main.go").write_text(GO_EMPTY)
    env = dict(os.environ, CGO_ENABLED="1", GOWORK="off", GOTOOLCHAIN="local")
    run([GO, "build", "-buildmode=c-shared", "-trimpath", "-ldflags=-s -w",
         "-o", "libgoempty.so", "."], cwd=outdir, env=env, timeout=300)
    return outdir / "libgoempty.so"


def json_entries(cmd, what, timeout, c_entries=()):
    """The entries a benchmark program prints, as a JSON list. An entry whose
    baseline is "c" and has no value compares with the C entry of the same
    name without "py." (py.lifecycle.posix: lifecycle.posix), measured here
    in the same run."""
    try:
        entries = json.loads(run_checked(cmd, what, timeout=timeout))
    except ValueError as e:
        fail(f"{what} printed no JSON list: {e}")
        return []
    from_c = {e["name"]: e["value"] for e in c_entries}
    for e in entries:
        if e.get("baseline") == "c" and e.get("baseline_value") is None:
            e["baseline_value"] = from_c.get(e["name"].removeprefix("py."))
        # ratio = value / baseline_value, whoever measured it.
        v, bv = e.get("value"), e.get("baseline_value")
        numbers = all(isinstance(x, (int, float)) for x in (v, bv))
        e["ratio"] = v / bv if numbers and bv else None
    return entries


# ------------------------------------------------------------------ table

def fmt(v, unit):
    if v is None:
        return "-"
    if not isinstance(v, (int, float)):
        return str(v)
    if unit == "bytes":
        return f"{v:,.0f}"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    if abs(v) >= 10:
        return f"{v:.1f}"
    return f"{v:.3g}" if unit != "ms" else f"{v:.3f}"


def print_table(entries):
    rows = [("benchmark", "value", "unit", "baseline", "baseline value", "ratio", "target")]
    for e in entries:
        ratio, target = e.get("ratio"), e.get("target")
        # The target applies to the ratio, or to the value without a
        # baseline or when the entry says so (target_on: py.import's ms).
        on_value = not e.get("baseline") or e.get("target_on") == "value"
        judged = e.get("value") if on_value else ratio
        verdict = "-"
        if target is not None and judged is not None:
            lower = e.get("better", "lower") == "lower"
            ok = judged <= target if lower else judged >= target
            verdict = f"{'<=' if lower else '>='} {target:.2f} {'ok' if ok else 'MISSED'}"
        unit = e.get("unit", "")
        rows.append((str(e.get("name")), fmt(e.get("value"), unit), unit,
                     str(e.get("baseline") or "-"), fmt(e.get("baseline_value"), unit),
                     "-" if ratio is None else f"{ratio:.2f}", verdict))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    right = {1, 4, 5}
    for n, r in enumerate(rows):
        print("  ".join(c.rjust(w) if i in right else c.ljust(w)
                        for i, (c, w) in enumerate(zip(r, widths))).rstrip())
        if n == 0:
            print("  ".join("-" * w for w in widths))


def main():
    build = Path(sys.argv[1] if len(sys.argv) > 1 else "build").resolve()
    bench_dir = build / "bench"
    libshm = build / "libshm.so"
    bench_dir.mkdir(parents=True, exist_ok=True)

    # The helpers that must not be linked with libshm (see their comments).
    libtiny, loader = bench_dir / "libtiny.so", bench_dir / "load"
    run([CC, *CFLAGS, "-shared", "-fPIC", "-o", str(libtiny),
         str(ROOT / "bench/helpers/tiny.c")])
    run([CC, *CFLAGS, "-o", str(loader), str(ROOT / "bench/helpers/load.c"), "-ldl"])
    try:
        goempty = build_go_empty(bench_dir / "goempty")
    except (subprocess.SubprocessError, OSError) as e:
        fail(f"could not build the empty Go library: {e}")
        goempty = None

    entries = []
    print("bench: lifecycle and attach (libshm vs raw system calls) ...", file=sys.stderr)
    entries += [from_c_record(r) for r in run_c_bench(bench_dir / "lifecycle", RUNS, RUN_MS)]
    print("bench: call ...", file=sys.stderr)
    entries += [from_c_record(r) for r in run_c_bench(bench_dir / "call", libtiny, RUNS, 100)]

    print("bench: load ...", file=sys.stderr)
    libs = [(libshm, "shmlib_version"), (libtiny, "tiny_version")]
    if goempty:
        libs.append((goempty, "goempty_version"))
    loads = load_times(loader, libs)
    (shm_ms, shm_runs), (tiny_ms, tiny_runs) = loads[libs[0]], loads[libs[1]]
    entries.append(entry(
        "load", "ms", shm_ms, "c-library", tiny_ms,
        "ms for dlopen(build/libshm.so) + first shmlib_version() call in a fresh process, "
        f"median of {LOAD_RUNS}; c-library: the same for libtiny.so, one C function "
        "built from bench/helpers/tiny.c", runs=shm_runs, baseline_runs=tiny_runs))
    if goempty:
        go_ms, go_runs = loads[libs[2]]
        entries.append(entry(
            "load.go-empty", "ms", go_ms, "c-library", tiny_ms,
            "the same for an empty Go c-shared library (one export, libshm's build flags): "
            "the Go runtime's share of `load`", runs=go_runs, baseline_runs=tiny_runs))

    size = stripped_size(libshm)
    entries.append(entry(
        "size", "bytes", size, "go-empty" if goempty else None,
        stripped_size(goempty) if goempty else None,
        "bytes of build/libshm.so after strip --strip-all; baseline: an empty Go "
        "c-shared library built with the same flags and stripped, i.e. the Go runtime "
        "every such library carries"))

    print("bench: channels between two processes ...", file=sys.stderr)
    entries += [from_chan_record(r) for r in
                run_c_bench(bench_dir / "chan", CHAN_RUNS, CHAN_RUN_MS, timeout=180)]
    print("bench: broadcast channels, 4 subscriber processes ...", file=sys.stderr)
    entries += [from_chan_record(r) for r in
                run_c_bench(bench_dir / "bcast", CHAN_RUNS, CHAN_RUN_MS, timeout=240)]
    print("bench: waiting on 64 channels against epoll ...", file=sys.stderr)
    entries += [from_chan_record(r) for r in
                run_c_bench(bench_dir / "waitany", CHAN_RUNS, 20000, timeout=240)]

    for py_bench in (ROOT / "bindings/python/bench/bench_py.py",
                     ROOT / "bindings/python/bench/bench_aio.py"):
        if py_bench.exists():
            print(f"bench: {py_bench.relative_to(ROOT)} ...", file=sys.stderr)
            entries += json_entries([sys.executable, py_bench], py_bench.name, 180, entries)

    # shmlib-bridge against plain NATS (bridge/, built by `make bridge-bin`).
    bridge_bench = build / "bridge" / "shmlib-bridge-bench"
    if bridge_bench.exists():
        print("bench: shmlib-bridge over NATS ...", file=sys.stderr)
        entries += json_entries([bridge_bench], bridge_bench.name, 300)
    else:
        fail(f"{bridge_bench} is missing: `make bench` builds it (make bridge-bin)")

    print()
    print_table(entries)
    (build / "bench.json").write_text(json.dumps(entries, indent=2) + "\n")
    print(f"\nwrote {build / 'bench.json'}")
    if failures:
        print(f"bench: {len(failures)} problem(s):\n  " + "\n  ".join(failures), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
