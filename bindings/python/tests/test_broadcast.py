"""Broadcast channels from Python: every subscriber (here in processes of
their own, spawned) gets every message in order, numpy arrays in place,
overwrite-oldest losses counted, a late joiner starts at the next message."""

import multiprocessing
import os
import signal
import subprocess
import sys
import time

import numpy
import pytest

import shmlib


@pytest.fixture
def bcast_key(request):
    made = []

    def make(*args, **kwargs):
        key = shmlib.create_broadcast(*args, **kwargs)
        made.append(key)
        return key

    yield make
    for key in made:
        shmlib.destroy(key)


def _subscriber(key, count, ready, out):
    with shmlib.open_broadcast(key, "subscriber") as rx:
        ready.set()
        got = []
        for i in range(count):
            a = rx.recv_array(timeout=20)
            got.append(bool(a.shape == (i % 7 + 1, 3) and (a == i).all()))
        try:
            rx.recv(timeout=20)
            got.append(False)
        except shmlib.EndOfStream:
            got.append(True)
        out.put(all(got))


def test_every_subscriber_gets_every_array(bcast_key):
    key = bcast_key(1 << 14, subscribers=8)
    ctx = multiprocessing.get_context("spawn")
    count = 300
    readies = [ctx.Event() for _ in range(4)]
    out = ctx.Queue()
    procs = [ctx.Process(target=_subscriber, args=(key, count, r, out)) for r in readies]
    for p in procs:
        p.start()
    for r in readies:
        assert r.wait(30)
    with shmlib.open_broadcast(key, "producer") as tx:
        assert tx.end == "producer"
        for i in range(count):
            tx.send_array(numpy.full((i % 7 + 1, 3), i, dtype=numpy.int32), timeout=20)
    results = [out.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(30)
        assert p.exitcode == 0
    assert results == [True] * 4


def test_overwrite_oldest_counts_lost(bcast_key):
    key = bcast_key(4096, subscribers=2, overwrite=True)
    with shmlib.open_broadcast(key, "producer") as tx, \
            shmlib.open_broadcast(key, "subscriber") as rx:
        assert rx.end == "subscriber"
        for i in range(40):
            tx.send(i.to_bytes(4, "little") * 50, timeout=0)
        seen = []
        while True:
            try:
                seen.append(int.from_bytes(rx.recv(timeout=0)[:4], "little"))
            except shmlib.Timeout:
                break
        lost = rx.lost()
        assert seen == sorted(seen) and seen[-1] == 39
        assert lost > 0 and len(seen) + lost == 40
        assert rx.lost() == 0


def test_late_joiner_and_misuse(bcast_key):
    key = bcast_key(4096, subscribers=1)
    assert shmlib.stat(key).broadcast and not shmlib.stat(key).channel
    with shmlib.open_broadcast(key, "producer") as tx:
        tx.send(b"before")
        with shmlib.open_broadcast(key, "subscriber") as rx:
            with pytest.raises(shmlib.Timeout):
                rx.recv(timeout=0)
            tx.send(b"after")
            assert rx.recv(timeout=0) == b"after"
            with pytest.raises(shmlib.Busy):
                shmlib.open_broadcast(key, "subscriber")
            with pytest.raises(shmlib.InvalidArgument):
                tx.lost()
            with pytest.raises(shmlib.InvalidArgument):
                rx.send(b"x")
        with pytest.raises(shmlib.InvalidArgument):
            shmlib.open_channel(key, "consumer")
    with pytest.raises(shmlib.InvalidArgument):
        shmlib.open_broadcast(key, "consumer")
    with pytest.raises(shmlib.NotSupported):
        shmlib.create_broadcast(4096, backend="sysv")


def test_dead_subscriber_lets_producer_go(bcast_key):
    key = bcast_key(4096, subscribers=2)
    code = ("import shmlib, sys, time\n"
            "rx = shmlib.open_broadcast(sys.argv[1], 'subscriber')\n"
            "print('ready', flush=True)\n"
            "time.sleep(60)\n")
    child = subprocess.Popen([sys.executable, "-c", code, key], stdout=subprocess.PIPE,
                             env=dict(os.environ))
    try:
        assert child.stdout.readline().strip() == b"ready"
        with shmlib.open_broadcast(key, "producer") as tx:
            with pytest.raises(shmlib.Timeout):
                for _ in range(10):
                    tx.send(bytes(1000), timeout=0)
            child.send_signal(signal.SIGKILL)
            child.wait()
            start = time.monotonic()
            tx.send(bytes(1000), timeout=2)
            assert time.monotonic() - start < 0.5
    finally:
        child.kill()
        child.wait()
        child.stdout.close()


def test_wait_any_says_which(bcast_key):
    key = bcast_key(4096, subscribers=2)
    ckey = shmlib.create_channel(4096)
    try:
        with shmlib.open_broadcast(key, "producer") as btx, \
                shmlib.open_broadcast(key, "subscriber") as brx, \
                shmlib.open_channel(ckey, "producer") as tx, \
                shmlib.open_channel(ckey, "consumer") as rx:
            with pytest.raises(shmlib.Timeout):
                shmlib.wait_any([brx, rx], timeout=0.05)
            tx.send(b"one")
            assert shmlib.wait_any([brx, rx], timeout=1) is rx
            assert rx.recv() == b"one"
            btx.send(b"two")
            assert shmlib.wait_any([brx, rx], timeout=1) is brx
            assert brx.recv() == b"two"
            assert shmlib.wait_any([rx, tx], timeout=0) is tx  # room to send
            with pytest.raises(shmlib.InvalidArgument):
                shmlib.wait_any([])
    finally:
        shmlib.destroy(ckey)
