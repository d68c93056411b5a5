#!/usr/bin/env bash
# scripts/demo-bridge.sh - `make demo-bridge`: a pipeline that spans two
# hosts, played on one machine.
#
#   host A:  frame_producer (C) --channel--> shmlib-bridge out --+
#                                                                 |  NATS (JetStream)
#   host B:  frame_check.py (Python) <--channel-- shmlib-bridge in <+
#
# The C producer and the Python consumer are the same kind of programs as
# in `make demo`: each only knows its local channel. Two bridges, one per
# "host", carry the frames between the channels over a NATS server
# (shmlib-natsd, nats-server embedded, on 127.0.0.1 only, JetStream in a
# temporary directory). A 1 MiB frame and its header are more than NATS's
# default max_payload, so each frame travels in two parts. The consumer
# checks every frame's header, order and CRC-32; the producer closing its
# channel reaches it as the end of the stream, through both bridges.
#
# DEMO_FRAMES (default 64) and DEMO_SIZE (default 1024x1024) change the
# stream. Whatever fails, or on Ctrl-C, the EXIT trap stops every process
# the demo started, destroys both channels, removes its temporary directory
# and the script exits nonzero.
set -uo pipefail

cd "$(dirname "$0")/.." || exit 1
BIN=build/c
BRIDGE_BIN=build/bridge
CHECK=bridge/demo/frame_check.py
PYTHON=${PYTHON:-python3}
FRAMES=${DEMO_FRAMES:-64}
GEOMETRY=${DEMO_SIZE:-1024x1024}
TIMEOUT=30        # seconds any one step may take before the demo gives up
SUBJECT=demo.frames

exec 2>&1
pids=()
live_keys=()
tmp=$(mktemp -d)

cleanup() {
    local status=$? pid key
    [[ $BASHPID == "$$" ]] || exit "$status"
    # SIGTERM first: the bridges and the server shut down cleanly on it.
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null; done
    for pid in "${pids[@]}"; do
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    done
    for key in "${live_keys[@]}"; do
        "$BIN/shm_destroy" "$key" >/dev/null 2>&1 || rm -f -- "/dev/shm/${key#posix:/}"
    done
    rm -rf -- "$tmp"
    if (( status == 130 )); then
        echo; echo "demo-bridge interrupted"
    elif (( status != 0 )); then
        echo; echo "demo-bridge FAILED (exit status $status)"
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() {
    echo "FAILED: $*"
    local f
    for f in "$tmp"/*.log; do
        [[ -e $f ]] || continue
        echo "-- ${f##*/}"
        sed 's/^/   /' "$f"
    done
    exit 1
}
stage() { printf '\n-- %s\n' "$*"; }

# Waits until the file $1 exists; $2 is the pid that should create it.
wait_file() {
    local tries=0
    until [[ -e $1 ]]; do
        kill -0 "$2" 2>/dev/null || return 1
        (( tries++ >= TIMEOUT * 50 )) && return 1
        sleep 0.02
    done
}

[[ $FRAMES =~ ^[1-9][0-9]*$ ]] || fail "DEMO_FRAMES=$FRAMES: give a number of frames"
[[ $GEOMETRY =~ ^[1-9][0-9]*x[1-9][0-9]*$ ]] || fail "DEMO_SIZE=$GEOMETRY: give WIDTHxHEIGHT"
for prog in $BIN/chan_create $BIN/shm_destroy $BIN/frame_producer $BRIDGE_BIN/shmlib-bridge $BRIDGE_BIN/shmlib-natsd; do
    [[ -x $prog ]] || fail "$prog is missing: run 'make demo-bridge'"
done
"$PYTHON" -c 'import numpy' 2>/dev/null ||
    fail "$PYTHON cannot import numpy, which the frame checks use: pip install numpy"
export PYTHONPATH=$PWD/bindings/python${PYTHONPATH:+:$PYTHONPATH}
export SHMLIB_LIBRARY=$PWD/build/libshm.so
width=${GEOMETRY%x*} height=${GEOMETRY#*x}

echo "libshm demo-bridge: C -> channel -> NATS -> channel -> Python, $FRAMES frames of $GEOMETRY"

stage "a NATS server with JetStream, on 127.0.0.1 (shmlib-natsd: nats-server embedded)"
"$BRIDGE_BIN/shmlib-natsd" --jetstream "$tmp/js" --url-file "$tmp/url" >/dev/null 2>"$tmp/natsd.log" &
pids+=($!)
wait_file "$tmp/url" "${pids[-1]}" || fail "the NATS server did not start"
url=$(<"$tmp/url")
echo "   $url"

stage "one channel on each \"host\", room for 4 frames each"
capacity=$(( 4 * (width * height + 48) ))
src=posix:/shmlib-demo-bridge-$$-hostA
dst=posix:/shmlib-demo-bridge-$$-hostB
live_keys+=("$src" "$dst")
"$BIN/chan_create" "$capacity" "$src" >/dev/null || fail "chan_create $src failed"
"$BIN/chan_create" "$capacity" "$dst" >/dev/null || fail "chan_create $dst failed"
echo "   host A: $src    host B: $dst"

stage "host B: the Python consumer and the in bridge"
printf '   $ %s &\n' "$PYTHON $CHECK $dst $FRAMES" \
    "shmlib-bridge in --jetstream --server $url $dst $SUBJECT"
"$PYTHON" "$CHECK" "$dst" "$FRAMES" --ready "$tmp/ready" 2>"$tmp/frame_check.log" &
checker=$!
pids+=("$checker")
"$BRIDGE_BIN/shmlib-bridge" in --jetstream --server "$url" "$dst" "$SUBJECT" 2>"$tmp/bridge-in.log" &
bridge_in=$!
pids+=("$bridge_in")
wait_file "$tmp/ready" "$checker" || fail "frame_check.py did not start"

stage "host A: the out bridge and the C producer"
printf '   $ %s &\n' "shmlib-bridge out --jetstream --server $url $src $SUBJECT"
"$BRIDGE_BIN/shmlib-bridge" out --jetstream --server "$url" "$src" "$SUBJECT" 2>"$tmp/bridge-out.log" &
bridge_out=$!
pids+=("$bridge_out")
printf '   $ %s\n' "$BIN/frame_producer -n $FRAMES -s $GEOMETRY $src"
t0=$EPOCHREALTIME
timeout "$TIMEOUT" "$BIN/frame_producer" -n "$FRAMES" -s "$GEOMETRY" "$src" 2>"$tmp/frame_producer.log" ||
    fail "frame_producer failed"

# The end of the stream travels: producer closes -> out bridge publishes
# the end -> in bridge closes its end -> the consumer sees the end.
wait "$checker" || fail "frame_check.py failed"
t1=$EPOCHREALTIME
wait "$bridge_out" || fail "the out bridge failed"
wait "$bridge_in" || fail "the in bridge failed"

stage "what each said"
for name in frame_producer bridge-out bridge-in frame_check; do
    sed "s/^/   /" "$tmp/$name.log"
done
awk -v n="$FRAMES" -v w="$width" -v h="$height" -v t0="$t0" -v t1="$t1" 'BEGIN {
    mib = n * w * h / 1048576; s = t1 - t0
    printf "\nend to end: %d frames, %.1f MiB in %.2f s = %.0f MiB/s, every CRC-32 checked on the far side\n",
           n, mib, s, mib / s }'
