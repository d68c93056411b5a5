"""asyncio over pollable ends: await recv/send, async for, add_reader; a
producer in another process; a peer that dies; nothing blocks the loop."""

import asyncio
import subprocess
import sys
import time

import pytest

import shmlib


@pytest.fixture
def chan_key():
    key = shmlib.create_channel(4096)
    yield key
    shmlib.destroy(key)


PRODUCER = """
import shmlib, sys, time
with shmlib.open_channel(sys.argv[1], "producer") as tx:
    for i in range(200):
        tx.send(i.to_bytes(4, "little") * 16)
        if i % 50 == 0:
            time.sleep(0.02)
"""


def test_async_for_from_another_process(chan_key):
    async def main():
        got, ticks = [], 0
        rx = shmlib.open_channel(chan_key, "consumer")
        proc = subprocess.Popen([sys.executable, "-c", PRODUCER, chan_key])

        async def ticker():  # proves the loop keeps running
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.001)

        t = asyncio.ensure_future(ticker())
        async for msg in rx:
            got.append(int.from_bytes(msg[:4], "little"))
        t.cancel()
        rx.close()
        assert proc.wait(20) == 0
        return got, ticks

    got, ticks = asyncio.run(main())
    assert got == list(range(200))
    assert ticks > 5


def test_send_async_waits_for_room_and_add_reader(chan_key):
    async def main():
        tx = shmlib.open_channel(chan_key, "producer")
        rx = shmlib.open_channel(chan_key, "consumer")
        sent = 0
        while True:
            try:
                tx.send(bytes(500), timeout=0)
                sent += 1
            except shmlib.Timeout:
                break
        pending = asyncio.ensure_future(tx.send_async(bytes(500)))
        await asyncio.sleep(0.05)
        assert not pending.done()
        # the consumer side, driven by add_reader
        loop = asyncio.get_running_loop()
        drained = loop.create_future()
        count = 0

        def on_ready():
            nonlocal count
            while True:
                try:
                    rx.recv(timeout=0)
                    count += 1
                except shmlib.Timeout:
                    if count >= sent + 1:
                        drained.set_result(None) if not drained.done() else None
                        return
                    rx.arm()
                    return

        loop.add_reader(rx.fileno(), on_ready)
        rx.arm()
        await asyncio.wait_for(pending, 5)
        await asyncio.wait_for(drained, 5)
        loop.remove_reader(rx.fileno())
        tx.close()
        rx.close()
        return count

    assert asyncio.run(main()) >= 2


def test_dead_producer_ends_the_wait(chan_key):
    code = ("import shmlib, sys, time\n"
            "tx = shmlib.open_channel(sys.argv[1], 'producer')\n"
            "print('ready', flush=True)\n"
            "time.sleep(60)\n")
    child = subprocess.Popen([sys.executable, "-c", code, chan_key], stdout=subprocess.PIPE)
    try:
        assert child.stdout.readline().strip() == b"ready"

        async def main():
            with shmlib.open_channel(chan_key, "consumer") as rx:
                waiting = asyncio.ensure_future(rx.recv_async())
                await asyncio.sleep(0.05)
                child.kill()
                child.wait()
                start = time.monotonic()
                with pytest.raises(shmlib.PeerGone):
                    await asyncio.wait_for(waiting, 5)
                return time.monotonic() - start

        assert asyncio.run(main()) < 1
    finally:
        child.kill()
        child.wait()
        child.stdout.close()


def test_broadcast_subscribers_in_one_loop():
    key = shmlib.create_broadcast(4096, subscribers=4)
    try:
        async def main():
            tx = shmlib.open_broadcast(key, "producer")
            subs = [shmlib.open_broadcast(key, "subscriber") for _ in range(3)]

            async def read_all(rx):
                return [m async for m in rx]

            readers = [asyncio.ensure_future(read_all(s)) for s in subs]
            for i in range(50):
                await tx.send_async(bytes([i]) * 100)
            tx.close()
            results = await asyncio.wait_for(asyncio.gather(*readers), 10)
            for s in subs:
                s.close()
            return results

        for r in asyncio.run(main()):
            assert r == [bytes([i]) * 100 for i in range(50)]
    finally:
        shmlib.destroy(key)
