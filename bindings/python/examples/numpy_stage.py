"""numpy_stage.py - the middle stage of `make demo`'s pipeline: equalises the
histogram of every frame with numpy, in place in shared memory.

    python3 numpy_stage.py IN_KEY OUT_KEY [--ready FILE]
    python3 numpy_stage.py --pipe [--ready FILE]

IN_KEY, OUT_KEY  two channels: this process takes the consumer end of the
                 first and the producer end of the second. Each frame is a
                 numpy array over the channel's shared memory where the
                 producer wrote it (Channel.peek), and the result is written
                 by numpy straight into the room reserved for it in the
                 second channel (Channel.reserve): not one byte is copied on
                 the way in or out.
--pipe           read the frames from stdin and write them to stdout
                 instead, for comparison: the same work, but each frame is
                 copied from the pipe into a buffer of this process, and the
                 result from another buffer into the next pipe.
--ready FILE     create FILE once numpy is imported and the channels are
                 open, so that whoever starts the producer can wait for that
                 rather than count our start-up as pipeline time.

The frame format is the one bindings/c/examples/frame.h describes: a
32-byte header (magic "LSFR", kind, frame number, payload length, width,
CRC-32 of the payload) and width x height grey levels. For every frame this
stage checks the header and the checksum (frames arrive in order, raw, and
undamaged), equalises the picture into the output frame, marks it
equalised and gives it a fresh CRC-32.

Prints one summary line on stderr in the same shape as the C stages.
Exit status: 0 when every frame was passed on, 1 on a bad frame or a failed
channel, 2 on bad usage. Needs numpy and the shmlib package (make lib, then
PYTHONPATH=bindings/python or pip install ./bindings/python).
"""

import argparse
import io
import struct
import sys
import time
import zlib

try:
    import numpy as np
except ImportError:
    sys.exit("numpy_stage: this stage needs numpy, which is not installed.\n"
             "Install it with `pip install numpy` (or, for everything the "
             "tests use too, `pip install -r requirements-dev.txt`).")

import shmlib

PROG = "numpy_stage"

# The frame header (frame.h): magic, kind, seq, payload_len, width, crc32,
# in this machine's byte order, 32 bytes with no padding.
HEADER = struct.Struct("=IIQQII")
assert HEADER.size == 32
FRAME_MAGIC = 0x5246534C  # "LSFR"
FRAME_RAW = 1
FRAME_EQUALISED = 2

# The largest payload a frame may announce (frame_producer's limit too):
# a damaged header must not make us allocate gigabytes.
MAX_PAYLOAD = 1 << 30

# How long to wait for the previous or the next stage before giving up:
# a pipeline that stalls this long is broken, not slow (as in frame.h).
TIMEOUT = 10.0


class BadFrame(Exception):
    """A frame that is not what the producer should have sent."""


class Meter:
    """Frames and payload bytes passed on, timed as the C stages time
    theirs: from the first frame's arrival (waiting for the producer to
    start is not this stage's time) to the last one passed on."""

    def __init__(self):
        self.frames = self.nbytes = 0
        self.wall = self.cpu = None

    def arrived(self):
        if self.wall is None:
            self.wall, self.cpu = time.monotonic(), time.process_time()

    def passed_on(self, payload_len):
        self.frames += 1
        self.nbytes += payload_len

    def summary(self):
        """The summary line, in the shape of frame.h's frame_summary()."""
        seconds = time.monotonic() - self.wall if self.frames else 0.0
        cpu = time.process_time() - self.cpu if self.frames else 0.0
        mib = self.nbytes / 2**20
        return (f"{PROG}: {self.frames} frames, {mib:.1f} MiB in {seconds:.2f} s = "
                f"{mib / seconds if seconds > 0 else 0:.0f} MiB/s, cpu {cpu:.2f} s")


def equalise(src, dst):
    """Histogram equalisation of the uint8 picture src into dst, in integers
    so that frame_consumer.c, which computes it again, gets the same bytes:

        hist[v] = how many pixels have grey level v
        cdf[v]  = hist[0] + ... + hist[v]
        cmin    = cdf of the darkest level present
        lut[v]  = ((cdf[v] - cmin) * 255 + (n - cmin) // 2) // (n - cmin)

    and dst = lut[src]. A picture of one grey level only is copied as it is.
    """
    hist = np.bincount(src.reshape(-1), minlength=256)
    cdf = np.cumsum(hist)
    cmin = hist[np.flatnonzero(hist)[0]]
    spread = src.size - cmin
    if spread == 0:
        dst[...] = src
        return
    lut = ((np.maximum(cdf - cmin, 0) * 255 + spread // 2) // spread).astype(np.uint8)
    np.take(lut, src, out=dst)


def check_header(frame, seq):
    """(payload length, width, CRC-32) from the header of frame, the whole
    message of frame number seq; BadFrame unless the producer wrote it so."""
    if len(frame) < HEADER.size:
        raise BadFrame(f"frame {seq}: a {len(frame)}-byte message has no header")
    magic, kind, got_seq, payload_len, width, crc = HEADER.unpack_from(frame)
    if magic != FRAME_MAGIC:
        raise BadFrame(f"frame {seq}: magic {magic:#010x}, not a frame")
    if got_seq != seq:
        raise BadFrame(f"expected frame {seq}, received frame {got_seq}: "
                       "out of order, repeated or lost")
    if kind != FRAME_RAW:
        raise BadFrame(f"frame {seq}: kind {kind}, not a raw frame")
    if payload_len != len(frame) - HEADER.size or width == 0 or payload_len % width:
        raise BadFrame(f"frame {seq}: {payload_len} bytes {width} wide in a "
                       f"{len(frame)}-byte message")
    return payload_len, width, crc


# Views of a channel's memory (memoryview slices, numpy arrays) live only
# inside the two functions below, which raise nothing of their own. An
# exception must not carry such a view in its traceback: the with-blocks and
# Channel.close() refuse to hand memory back while a view of it is alive.

def payload_crc(frame):
    """The CRC-32 of a frame's payload, read in place."""
    with memoryview(frame)[HEADER.size:] as payload:
        return zlib.crc32(payload)


def equalise_frame(frame_in, frame_out, width):
    """Equalises frame_in's picture into frame_out's payload: two numpy
    arrays over the two buffers, so the pixels are read and written where
    they are."""
    src = np.frombuffer(frame_in, np.uint8, offset=HEADER.size).reshape(-1, width)
    dst = np.frombuffer(frame_out, np.uint8, offset=HEADER.size).reshape(-1, width)
    equalise(src, dst)


def transform(frame_in, frame_out, seq):
    """Checks frame_in, the whole message of frame number seq, and writes
    its equalised version into frame_out, a writable buffer of the same
    length; returns the payload's length."""
    payload_len, width, crc = check_header(frame_in, seq)
    got = payload_crc(frame_in)
    if got != crc:
        raise BadFrame(f"frame {seq}: CRC-32 of the payload is {got:#010x}, "
                       f"the header says {crc:#010x}: damaged on the way")
    equalise_frame(frame_in, frame_out, width)
    HEADER.pack_into(frame_out, 0, FRAME_MAGIC, FRAME_EQUALISED, seq,
                     payload_len, width, payload_crc(frame_out))
    return payload_len


def run_channels(in_key, out_key, meter, ready):
    """Channels: each frame is read where the producer wrote it and written
    where the consumer will read it."""
    with shmlib.open_channel(in_key, "consumer") as rx, \
            shmlib.open_channel(out_key, "producer") as tx:
        ready()
        while True:
            # Hold the input frame (a read-only memoryview of the first
            # channel) while writing the output one (a writable memoryview
            # of the second): both are shared memory, and neither is
            # copied. Leaving the with-block commits the output frame to
            # the consumer and releases the input frame to the producer.
            try:
                with rx.peek(timeout=TIMEOUT) as frame_in, \
                        tx.reserve(len(frame_in), timeout=TIMEOUT) as frame_out:
                    meter.arrived()
                    payload_len = transform(frame_in, frame_out, meter.frames)
            except shmlib.EndOfStream:
                return      # the producer closed, and we have every frame
            meter.passed_on(payload_len)
    # Leaving the outer with-block closed both ends: closing the producer
    # end of OUT_KEY ends the stream there, after every frame committed.


def read_exactly(stream, buf):
    """Fills buf from stream; False at end of input before the first byte."""
    view, got = memoryview(buf), 0
    while got < len(view):
        n = stream.readinto(view[got:])
        if not n:
            if got == 0:
                return False
            raise BadFrame("the input ended in the middle of a frame")
        got += n
    return True


def write_all(stream, buf):
    """Writes all of buf to stream."""
    view, done = memoryview(buf), 0
    while done < len(view):
        done += stream.write(view[done:])


def run_pipes(meter, ready):
    """--pipe: the same work between two buffers of our own, filled from
    stdin and emptied to stdout."""
    # Unbuffered files over fds 0 and 1: readinto() and write() are one
    # system call each, with no buffer of Python's in between.
    stdin = io.FileIO(sys.stdin.fileno(), "rb", closefd=False)
    stdout = io.FileIO(sys.stdout.fileno(), "wb", closefd=False)
    frame_in = frame_out = bytearray()
    header = bytearray(HEADER.size)
    ready()
    while read_exactly(stdin, header):
        meter.arrived()
        magic, _, _, payload_len, _, _ = HEADER.unpack_from(header)
        if magic != FRAME_MAGIC or payload_len > MAX_PAYLOAD:
            raise BadFrame(f"frame {meter.frames}: not a frame header, or a "
                           f"payload of {payload_len} bytes")
        if len(frame_in) != HEADER.size + payload_len:
            # Made for the first frame; again only if the size changes.
            frame_in = bytearray(HEADER.size + payload_len)
            frame_out = bytearray(len(frame_in))
        frame_in[:HEADER.size] = header
        if not read_exactly(stdin, memoryview(frame_in)[HEADER.size:]):
            raise BadFrame(f"frame {meter.frames}: the input ended after its header")
        transform(frame_in, frame_out, meter.frames)
        write_all(stdout, frame_out)
        meter.passed_on(payload_len)


def main():
    parser = argparse.ArgumentParser(
        prog=PROG, description="Equalise frames from one channel into another.")
    parser.add_argument("keys", nargs="*", metavar="KEY",
                        help="IN_KEY OUT_KEY: the input and output channels")
    parser.add_argument("--pipe", action="store_true",
                        help="read frames from stdin, write them to stdout")
    parser.add_argument("--ready", metavar="FILE",
                        help="create FILE once ready to receive frames")
    args = parser.parse_args()
    if len(args.keys) != (0 if args.pipe else 2):
        parser.error("give IN_KEY and OUT_KEY, or --pipe")

    def ready():
        if args.ready:
            open(args.ready, "w").close()

    meter = Meter()
    try:
        if args.pipe:
            run_pipes(meter, ready)
        else:
            run_channels(*args.keys, meter, ready)
    except BadFrame as exc:
        sys.exit(f"{PROG}: FAILED: {exc}")
    except shmlib.Error as exc:
        sys.exit(f"{PROG}: FAILED at frame {meter.frames}: {exc}")
    except BrokenPipeError:
        sys.exit(f"{PROG}: FAILED: the next stage closed its end of the pipe")
    print(meter.summary(), file=sys.stderr)


if __name__ == "__main__":
    main()
