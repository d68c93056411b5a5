#!/usr/bin/env bash
# scripts/demo.sh - `make demo`: separate C processes share a segment.
#
# For a POSIX object and then a System V segment:
#   1. create   shm_create makes a segment (libshm chooses the key), attaches
#               it, writes a greeting and a test pattern, prints the key and
#               stays attached
#   2. attach   shm_read, a second process that gets only the key on its
#               command line, attaches, verifies, writes a reply, detaches
#   3. detach   shm_create finds the reply in its own mapping and detaches;
#               the segment outlives both mappings
#   4. destroy  shm_destroy removes it
#   5. check    attaching the key again fails with "no such segment"
# After each stage it shows what the kernel itself lists (/dev/shm, ipcs -m).
#
# Whatever fails, the EXIT trap stops the creator, destroys every segment the
# demo made (through libshm, or with rm / ipcrm if the library cannot) and
# the script exits nonzero.
set -uo pipefail

cd "$(dirname "$0")/.." || exit 1
BIN=build/c
SIZE=1M
TIMEOUT=10        # seconds any one step may take before the demo gives up

# The programs narrate on stderr and stdout; one stream keeps their lines in
# the order they happened, also when the output goes to a pipe or a file.
exec 2>&1

live_key=         # the segment made and not yet destroyed
creator_pid=
fifo_dir=$(mktemp -d)

# Removes a segment without libshm, for when the library itself fails.
remove_raw() {
    case $1 in
        posix:/*)   rm -f -- "/dev/shm/${1#posix:/}" ;;
        sysv:key=*) ipcrm -M "${1#sysv:key=}" ;;
        sysv:id=*)  ipcrm -m "${1#sysv:id=}" ;;
    esac
}

cleanup() {
    local status=$?
    if [[ -n $creator_pid ]] && kill -0 "$creator_pid" 2>/dev/null; then
        kill "$creator_pid"
        wait "$creator_pid" 2>/dev/null
    fi
    if [[ -n $live_key ]]; then
        local out
        if out=$("$BIN/shm_destroy" "$live_key" 2>&1); then
            echo "cleanup: destroyed $live_key"
        elif [[ $out == *"no such segment"* ]]; then
            echo "cleanup: $live_key is gone already"
        elif remove_raw "$live_key"; then
            echo "cleanup: removed $live_key without libshm"
        else
            echo "cleanup: could not remove $live_key; please remove it by hand"
        fi
    fi
    rm -rf -- "$fifo_dir"
    if (( status != 0 )); then
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
stage() { printf '\n-- %s\n' "$*"; }
run()   { printf '   $ %s\n' "$*"; timeout "$TIMEOUT" "$@"; }

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

# One round of the lifecycle. $1: the key to create with ("posix:" or
# "sysv:", so that libshm chooses the name); $2: a title.
lifecycle() {
    local want=$1 key line out to_creator from_creator
    printf '\n=== %s ===\n' "$2"

    stage "1. create: shm_create makes a $SIZE segment; libshm chooses the key"
    # shm_create runs in the background, attached, until it reads a line.
    # Two FIFOs carry its stdout (the key, then "ready") and that line.
    rm -f "$fifo_dir/in" "$fifo_dir/out"
    mkfifo "$fifo_dir/in" "$fifo_dir/out"
    printf '   $ %s &\n' "$BIN/shm_create -w -s $SIZE $want"
    "$BIN/shm_create" -w -s "$SIZE" "$want" <"$fifo_dir/in" >"$fifo_dir/out" &
    creator_pid=$!
    exec {to_creator}<>"$fifo_dir/in" {from_creator}<"$fifo_dir/out"
    read -r -t "$TIMEOUT" key <&"$from_creator" || fail "shm_create printed no key"
    live_key=$key
    read -r -t "$TIMEOUT" line <&"$from_creator"
    [[ $line == ready ]] || fail "shm_create did not fill the segment"
    echo "   the key is $key: any process that is given this string can attach"
    kernel_view "$key"

    stage "2. attach: a second process attaches by the key alone, reads and verifies"
    run "$BIN/shm_read" "$key" || fail "shm_read could not attach or verify $key"

    stage "3. detach: shm_create detaches; detaching never destroys"
    echo >&"$to_creator"
    local tenths=0
    while kill -0 "$creator_pid" 2>/dev/null && (( tenths++ < TIMEOUT * 10 )); do
        sleep 0.1
    done
    kill -0 "$creator_pid" 2>/dev/null && fail "shm_create did not detach within $TIMEOUT s"
    wait "$creator_pid" || fail "shm_create failed"
    creator_pid=
    exec {to_creator}>&- {from_creator}<&-
    kernel_view "$key"

    stage "4. destroy: shm_destroy removes the segment"
    run "$BIN/shm_destroy" "$key" || fail "shm_destroy could not destroy $key"
    live_key=
    kernel_view "$key"

    stage "5. attach after destroy: must fail with \"no such segment\""
    if out=$(run "$BIN/shm_read" "$key" 2>&1); then
        echo "$out"
        fail "attaching $key still worked after destroy"
    fi
    echo "$out"
    [[ $out == *"no such segment"* ]] || fail "attach after destroy failed, but not with \"no such segment\""
    echo "   as expected"
}

for prog in shm_create shm_read shm_destroy; do
    [[ -x $BIN/$prog ]] || fail "$BIN/$prog is missing: run 'make demo'"
done
echo "libshm demo: separate C processes share one segment, stage by stage"

lifecycle posix: "POSIX shared memory: a file in /dev/shm"
lifecycle sysv:  "System V shared memory: a segment ipcs -m lists"

echo
echo "demo passed: for both kinds, a second process attached by key and saw the"
echo "first one's bytes; detach left the segment in place; destroy removed it."
