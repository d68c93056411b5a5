"""The other process of the channel tests: `python3 channel_peer.py ROLE
KEY ...`, run by the tests with subprocess. It reports on stdout, one line
per event, flushed; the tests read those lines to know where it is.

Roles:
  produce KEY COUNT SEED MAX_SIZE HOW THEN
      sends messages(SEED, COUNT, MAX_SIZE) (HOW: "send" copies, "reserve"
      writes in place), prints "sent", then THEN: "close" ends the stream,
      "hang" sleeps until killed.
  consume KEY
      receives until the end of the stream; prints "count DIGEST".
  hold KEY END
      opens END, prints "ready", closes when stdin ends.
  peek-and-hang KEY
      peeks one message, prints "held HEX", and sleeps holding it.
  send-after KEY SECONDS DATA
      opens the producer, prints "ready", sleeps, sends DATA, closes.
  fill-and-hang KEY
      sends 1 KiB messages until the ring is full, prints "full COUNT",
      then sleeps until killed.
  wait-forever KEY
      prints "ready" and waits in recv() with no timeout; on Ctrl-C
      (SIGINT) prints "interrupted T", T its time.monotonic() then (the
      clock is the machine's, the same in every process).
  send-arrays KEY
      sends arrays() with send_array and closes.
  send-and-exit KEY DATA
      sends DATA from a producer held in a global, and exits without
      closing it.
"""

import hashlib
import random
import signal
import sys
import time

import shmlib

SPECIAL_SIZES = (0, 1, 15, 16, 17)


def message(seed, index, max_size):
    """Message `index` of a reproducible stream: sizes from 0 to max_size,
    the boundary ones often, contents random."""
    rng = random.Random(f"{seed}:{index}")
    if index % 4 == 0:
        size = (*SPECIAL_SIZES, max_size - 1, max_size)[index // 4 % 7]
    else:
        size = rng.randrange(max_size + 1)
    return rng.randbytes(size)


def messages(seed, count, max_size):
    return [message(seed, i, max_size) for i in range(count)]


def digest(stream):
    """What `consume` prints for a list of messages: the count and a hash
    of every length and byte, in order."""
    h = hashlib.sha256()
    count = 0
    for msg in stream:
        h.update(len(msg).to_bytes(8, "little"))
        h.update(msg)
        count += 1
    return f"{count} {h.hexdigest()}"


def arrays():
    """The arrays `send-arrays` sends, in order."""
    import numpy as np

    return [
        np.arange(12, dtype="<f8").reshape(3, 4),
        np.arange(-5, 5, dtype=">i2"),
        np.array(3.5 + 1j, dtype="<c16"),  # 0-d
        np.zeros((0, 7), dtype="|u1"),
        np.array([[True, False]]),
        np.array(["ab", "cde"], dtype="<U3"),
        np.arange(6).astype("<M8[s]").reshape(2, 3),
        np.asfortranarray(np.arange(20, dtype="<i4").reshape(4, 5)),
    ]


def say(*words):
    print(*words, flush=True)


def sleep_forever():
    while True:
        time.sleep(60)


def main(role, key, *args):
    if role == "produce":
        count, seed, max_size, how, then = args
        with shmlib.open_channel(key, "producer") as tx:
            for msg in messages(int(seed), int(count), int(max_size)):
                if how == "send":
                    tx.send(msg)
                else:
                    with tx.reserve(len(msg)) as buf:
                        buf[:] = msg
            say("sent")
            if then == "hang":
                sleep_forever()
    elif role == "consume":
        with shmlib.open_channel(key, "consumer") as rx:
            say(digest(rx))
    elif role == "hold":
        (end,) = args
        with shmlib.open_channel(key, end):
            say("ready")
            sys.stdin.read()
    elif role == "peek-and-hang":
        rx = shmlib.open_channel(key, "consumer")
        with rx.peek() as view:
            say("held", view.hex())
            sleep_forever()
    elif role == "send-after":
        seconds, data = args
        with shmlib.open_channel(key, "producer") as tx:
            say("ready")
            time.sleep(float(seconds))
            tx.send(data.encode())
    elif role == "fill-and-hang":
        tx = shmlib.open_channel(key, "producer")
        count = 0
        try:
            while True:
                tx.send(bytes(1024), timeout=0)
                count += 1
        except shmlib.Timeout:
            say("full", count)
        sleep_forever()
    elif role == "wait-forever":
        # A test run started in the background (make test & in a
        # non-interactive shell) hands its children SIGINT ignored, and
        # Python then installs no KeyboardInterrupt handler: restore it.
        signal.signal(signal.SIGINT, signal.default_int_handler)
        with shmlib.open_channel(key, "consumer") as rx:
            say("ready")
            try:
                rx.recv()
            except KeyboardInterrupt:
                say("interrupted", f"{time.monotonic():.6f}")
    elif role == "send-arrays":
        with shmlib.open_channel(key, "producer") as tx:
            for array in arrays():
                tx.send_array(array)
    elif role == "send-and-exit":
        global forgotten
        (data,) = args
        forgotten = shmlib.open_channel(key, "producer")
        forgotten.send(data.encode())
    else:
        sys.exit(f"channel_peer: unknown role {role!r}")


if __name__ == "__main__":
    main(*sys.argv[1:])
