#!/usr/bin/env bash
# scripts/demo.sh - `make demo`: what libshm is for, in two parts.
#
# Part 1, the lifecycle, on a System V segment, by separate C processes:
#   1. create   shm_create makes a segment (libshm chooses the key), fills
#               it, prints the key and stays attached
#   2. attach   shm_read, given only the key, attaches, verifies, replies
#   3. detach   shm_create sees the reply and detaches; the segment stays
#   4. destroy  shm_destroy removes it
#   5. check    attaching the key again fails with "no such segment"
# After each stage it shows what the kernel itself lists (ipcs -m).
#
# Part 2, the pipeline: a stream of frames through three processes in two
# languages, over two channels (POSIX segments, files in /dev/shm):
#
#   frame_producer (C) --raw--> numpy_stage.py (numpy) --equalised--> frame_consumer (C)
#
# The producer renders each frame in place in the first channel; the Python
# stage maps it as a numpy array and equalises its histogram straight into
# the second channel; the consumer checks every frame's checksum and order,
# and recomputes the equalisation of some. Then the same three programs do
# the same work over pipes (--pipe), and the demo compares the two runs.
# DEMO_FRAMES (default 256) and DEMO_SIZE (default 1024x1024, 1 MiB a
# frame) change the stream: `make demo DEMO_FRAMES=1000`.
#
# Whatever fails, or on Ctrl-C, the EXIT trap stops every process the demo
# started, destroys every segment and channel it made (through libshm, or
# with rm / ipcrm if the library cannot) and the script exits nonzero. A
# stage that stalls fails the channel run: every wait on a channel gives up
# after 10 s. Pipes have no such timeout; Ctrl-C ends that run cleanly.
set -uo pipefail

cd "$(dirname "$0")/.." || exit 1
BIN=build/c
STAGE=bindings/python/examples/numpy_stage.py
PYTHON=${PYTHON:-python3}
FRAMES=${DEMO_FRAMES:-256}
GEOMETRY=${DEMO_SIZE:-1024x1024}
TIMEOUT=10        # seconds any one step may take before the demo gives up

# The programs narrate on stderr and stdout; one stream keeps their lines in
# the order they happened, also when the output goes to a pipe or a file.
exec 2>&1

live_keys=()      # segments made and not yet destroyed
pids=()           # processes running in the background
tmp=$(mktemp -d)

# Removes a segment without libshm, for when the library itself fails.
remove_raw() {
    case $1 in
        posix:/*)   rm -f -- "/dev/shm/${1#posix:/}" ;;
        sysv:key=*) ipcrm -M "${1#sysv:key=}" ;;
        sysv:id=*)  ipcrm -m "${1#sysv:id=}" ;;
    esac
}

# Destroys a segment the demo made; quiet unless something is odd.
destroy_quietly() {
    local out
    if out=$("$BIN/shm_destroy" "$1" 2>&1); then
        echo "cleanup: destroyed $1"
    elif [[ $out == *"no such segment"* ]]; then
        :   # never created, or gone already
    elif remove_raw "$1"; then
        echo "cleanup: removed $1 without libshm"
    else
        echo "cleanup: could not remove $1; please remove it by hand"
    fi
}

# Stops the processes the demo runs in the background. SIGKILL: none of
# them has anything to tidy up (the channels are destroyed after), and a
# child caught between fork and exec, still a copy of this shell, would run
# this shell's traps on a catchable signal.
stop_all() {
    local pid
    for pid in "${pids[@]}"; do
        kill -KILL "$pid" 2>/dev/null
    done
    for pid in "${pids[@]}"; do
        wait "$pid" 2>/dev/null
    done
    pids=()
}

cleanup() {
    local status=$? key
    # A child interrupted between fork and exec is still a copy of this
    # shell, with its traps: only the script itself cleans up.
    [[ $BASHPID == "$$" ]] || exit "$status"
    stop_all
    for key in "${live_keys[@]}"; do
        destroy_quietly "$key"
    done
    rm -rf -- "$tmp"
    if (( status == 130 )); then
        echo
        echo "demo interrupted"
    elif (( status != 0 )); then
        echo
        echo "demo FAILED (exit status $status)"
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM        # run the EXIT trap on Ctrl-C too

fail() {
    echo "FAILED: $*"
    exit 1
}
part()  { printf '\n=== %s ===\n' "$*"; }
stage() { printf '\n-- %s\n' "$*"; }
run()   { printf '   $ %s\n' "$*" >&2; timeout "$TIMEOUT" "$@"; }
forget_key() {
    local key=$1 i
    for i in "${!live_keys[@]}"; do
        [[ ${live_keys[i]} == "$key" ]] && unset 'live_keys[i]'
    done
}

# What the kernel lists for a key, with no libshm involved.
kernel_view() {
    local key=$1 line
    case $key in
        posix:/*)
            local file=/dev/shm/${key#posix:/}
            if [[ -e $file ]]; then
                echo "   kernel: $(ls -l -- "$file")"
            else
                echo "   kernel: $file does not exist"
            fi ;;
        sysv:key=*)
            line=$(ipcs -m | awk -v k="${key#sysv:key=}" '$1 == k' | sed 's/ *$//')
            if [[ -n $line ]]; then
                echo "   kernel: ipcs -m lists it:"
                echo "           $(ipcs -m | grep '^key' | sed 's/ *$//')"
                echo "           $line"
            else
                echo "   kernel: ipcs -m does not list key ${key#sysv:key=}"
            fi ;;
    esac
}

# ------------------------------------------------------------------ part 1

lifecycle() {
    local key line out to_creator from_creator creator_pid
    part "1. The lifecycle: separate C processes share one System V segment"

    stage "create: shm_create makes a 1M segment; libshm chooses the key"
    # shm_create runs in the background, attached, until it reads a line.
    # Two FIFOs carry its stdout (the key, then "ready") and that line.
    mkfifo "$tmp/in" "$tmp/out"
    printf '   $ %s &\n' "$BIN/shm_create -w -s 1M sysv:"
    "$BIN/shm_create" -w -s 1M sysv: <"$tmp/in" >"$tmp/out" &
    creator_pid=$!
    pids+=("$creator_pid")
    exec {to_creator}<>"$tmp/in" {from_creator}<"$tmp/out"
    read -r -t "$TIMEOUT" key <&"$from_creator" || fail "shm_create printed no key"
    live_keys+=("$key")
    read -r -t "$TIMEOUT" line <&"$from_creator"
    [[ $line == ready ]] || fail "shm_create did not fill the segment"
    echo "   the key is $key: any process that is given this string can attach"
    kernel_view "$key"

    stage "attach: a second process attaches by the key alone, reads and verifies"
    run "$BIN/shm_read" "$key" || fail "shm_read could not attach or verify $key"

    stage "detach: shm_create detaches; detaching never destroys"
    echo >&"$to_creator"
    local tenths=0
    while kill -0 "$creator_pid" 2>/dev/null && (( tenths++ < TIMEOUT * 10 )); do
        sleep 0.1
    done
    kill -0 "$creator_pid" 2>/dev/null && fail "shm_create did not detach within $TIMEOUT s"
    wait "$creator_pid" || fail "shm_create failed"
    pids=()           # it has exited
    exec {to_creator}>&- {from_creator}<&-
    kernel_view "$key"

    stage "destroy: shm_destroy removes the segment"
    run "$BIN/shm_destroy" "$key" || fail "shm_destroy could not destroy $key"
    forget_key "$key"
    kernel_view "$key"

    stage "attach after destroy: must fail with \"no such segment\""
    if out=$(run "$BIN/shm_read" "$key" 2>&1); then
        echo "$out"
        fail "attaching $key still worked after destroy"
    fi
    echo "$out"
    [[ $out == *"no such segment"* ]] || fail "attach after destroy failed, but not with \"no such segment\""
    echo "   as expected"
}

# ------------------------------------------------------------------ part 2

# Waits until the Python stage has created its ready file: it has imported
# numpy and opened its ends. The producer starts only then, so that the
# clocks measure the stream, not Python's start-up. $1, if given, is the
# stage's pid: if it exits meanwhile, there is no point in waiting.
wait_ready() {
    local tries=0
    until [[ -e $tmp/ready ]]; do
        if [[ -n ${1-} ]] && ! kill -0 "$1" 2>/dev/null; then
            echo "numpy_stage exited before it was ready"
            return 1
        fi
        if (( tries++ >= TIMEOUT * 50 )); then
            echo "numpy_stage was not ready within $TIMEOUT s"
            return 1
        fi
        sleep 0.02
    done
}

# Prints each stage's summary line, names aligned, then the run's total:
# from the producer's start ($1) to the end of the stream, the consumer's
# exit ($2), and the CPU time the stages reported, added up. Leaves the two
# in run_secs and run_cpu.
show_run() {
    local name
    for name in producer stage consumer; do
        awk '{ i = index($0, ": "); printf "   %-15s %s\n", substr($0, 1, i), substr($0, i + 2) }' \
            "$tmp/$name.log"
    done
    run_secs=$(awk -v t0="$1" -v t1="$2" 'BEGIN { printf "%.3f", t1 - t0 }')
    run_cpu=$(cat "$tmp/producer.log" "$tmp/stage.log" "$tmp/consumer.log" |
        sed -n 's/.*, cpu \([0-9.]*\) s$/\1/p' | awk '{ s += $1 } END { printf "%.2f", s }')
    awk -v n="$FRAMES" -v mib="$MIB" -v secs="$run_secs" -v cpu="$run_cpu" 'BEGIN {
        printf "   %-15s %d frames, %.1f MiB in %.2f s = %.0f MiB/s, cpu %.2f s in all\n",
               "end to end:", n, mib, secs, mib / secs, cpu }'
}

# Stops what still runs of a failed run, shows what each stage said, and
# fails.
run_failed() {
    local name
    stop_all
    for name in producer stage consumer; do
        sed 's/^/   /' "$tmp/$name.log"
    done
    fail "$*"
}

# The three stages over the two channels, each a process of its own; the
# consumer and the stage first, the producer once the stage is ready.
run_channels() {
    local raw=$1 equalised=$2 t0 t1 consumer stage producer
    rm -f "$tmp/ready"
    printf '   $ %s &\n' "$BIN/frame_consumer -n $FRAMES -s $GEOMETRY $equalised" \
                         "$PYTHON $STAGE $raw $equalised"
    printf '   $ %s\n' "$BIN/frame_producer -n $FRAMES -s $GEOMETRY $raw"
    : >"$tmp/producer.log"
    "$BIN/frame_consumer" -n "$FRAMES" -s "$GEOMETRY" "$equalised" 2>"$tmp/consumer.log" &
    consumer=$!
    "$PYTHON" "$STAGE" "$raw" "$equalised" --ready "$tmp/ready" 2>"$tmp/stage.log" &
    stage=$!
    pids+=("$consumer" "$stage")
    wait_ready "$stage" || run_failed "the pipeline did not start"
    t0=$EPOCHREALTIME
    "$BIN/frame_producer" -n "$FRAMES" -s "$GEOMETRY" "$raw" 2>"$tmp/producer.log" &
    producer=$!
    pids+=("$producer")
    # The consumer finishes last, and fails if anything before it failed: a
    # stream that ends early, or stalls for 10 s, fails it. So wait for it,
    # then collect the others (run_failed stops them if they still run).
    wait "$consumer" || run_failed "frame_consumer failed (exit status $?)"
    t1=$EPOCHREALTIME
    wait "$stage" || run_failed "numpy_stage failed (exit status $?)"
    wait "$producer" || run_failed "frame_producer failed (exit status $?)"
    pids=()
    show_run "$t0" "$t1"
}

# The same three programs joined by pipes: | makes the pipes, and each
# stage reads and writes them with --pipe. The producer starts once the
# stage is ready, as above.
run_pipes() {
    local t0 t1 statuses
    rm -f "$tmp/ready"
    printf '   $ %s \\\n       | %s \\\n       | %s\n' \
        "$BIN/frame_producer --pipe -n $FRAMES -s $GEOMETRY" \
        "$PYTHON $STAGE --pipe" \
        "$BIN/frame_consumer --pipe -n $FRAMES -s $GEOMETRY"
    { wait_ready && echo "$EPOCHREALTIME" >"$tmp/t0" &&
          exec "$BIN/frame_producer" --pipe -n "$FRAMES" -s "$GEOMETRY"; } 2>"$tmp/producer.log" \
        | "$PYTHON" "$STAGE" --pipe --ready "$tmp/ready" 2>"$tmp/stage.log" \
        | "$BIN/frame_consumer" --pipe -n "$FRAMES" -s "$GEOMETRY" 2>"$tmp/consumer.log"
    statuses=("${PIPESTATUS[@]}")
    t1=$EPOCHREALTIME
    [[ ${statuses[*]} == "0 0 0" ]] ||
        run_failed "exit statuses: frame_producer ${statuses[0]}," \
                   "numpy_stage ${statuses[1]}, frame_consumer ${statuses[2]}"
    t0=$(<"$tmp/t0")
    show_run "$t0" "$t1"
}

pipeline() {
    local width=${GEOMETRY%x*} height=${GEOMETRY#*x} raw equalised
    local shm_secs pipe_secs shm_cpu pipe_cpu
    part "2. A pipeline: C -> Python/numpy -> C, $FRAMES frames of $GEOMETRY pixels"

    # Each channel has room for 4 frames (a frame is a 32-byte header and
    # the pixels; a message costs 16 bytes more): the producer can run
    # ahead of the stage, and the stage of the consumer, by that much. Our
    # own names, so that the trap knows them even if it strikes while
    # chan_create is running.
    local capacity=$(( 4 * (width * height + 48) ))
    raw=posix:/shmlib-demo-$$-raw
    equalised=posix:/shmlib-demo-$$-equalised
    stage "channels: chan_create makes two, each with room for 4 frames"
    live_keys+=("$raw" "$equalised")
    run "$BIN/chan_create" "$capacity" "$raw" || fail "chan_create $raw failed"
    run "$BIN/chan_create" "$capacity" "$equalised" || fail "chan_create $equalised failed"
    kernel_view "$raw"
    kernel_view "$equalised"

    stage "through shared memory: each frame is written and read in place, never copied"
    run_channels "$raw" "$equalised"
    shm_secs=$run_secs shm_cpu=$run_cpu

    stage "through pipes: the same programs and work; each frame is copied in and out of two pipes"
    run_pipes
    pipe_secs=$run_secs pipe_cpu=$run_cpu

    stage "destroy: shm_destroy removes both channels"
    run "$BIN/shm_destroy" "$raw" "$equalised" || fail "shm_destroy failed"
    forget_key "$raw"
    forget_key "$equalised"
    kernel_view "$raw"
    kernel_view "$equalised"

    # Pipes copy every frame four times: into and out of each of the two.
    echo
    awk -v shm="$shm_secs" -v pipe="$pipe_secs" -v shm_cpu="$shm_cpu" -v pipe_cpu="$pipe_cpu" \
        -v mib="$MIB" 'BEGIN {
        cpu = pipe_cpu - shm_cpu
        printf "verdict: shared memory %.1fx as fast as pipes (%.0f vs %.0f MiB/s),", pipe / shm,
               mib / shm, mib / pipe
        printf " %.2f s %s CPU, 0 copies of each frame instead of 4\n",
               cpu < 0 ? -cpu : cpu, cpu < 0 ? "more" : "less" }'
}

[[ $FRAMES =~ ^[1-9][0-9]*$ ]] || fail "DEMO_FRAMES=$FRAMES: give a number of frames"
[[ $GEOMETRY =~ ^[1-9][0-9]*x[1-9][0-9]*$ ]] ||
    fail "DEMO_SIZE=$GEOMETRY: give WIDTHxHEIGHT, e.g. 1024x1024"
for prog in shm_create shm_read shm_destroy chan_create frame_producer frame_consumer; do
    [[ -x $BIN/$prog ]] || fail "$BIN/$prog is missing: run 'make demo'"
done
if ! "$PYTHON" -c 'import numpy' 2>/dev/null; then
    echo "The demo's Python stage needs numpy, and $PYTHON cannot import it. Install it with"
    echo
    echo "    pip install numpy"
    echo
    echo "(or pip install -r requirements-dev.txt, which has it), then run make demo again."
    exit 1
fi
# The Python stage uses the shmlib package of this tree, on the library the
# C programs use.
export PYTHONPATH=$PWD/bindings/python${PYTHONPATH:+:$PYTHONPATH}
export SHMLIB_LIBRARY=$PWD/build/libshm.so
MIB=$(awk -v n="$FRAMES" -v g="$GEOMETRY" \
    'BEGIN { split(g, d, "x"); print n * d[1] * d[2] / 1048576 }')

echo "libshm demo: processes in C and Python share memory"
lifecycle
pipeline
