#!/usr/bin/env python3
"""bench_aio.py - shmlib channels under asyncio against multiprocessing.Pipe.

  chan.py.asyncio.rtt.64B  ns per round trip of a 64-byte bytes message from
                           an asyncio task to a spawned process that sends
                           it back: await Channel.send_async + await
                           Channel.recv_async over two channels (the wait
                           goes through the end's pollable fd and the
                           library's watcher thread), against a duplex
                           multiprocessing.Pipe: send_bytes, then await the
                           connection's fd through loop.add_reader, then
                           recv_bytes. The far side is the same blocking
                           echo loop for both. Target: <= 0.5x.

Median of interleaved rounds. Prints a JSON list of entries (see
bench/run.py).
"""

import asyncio
import json
import multiprocessing
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import shmlib  # noqa: E402

ROUNDS = 5
ROUND_SECONDS = 0.3
STALL = 30


def echo(transport, a, b, count):
    if transport == "chan":
        with shmlib.open_channel(a, "consumer") as rx, shmlib.open_channel(b, "producer") as tx:
            for _ in range(count):
                tx.send(rx.recv(timeout=STALL), timeout=STALL)
    else:
        for _ in range(count):
            a.send_bytes(a.recv_bytes())


async def pipe_side(conn, message, count, warm):
    loop = asyncio.get_running_loop()
    ready = asyncio.Event()
    loop.add_reader(conn.fileno(), ready.set)
    try:
        for i in range(count):
            if i == warm:
                start = time.perf_counter_ns()
            conn.send_bytes(message)
            while not conn.poll():
                ready.clear()
                await ready.wait()
            if conn.recv_bytes() != message:
                raise RuntimeError("pipe: a reply arrived changed")
    finally:
        loop.remove_reader(conn.fileno())
    return time.perf_counter_ns() - start


async def chan_side(tx, rx, message, count, warm):
    for i in range(count):
        if i == warm:
            start = time.perf_counter_ns()
        await tx.send_async(message)
        if await rx.recv_async() != message:
            raise RuntimeError("chan: a reply arrived changed")
    return time.perf_counter_ns() - start


def ping_pong(ctx, transport, count):
    message, warm, keys = bytes(range(64)), count // 8, []
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
            with shmlib.open_channel(keys[0], "producer") as tx, shmlib.open_channel(keys[1], "consumer") as rx:
                elapsed = asyncio.run(chan_side(tx, rx, message, count, warm))
        else:
            theirs.close()
            elapsed = asyncio.run(pipe_side(ours, message, count, warm))
        process.join(STALL)
    finally:
        if process.exitcode is None:
            process.kill()
            process.join()
        for key in keys:
            shmlib.destroy(key)
    return elapsed / (count - warm)


def main():
    ctx = multiprocessing.get_context("spawn")
    counts = {t: max(64, int(ROUND_SECONDS * 1e9 / ping_pong(ctx, t, 256))) for t in ("chan", "pipe")}
    runs = {"chan": [], "pipe": []}
    for _ in range(ROUNDS):
        for t in ("chan", "pipe"):
            runs[t].append(ping_pong(ctx, t, counts[t]))
    chan, pipe = statistics.median(runs["chan"]), statistics.median(runs["pipe"])
    print(json.dumps([{
        "name": "chan.py.asyncio.rtt.64B", "value": round(chan, 1), "unit": "ns",
        "baseline": "multiprocessing.Pipe+add_reader", "baseline_value": round(pipe, 1),
        "ratio": round(chan / pipe, 3), "target": 0.5, "better": "lower",
        "runs": runs["chan"], "baseline_runs": runs["pipe"],
        "notes": ("ns per round trip of a 64-byte message from an asyncio task to a spawned "
                  "echo process: await send_async + await recv_async over two 64 KiB "
                  "channels (pollable ends), against a duplex multiprocessing.Pipe awaited "
                  f"with loop.add_reader; median of {ROUNDS} interleaved rounds of "
                  f"~{ROUND_SECONDS} s"),
    }]))


if __name__ == "__main__":
    main()
