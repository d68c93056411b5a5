"""bcast_stats.py KEY FRAMES - a numpy subscriber of bcast_frames'
broadcast (scripts/demo_broadcast.sh): each frame's pixels as a numpy
array over the segment itself (no copy), its mean brightness, and the same
order and count checks as the C checksummer beside it."""

import sys
import time

import numpy

import shmlib


def main(key, frames):
    with shmlib.open_broadcast(key, "subscriber") as rx:
        print("numpy stats: joined", flush=True)
        count, means, start = 0, [], None
        while True:
            try:
                with rx.peek(timeout=10) as frame:
                    start = start or time.monotonic()
                    head = numpy.frombuffer(frame, dtype=numpy.uint64, count=2)
                    if head[0] != count:
                        sys.exit(f"numpy stats: frame {count} arrived as {head[0]}")
                    pixels = numpy.frombuffer(frame, dtype=numpy.uint8, offset=16)
                    means.append(float(pixels.mean()))
                    del head, pixels
            except shmlib.EndOfStream:
                break
            count += 1
        took = time.monotonic() - (start or time.monotonic())
    if count != frames:
        sys.exit(f"numpy stats: {count} frames, expected {frames}")
    print(f"numpy stats: {count} frames, mean brightness {min(means):.1f}..{max(means):.1f}, "
          f"{count / took if took else 0:.0f} frames/s", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
