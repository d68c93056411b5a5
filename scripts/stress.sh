#!/usr/bin/env bash
# stress.sh - build and run libshm's stress and adversarial tests
# (bindings/c/stress/): fork storms, thread storms, kill -9 at random
# moments, and a million random and hostile calls.
#
#   scripts/stress.sh [--quick] [--seed N] [PROGRAM...]
#
# PROGRAM is any of: threads fork killer adversarial signals fork_stress.py (default:
# all, in that order). --quick runs the short variants that `make test` runs
# (about ten seconds in all); --seed gives killer and adversarial a seed, to
# replay a run (each prints the seed it used). Each program prints its own
# "N passed, N failed" line and fails on its own; this script fails if any
# did, and says how long each took.
#
# The C programs are built into build/stress/ with the flags the Makefile
# uses for tests, when missing or older than their sources. As root, every
# program runs in private IPC and mount namespaces with a private tmpfs on
# /dev/shm, so that nothing it makes can reach another program or outlive
# it; each one checks for leaks itself before its namespace goes away.
set -uo pipefail

cd "$(dirname "$0")/.." || exit 2
BUILD=${BUILD:-build}
CC=${CC:-cc}
CFLAGS=${CFLAGS:--O2 -g}
PYTHON=${PYTHON:-python3}
ALL=(threads fork killer adversarial signals fork_stress.py)

quick=()
seed=()
programs=()
while [ $# -gt 0 ]; do
    case $1 in
    --quick) quick=(--quick) ;;
    --seed) seed=(--seed "$2"); shift ;;
    -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    threads|fork|killer|adversarial|signals|fork_stress.py) programs+=("$1") ;;
    *) echo "stress.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
    shift
done
[ ${#programs[@]} -gt 0 ] || programs=("${ALL[@]}")

if [ ! -e "$BUILD/libshm.so" ]; then
    ${MAKE:-make} --no-print-directory lib || exit 1
fi

# Build what is missing or stale.
mkdir -p "$BUILD/stress"
for p in "${programs[@]}"; do
    case $p in *.py) continue ;; esac
    src=bindings/c/stress/$p.c bin=$BUILD/stress/$p
    stale=0
    for dep in "$src" bindings/c/stress/stress.h bindings/c/tests/*.h include/shmlib.h "$BUILD/libshm.so"; do
        [ "$dep" -nt "$bin" ] && stale=1
    done
    if [ ! -x "$bin" ] || [ $stale = 1 ]; then
        # shellcheck disable=SC2086 # CFLAGS is a list of flags
        $CC $CFLAGS -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Iinclude -o "$bin" "$src" \
            -L"$BUILD" -lshm -Wl,-rpath,"$(cd "$BUILD" && pwd)" -lpthread || exit 1
    fi
done

# Runs a program in the foreground and records its pid in $pidfile: the
# stress programs name their segments libshm-stress-WHAT-PID..., which is
# how the check below finds theirs and no one else's.
pidfile=$(mktemp)
trap 'rm -f "$pidfile"' EXIT
run() {
    # shellcheck disable=SC2016 # expanded by the inner shell
    "${BASH:-bash}" -c 'echo $$ > "$0"; exec "$@"' "$pidfile" "$@"
}

results=()
failed=0
pids=()
for p in "${programs[@]}"; do
    echo "== $p ${quick[*]-}"
    start=$(date +%s%N)
    case $p in
    fork_stress.py)
        PYTHONPATH=bindings/python${PYTHONPATH:+:$PYTHONPATH} run "$PYTHON" bindings/c/stress/fork_stress.py ${quick[@]+"${quick[@]}"}
        ;;
    killer|adversarial)
        run "$BUILD/stress/$p" ${quick[@]+"${quick[@]}"} ${seed[@]+"${seed[@]}"}
        ;;
    *)
        run "$BUILD/stress/$p" ${quick[@]+"${quick[@]}"}
        ;;
    esac
    rc=$?
    pids+=("$(cat "$pidfile")")
    secs=$(awk -v a="$start" -v b="$(date +%s%N)" 'BEGIN { printf "%.1f", (b - a) / 1e9 }')
    if [ $rc -eq 0 ]; then
        results+=("$(printf '  %-16s ok      %7s s' "$p" "$secs")")
    else
        results+=("$(printf '  %-16s FAILED  %7s s  (exit %d)' "$p" "$secs" "$rc")")
        failed=$((failed + 1))
    fi
done

# Nothing of these programs may be left on the machine (each checks its own
# run; this catches one that died before it could). Names of other programs,
# other checkouts' stress runs included, are not ours to judge or remove.
left=()
for pid in "${pids[@]}"; do
    [ -n "$pid" ] || continue
    mapfile -t -O "${#left[@]}" left < <(find /dev/shm -maxdepth 1 \
        \( -name "libshm-stress-*-$pid" -o -name "libshm-stress-*-$pid[!0-9]*" \) -printf '%f\n' 2>/dev/null)
done
if [ ${#left[@]} -gt 0 ]; then
    echo "stress.sh: POSIX segments left behind (removed):"
    printf '  %s\n' "${left[@]}"
    (cd /dev/shm && rm -f -- "${left[@]}")
    failed=$((failed + 1))
fi

echo "== stress summary"
printf '%s\n' "${results[@]}"
if [ $failed -ne 0 ]; then
    echo "stress.sh: $failed failed"
    exit 1
fi
echo "stress.sh: all passed"
