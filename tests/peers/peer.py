"""The Python side of the peer protocol (tests/peers/PROTOCOL.md).

Runs the script on its command line with the public API of the `shmlib`
package (bindings/python), printing one line per command.
"""

import ctypes
import sys

import shmlib

EXIT_USAGE, EXIT_FAILED, EXIT_MISMATCH, EXIT_STDIN_EOF = 2, 3, 4, 5

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


def template(recipe):
    """CHUNK bytes of a recipe "SEED+N1+N2...": pattern(SEED), byte i
    (SEED + i*31) & 0xff, then each step in turn."""
    seed, *steps = (byte_number(f) for f in recipe.split("+"))
    period = bytes((seed + i * 31) & 0xFF for i in range(256))
    for n in steps:
        period = period.translate(step_table(n))
    return period * (CHUNK // 256)


class Peer:
    def __init__(self):
        self.seg = None  # the last attach, detached or not

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


# Every command and its number of arguments.
ARITY = {
    "create": 2, "attach": 1, "attach-ro": 1, "write": 1, "verify": 1,
    "step": 1, "detach": 0, "destroy": 1, "stat": 1, "listed": 1,
    "ftok": 2, "strerror": 1, "version": 0, "wait": 0, "poke": 0,
    "try-write": 0,
}


def main(args):
    peer = Peer()
    while args:
        cmd = args[0]
        n = ARITY.get(cmd)
        if n is None or len(args) < 1 + n:
            usage(f"unknown command or missing arguments at {args}")
        try:
            getattr(peer, cmd.replace("-", "_"))(*args[1:1 + n])
        except shmlib.Error as err:
            say(f"error {err.code} {err.message}")
            return EXIT_FAILED
        args = args[1 + n:]
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
