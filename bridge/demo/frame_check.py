"""frame_check.py - the last stage of `make demo-bridge`: a Python consumer
that receives frames from a channel, fed by shmlib-bridge from another
"host", and checks every one.

    python3 frame_check.py KEY FRAMES [--ready FILE]

KEY     a channel whose consumer end this process takes.
FRAMES  how many frames must arrive: 0, 1, 2, ... FRAMES-1, in order, then
        the end of the stream.

Each frame is checked where it lies in the channel's shared memory (no
copy): its header (magic, kind raw, frame number, length) and the CRC-32 of
its payload, with the very functions of numpy_stage.py, the middle stage of
`make demo`. The frame format is bindings/c/examples/frame.h's.

Prints one summary line on stderr. Exit status: 0 when all FRAMES frames
arrived whole and in order, then the end of the stream; 1 otherwise; 2 on
bad usage.
"""

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bindings/python/examples"))
import numpy_stage  # noqa: E402  (the frame checks, shared)
import shmlib  # noqa: E402

PROG = "frame_check"
TIMEOUT = 30.0  # two bridges and a server stand between us and the producer


def check(key, frames, ready):
    """Receives and checks frames until the end of the stream; returns how
    many payload bytes arrived."""
    nbytes = seq = 0
    with shmlib.open_channel(key, "consumer") as rx:
        ready()
        while True:
            try:
                with rx.peek(timeout=TIMEOUT) as frame:
                    payload_len, _, crc = numpy_stage.check_header(frame, seq)
                    got = numpy_stage.payload_crc(frame)
            except shmlib.EndOfStream:
                break
            if got != crc:
                raise numpy_stage.BadFrame(
                    f"frame {seq}: CRC-32 of the payload is {got:#010x}, the header says "
                    f"{crc:#010x}: damaged on the way")
            seq += 1
            nbytes += payload_len
    if seq != frames:
        raise numpy_stage.BadFrame(f"the stream ended after {seq} frames of {frames}")
    return nbytes


def main():
    parser = argparse.ArgumentParser(prog=PROG, description="Check every frame of a channel.")
    parser.add_argument("key", metavar="KEY")
    parser.add_argument("frames", metavar="FRAMES", type=int)
    parser.add_argument("--ready", metavar="FILE", help="create FILE once the channel is open")
    args = parser.parse_args()

    def ready():
        if args.ready:
            open(args.ready, "w").close()

    t0 = time.monotonic()
    try:
        nbytes = check(args.key, args.frames, ready)
    except numpy_stage.BadFrame as exc:
        sys.exit(f"{PROG}: FAILED: {exc}")
    except shmlib.Error as exc:
        sys.exit(f"{PROG}: FAILED: {exc}")
    secs = time.monotonic() - t0
    mib = nbytes / 2**20
    print(f"{PROG}: {args.frames} frames, {mib:.1f} MiB, every CRC-32 right, in order, "
          f"in {secs:.2f} s = {mib / secs if secs > 0 else 0:.0f} MiB/s", file=sys.stderr)


if __name__ == "__main__":
    main()
