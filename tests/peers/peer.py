"""The Python side of the peer protocol (tests/peers/PROTOCOL.md).

Runs the script on its command line with the public API of the `shmlib`
package (bindings/python), printing one line per command.
"""

import asyncio
import ctypes
import struct
import sys

import shmlib

EXIT_USAGE, EXIT_FAILED, EXIT_MISMATCH, EXIT_STDIN_EOF, EXIT_NO_ERROR = 2, 3, 4, 5, 6
EEOS = -14

# Content is written and checked a chunk at a time: each chunk is one
# memcpy or memcmp in C, so 256 MiB take well under a second. The chunk is
# a multiple of the content's period, 256 bytes.
CHUNK = 1 << 20


def say(line):
    print(line, flush=True)


def usage(message):
    print(f"peer: {message}", file=sys.stderr)
    sys.exit(EXIT_USAGE)


def byte_number(text):
    n = int(text)
    if not 0 <= n <= 255:
        usage(f"not a byte: {text}")
    return n


def step_table(n):
    """step(n) as a bytes.translate table: b -> (b*3 + n) & 0xff."""
    return bytes((b * 3 + n) & 0xFF for b in range(256))


def period(recipe):
    """The 256 bytes of a recipe "SEED+N1+N2...": pattern(SEED), byte i
    (SEED + i*31) & 0xff, then each step in turn. The content repeats
    them."""
    seed, *steps = (byte_number(f) for f in recipe.split("+"))
    p = bytes((seed + i * 31) & 0xFF for i in range(256))
    for n in steps:
        p = p.translate(step_table(n))
    return p


def template(recipe):
    """CHUNK bytes of a recipe's content."""
    return period(recipe) * (CHUNK // 256)


def content(recipe, n):
    """The first n bytes of a recipe's content."""
    return (period(recipe) * (n // 256 + 1))[:n]


def first_difference(got, want):
    """The first offset where two equally long byte strings differ."""
    return next(i for i in range(len(got)) if got[i] != want[i])


def stream_len(i, largest):
    """The length of message i of a stream (PROTOCOL.md, "Streams")."""
    if i % 16 == 0:
        return 0
    if i % 16 == 1:
        return largest
    return i * 7919 % (largest + 1)


def stream_recipe(seed, i):
    return str((seed + i) & 0xFF)


def parse_shape(text):
    """"3x5x7", or "-" for the shape ()."""
    return () if text == "-" else tuple(int(n) for n in text.split("x"))


def format_shape(shape):
    return "x".join(str(n) for n in shape) if shape else "-"


class Keep(Exception):
    """Leaves a with-block of the binding without committing or
    releasing."""


class Peer:
    def __init__(self):
        self.seg = None  # the last attach, detached or not
        self.ch = None  # the last channel end opened, closed or not
        # Every end opened: a Channel closes itself when it is garbage, and
        # an end the script opened stays open until the script closes it.
        self.ends = []
        self.timeout = None  # of the channel calls that wait; None: forever
        self.armed = 0  # the code `expect` asked of the next command
        self.expected = 0  # the code the running command must fail with

    def mapping(self):
        if self.seg is None:
            usage("no mapping: attach first")
        return self.seg

    def create(self, key, size):
        say(f"created {shmlib.create_detached(int(size), key)}")

    def attach(self, key):
        self.seg = shmlib.attach(key)
        say(f"attached {self.seg.size}")

    def attach_ro(self, key):
        self.seg = shmlib.attach(key, readonly=True)
        say(f"attached {self.seg.size}")

    def write(self, recipe):
        t = template(recipe)
        with self.mapping().buf as buf:
            for off in range(0, len(buf), CHUNK):
                n = min(CHUNK, len(buf) - off)
                buf[off:off + n] = t[:n]
        say(f"wrote {recipe}")

    def verify(self, recipe):
        t = template(recipe)
        with self.mapping().buf as buf:
            for off in range(0, len(buf), CHUNK):
                got = bytes(buf[off:off + CHUNK])
                if got != t[:len(got)]:
                    i = next(i for i in range(len(got)) if got[i] != t[i])
                    say(f"mismatch {off + i} {got[i]} {t[i]}")
                    sys.exit(EXIT_MISMATCH)
        say(f"verified {recipe}")

    def step(self, n):
        table = step_table(byte_number(n))
        with self.mapping().buf as buf:
            buf[:] = bytes(buf).translate(table)
        say(f"stepped {int(n)}")

    def detach(self):
        self.mapping().detach()
        say("detached")

    def destroy(self, key):
        shmlib.destroy(key)
        say("destroyed")

    def stat(self, key):
        info = shmlib.stat(key)
        # The API says None where the C struct says -1 (POSIX).
        nattach = -1 if info.nattach is None else info.nattach
        say(f"stat size={info.size} nattach={nattach} backend={info.backend}")

    def listed(self, key):
        found = any(info.key == key for info in shmlib.list_segments())
        say(f"listed {'yes' if found else 'no'}")

    def ftok(self, path, proj):
        say(f"ftok {shmlib.ftok(path, int(proj))}")

    def strerror(self, code):
        say(f"strerror {int(code)} {shmlib.strerror(int(code))}")

    def version(self):
        say(f"version {shmlib.library_version()}")

    def wait(self):
        say("waiting")
        if not sys.stdin.readline():
            sys.exit(EXIT_STDIN_EOF)

    def poke(self):
        # Beneath the API, which gives no way to write a read-only mapping:
        # a raw store, which faults if the mapping is read-only.
        address = self.mapping().address
        say("poking")
        byte = ctypes.c_ubyte.from_address(address)
        byte.value ^= 0xFF
        say("poked")

    def try_write(self):
        with self.mapping().buf as buf:
            try:
                buf[0] ^= 0xFF
            except TypeError:
                say("write-refused TypeError")
            else:
                say("write-allowed")

    def expect(self, code):
        if not code.lstrip("-").isdigit() or int(code) >= 0:
            usage(f"expect: not a failure code: {code}")
        self.armed = int(code)
        say(f"expecting {self.armed}")

    def scribble(self, offset, value):
        # The machine's byte order, as libshm reads its words.
        with self.mapping().buf as buf:
            struct.pack_into("=Q", buf, int(offset), int(value))
        say(f"scribbled {int(offset)} {int(value)}")

    # ------------------------------------------------------------ channels

    def channel(self):
        if self.ch is None:
            usage("no channel: chan-open first")
        return self.ch

    def chan_create(self, key, capacity):
        say(f"created {shmlib.create_channel(int(capacity), key)}")

    def chan_open(self, key, end):
        if end not in ("producer", "consumer"):
            usage(f"chan-open: end {end}")
        self.ch = shmlib.open_channel(key, end)
        self.ends.append(self.ch)
        say(f"opened {end}")

    def bcast_create(self, key, capacity, slots, policy):
        if policy not in ("lossless", "overwrite"):
            usage(f"bcast-create: policy {policy}")
        say(f"created {shmlib.create_broadcast(int(capacity), key, subscribers=int(slots), overwrite=policy == 'overwrite')}")

    def bcast_open(self, key, end):
        self.ch = shmlib.open_broadcast(key, end)
        self.ends.append(self.ch)
        say(f"opened {end}")

    def chan_poll(self, ms):
        ch = self.channel()

        async def wait():
            loop = asyncio.get_running_loop()
            ready = loop.create_future()
            loop.add_reader(ch.fileno(), lambda: ready.done() or ready.set_result(None))
            ch.arm()
            try:
                await asyncio.wait_for(ready, int(ms) / 1000)
                return True
            except asyncio.TimeoutError:
                return False
            finally:
                loop.remove_reader(ch.fileno())

        say("polled" if asyncio.run(wait()) else "not ready")

    def chan_lost(self):
        say(f"lost {self.channel().lost()}")

    def chan_max(self):
        say(f"max {self.channel().max_message}")

    def chan_timeout(self, ms):
        ms = int(ms)
        self.timeout = None if ms < 0 else ms / 1000
        say(f"timeout {ms}")

    def send(self, data, by_copy, commit=True):
        """Sends data by copy, or written in place between reserve and
        commit; commit False leaves it reserved."""
        ch = self.channel()
        if by_copy:
            ch.send(data, self.timeout)
        elif commit:
            with ch.reserve(len(data), self.timeout) as buf:
                buf[:] = data
        else:
            # Leaving the block by an exception sends nothing: the space
            # stays reserved (the binding's documented rule).
            try:
                with ch.reserve(len(data), self.timeout) as buf:
                    buf[:] = data
                    raise Keep
            except Keep:
                pass

    def chan_send(self, length, recipe):
        self.send(content(recipe, int(length)), by_copy=True)
        say(f"sent {int(length)}")

    def chan_put(self, length, recipe):
        self.send(content(recipe, int(length)), by_copy=False)
        say(f"put {int(length)}")

    def chan_reserve(self, length, recipe):
        self.send(content(recipe, int(length)), by_copy=False, commit=False)
        say(f"reserved {int(length)}")

    def receive(self, mode, check):
        """Takes the next message: "take" in place (peek), "into" by copy
        into a buffer (recv_into), "recv" as new bytes (recv). check(msg)
        sees it before it is released; returns its length."""
        ch = self.channel()
        if mode == "take":
            with ch.peek(self.timeout) as view:
                check(view)
                return len(view)
        if mode == "hold":
            # Leaving the block by an exception consumes nothing: the
            # message stays held (the binding's documented rule).
            try:
                with ch.peek(self.timeout) as view:
                    check(view)
                    n = len(view)
                    raise Keep
            except Keep:
                return n
        if mode == "into":
            buf = bytearray(ch.max_message)
            n = ch.recv_into(buf, self.timeout)
            check(memoryview(buf)[:n])
            return n
        data = ch.recv(self.timeout)
        check(data)
        return len(data)

    def chan_recv(self, recipe):
        self.receive_one("into", recipe, "received")

    def chan_take(self, recipe):
        self.receive_one("take", recipe, "took")

    def chan_peek(self, recipe):
        self.receive_one("hold", recipe, "peeked")

    def receive_one(self, mode, recipe, word):
        def check(msg):
            want = content(recipe, len(msg))
            if msg != want:
                i = first_difference(msg, want)
                say(f"mismatch {i} {msg[i]} {want[i]}")
                sys.exit(EXIT_MISMATCH)
        try:
            n = self.receive(mode, check)
        except shmlib.EndOfStream:
            if self.expected == EEOS:
                raise
            say("eos")
        else:
            say(f"{word} {n}")

    def chan_stream(self, count, seed):
        count, seed = int(count), byte_number(seed)
        largest, total = self.channel().max_message, 0
        for i in range(count):
            n = stream_len(i, largest)
            self.send(content(stream_recipe(seed, i), n), by_copy=i % 2 == 0)
            total += n
        say(f"streamed {count} {total}")

    def chan_drain(self, count, seed):
        count, seed = int(count), byte_number(seed)
        largest, total = self.channel().max_message, 0
        for i in range(count):
            want = content(stream_recipe(seed, i), stream_len(i, largest))

            def check(msg):
                if len(msg) != len(want):
                    say(f"mismatch message {i} length {len(msg)} {len(want)}")
                    sys.exit(EXIT_MISMATCH)
                if msg != want:
                    k = first_difference(msg, want)
                    say(f"mismatch message {i} offset {k} {msg[k]} {want[k]}")
                    sys.exit(EXIT_MISMATCH)
            # In place, into a buffer, as new bytes: all three ways.
            total += self.receive(("take", "into", "recv")[i % 3], check)
        say(f"drained {count} {total}")

    def chan_send_array(self, dtype, shape, recipe):
        import numpy

        dtype, shape = numpy.dtype(dtype), parse_shape(shape)
        count = 1
        for n in shape:
            count *= n
        array = numpy.frombuffer(content(recipe, count * dtype.itemsize),
                                 dtype).reshape(shape)
        if array.ndim >= 2:
            # Sent from Fortran order: send_array must write C order,
            # whatever the source's layout. (asfortranarray would make a
            # 0-d array 1-d.)
            array = numpy.asfortranarray(array)
        self.channel().send_array(array, self.timeout)
        head = shmlib.framing.header(numpy, dtype, shape)
        say(f"sent-array {len(head) + array.nbytes}")

    def chan_recv_array(self, recipe):
        with self.channel().peek_array(self.timeout) as array:
            # The array views the ring memory of the whole message, header
            # included: its base is that buffer.
            with memoryview(array.base) as whole:
                length = whole.nbytes
            data = array.tobytes()  # C order
            line = (f"received-array {array.dtype.str} "
                    f"{format_shape(array.shape)} {length}")
            del array  # a view of the ring: gone before the block ends
        want = content(recipe, len(data))
        if data != want:
            i = first_difference(data, want)
            say(f"mismatch {i} {data[i]} {want[i]}")
            sys.exit(EXIT_MISMATCH)
        say(line)

    def chan_close(self):
        self.channel().close()
        say("closed")


# Every command and its number of arguments.
ARITY = {
    "create": 2, "attach": 1, "attach-ro": 1, "write": 1, "verify": 1,
    "step": 1, "detach": 0, "destroy": 1, "stat": 1, "listed": 1,
    "ftok": 2, "strerror": 1, "version": 0, "wait": 0, "poke": 0,
    "try-write": 0, "expect": 1, "scribble": 2,
    "chan-create": 2, "chan-open": 2, "chan-max": 0, "chan-timeout": 1,
    "chan-send": 2, "chan-put": 2, "chan-reserve": 2, "chan-recv": 1,
    "chan-take": 1, "chan-peek": 1, "chan-stream": 2, "chan-drain": 2,
    "chan-send-array": 3, "chan-recv-array": 1, "chan-close": 0,
    "bcast-create": 4, "bcast-open": 2, "chan-lost": 0, "chan-poll": 1,
}


def main(args):
    peer = Peer()
    while args:
        cmd = args[0]
        n = ARITY.get(cmd)
        if n is None or len(args) < 1 + n:
            usage(f"unknown command or missing arguments at {args}")
        peer.expected, peer.armed = peer.armed, 0
        try:
            getattr(peer, cmd.replace("-", "_"))(*args[1:1 + n])
        except shmlib.Error as err:
            if not peer.expected or err.code != peer.expected:
                say(f"error {err.code} {err.message}")
                return EXIT_FAILED
            say(f"failed {err.code} {err.message}")
        else:
            if peer.expected:
                return EXIT_NO_ERROR  # its line is printed
        args = args[1 + n:]
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
