#!/usr/bin/env bash
# scripts/demo_broadcast.sh - `make demo-broadcast`: one producer, two
# subscribers in two languages, over one broadcast channel:
#
#                      +--> bcast_frames checksum (C): every frame's hash and order
#   bcast_frames (C) --+
#     produce          +--> bcast_stats.py (numpy): every frame's mean brightness
#
# The producer renders each frame ONCE, in place, in the segment; both
# subscribers read those same bytes (the C one hashes them, the Python one
# maps them as a numpy array), each at its own pace, and the lossless
# channel makes the producer wait for the slower. DEMO_FRAMES (default 256)
# and DEMO_FRAME_BYTES (default 1 MiB) change the stream. Whatever fails,
# or on Ctrl-C, the EXIT trap stops the subscribers and destroys the channel.
set -uo pipefail

cd "$(dirname "$0")/.." || exit 1
BIN=build/c
PYTHON=${PYTHON:-python3}
FRAMES=${DEMO_FRAMES:-256}
BYTES=${DEMO_FRAME_BYTES:-1048576}
KEY="posix:/libshm-demo-bcast-$$"
tmp=$(mktemp -d)
pids=()

cleanup() {
    local pid
    for pid in "${pids[@]}"; do
        kill -KILL "$pid" 2>/dev/null
    done
    "$BIN/shm_destroy" "$KEY" >/dev/null 2>&1 || rm -f "/dev/shm/${KEY#posix:/}"
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$BIN/bcast_frames" create "$KEY" 2 || exit 1
echo "demo: broadcast channel $KEY, 2 subscriber slots, lossless"

"$BIN/bcast_frames" checksum "$KEY" "$FRAMES" >"$tmp/c.log" 2>&1 &
pids+=($!)
PYTHONPATH=bindings/python "$PYTHON" bindings/python/examples/bcast_stats.py "$KEY" "$FRAMES" >"$tmp/py.log" 2>&1 &
pids+=($!)

# A subscriber starts at the next message: start the producer once both joined.
for _ in $(seq 100); do
    grep -q joined "$tmp/c.log" && grep -q joined "$tmp/py.log" && break
    sleep 0.1
done
if ! grep -q joined "$tmp/c.log" || ! grep -q joined "$tmp/py.log"; then
    cat "$tmp/c.log" "$tmp/py.log"
    echo "demo: a subscriber did not join"
    exit 1
fi

"$BIN/bcast_frames" produce "$KEY" "$FRAMES" "$BYTES" || exit 1
status=0
for pid in "${pids[@]}"; do
    wait "$pid" || status=1
done
pids=()
cat "$tmp/c.log" "$tmp/py.log"
if [[ $status -ne 0 ]]; then
    echo "demo: a subscriber failed"
    exit 1
fi
echo "demo: every frame written once, read in place by both subscribers"
