#!/usr/bin/env bash
# leakcheck.sh - find shared memory segments that a test run left behind.
#
#   leakcheck.sh snapshot FILE   record every segment that exists now
#   leakcheck.sh compare FILE    fail (exit 1) if a segment exists now that
#                                was not there at the snapshot, listing each
#                                one by its libshm key
#
# A segment is either a name in /dev/shm (POSIX) or an entry of
# /proc/sysvipc/shm (System V), identified there by its key and shmid
# together: a key that is removed and created again gets a new shmid, and
# IPC_PRIVATE segments all share key 0.
#
# A System V segment that was destroyed but is still attached somewhere also
# counts: it means a process of the run is still alive and holds its memory.
#
# This judges every segment, so it is meant for a run with a /dev/shm and a
# System V table of its own (scripts/isolate.sh sets SHMLIB_TEST_ISOLATED=1).
# Without one, other programs' segments come and go meanwhile and nothing
# tells them from the run's: compare then only lists what appeared, and
# fails nothing; each test suite's own check judges the segments it made.
set -euo pipefail

SHM_DIR=${LEAKCHECK_SHM_DIR:-/dev/shm}
SYSV_TABLE=${LEAKCHECK_SYSV_TABLE:-/proc/sysvipc/shm}

usage() {
    echo "usage: $0 snapshot FILE | compare FILE" >&2
    exit 2
}

# One line per segment, sorted, in a form that both identifies it and reads
# as a libshm key:
#   posix:/NAME
#   sysv:key=0x%08x shmid=N ...    (a segment with an IPC key)
#   sysv:id=N ...                  (IPC_PRIVATE, or destroyed: key 0)
# Only the first word plus the shmid decide identity; the rest is detail for
# the report.
segments() {
    local name
    # Names with a newline would split into two lines; /dev/shm names come
    # from shm_open(), where nobody uses them, so that is acceptable here.
    if [ -d "$SHM_DIR" ]; then
        find "$SHM_DIR" -mindepth 1 -maxdepth 1 -printf '%f\n' | while IFS= read -r name; do
            printf 'posix:/%s\n' "$name"
        done
    fi
    if [ -r "$SYSV_TABLE" ]; then
        # Columns: key shmid perms size cpid lpid nattch uid ...
        # The key is printed as a signed 32-bit decimal; perms in octal, with
        # SHM_DEST (01000) set once the segment was destroyed.
        local key shmid perms size cpid lpid nattch rest state
        while read -r key shmid perms size cpid lpid nattch rest; do
            state=""
            if (( (8#$perms & 8#1000) != 0 )); then
                state="; destroyed, but a process still has it attached"
            fi
            if (( key == 0 )); then
                printf 'sysv:id=%s (size %s, creator pid %s, last pid %s, %s attached%s)\n' \
                    "$shmid" "$size" "$cpid" "$lpid" "$nattch" "$state"
            else
                printf 'sysv:key=0x%08x shmid=%s (size %s, creator pid %s, last pid %s, %s attached%s)\n' \
                    $(( key & 0xffffffff )) "$shmid" "$size" "$cpid" "$lpid" "$nattch" "$state"
            fi
        done < <(tail -n +2 "$SYSV_TABLE")
    fi
}

# The identity of a segment line: "posix:/NAME", "sysv:key=0x.. shmid=N" or
# "sysv:id=N".
identities() {
    sed -E 's/^(sysv:key=0x[0-9a-f]{8} shmid=[0-9]+|sysv:id=[0-9]+) .*/\1/'
}

[ $# -eq 2 ] || usage
cmd=$1
file=$2

case $cmd in
snapshot)
    segments | identities | LC_ALL=C sort -u > "$file"
    ;;
compare)
    if [ ! -r "$file" ]; then
        echo "leakcheck: no snapshot $file (run '$0 snapshot $file' first)" >&2
        exit 2
    fi
    now=$(segments)
    leaked=()
    while IFS= read -r line; do
        [ -n "$line" ] || continue
        id=$(printf '%s\n' "$line" | identities)
        if ! grep -qxF -- "$id" "$file"; then
            leaked+=("$line")
        fi
    done <<< "$now"
    if [ ${#leaked[@]} -gt 0 ] && [ "${SHMLIB_TEST_ISOLATED:-}" != 1 ]; then
        echo "leakcheck: /dev/shm is shared with other programs, whose segments cannot be told from" \
            "this run's: not judging these ${#leaked[@]} that appeared meanwhile (each suite judged its own):"
        printf '  new %s\n' "${leaked[@]}"
        exit 0
    fi
    if [ ${#leaked[@]} -gt 0 ]; then
        echo "leakcheck: FAIL: ${#leaked[@]} shared memory segment(s) appeared since the snapshot and are still there:"
        for line in "${leaked[@]}"; do
            echo "  leaked $line"
        done
        echo "leakcheck: remove them with 'rm /dev/shm/NAME' or 'ipcrm -m SHMID' once you know where they came from"
        exit 1
    fi
    echo "leakcheck: OK, no shared memory segment left behind since the snapshot"
    ;;
*)
    usage
    ;;
esac
