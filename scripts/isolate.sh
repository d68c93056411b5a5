#!/usr/bin/env bash
# isolate.sh COMMAND [ARG...] - run COMMAND with a /dev/shm and a System V
# segment table of its own, so that a test run and the other programs on the
# machine (other checkouts' test runs included) neither see nor touch each
# other's segments.
#
# COMMAND runs in new mount and IPC namespaces with a fresh tmpfs on
# /dev/shm: as root directly; as another user inside a user namespace, when
# the kernel allows unprivileged ones, mapped back to that user so that the
# tests still run as who started them. Its environment then has
# SHMLIB_TEST_ISOLATED=1: every segment there is the run's own, and the leak
# checks may judge all of them. When neither works, COMMAND runs on the
# machine's /dev/shm with SHMLIB_TEST_ISOLATED=0 (after a note on stderr),
# and the leak checks and cleanups judge only the segments the run made
# (its names, its processes).
#
# Only the mount and IPC namespaces are new: the process tree, the network
# and the cgroups are the machine's, so tests may still make pid namespaces
# (unshare -p) and cgroups of their own as root.
set -euo pipefail

if [ $# -eq 0 ]; then
    echo "usage: $0 COMMAND [ARG...]" >&2
    exit 2
fi

# Already inside (make test called from a run that is isolated), or asked
# to share the machine's /dev/shm (SHMLIB_TEST_ISOLATED=0, to test that).
if [ "${SHMLIB_TEST_ISOLATED:-}" = 1 ] || [ "${SHMLIB_TEST_ISOLATED:-}" = 0 ]; then
    exec "$@"
fi

# mode=1777 is /dev/shm's own: every user may make segments there.
mount_shm='mount -t tmpfs -o mode=1777 libshm-test /dev/shm'

if [ "$(id -u)" = 0 ] && command -v unshare >/dev/null &&
    unshare -m -i --propagation private true 2>/dev/null; then
    # shellcheck disable=SC2016 # expanded by the inner shell
    exec env SHMLIB_TEST_ISOLATED=1 unshare -m -i --propagation private \
        sh -c "$mount_shm"' && exec "$@"' isolate "$@"
fi

# Unprivileged: be root of a user namespace long enough to mount, then a
# nested one maps us back to our own user and group.
uid=$(id -u) gid=$(id -g)
if command -v unshare >/dev/null &&
    unshare -r -m -i sh -c "$mount_shm && exec unshare -U --map-user=$uid --map-group=$gid true" 2>/dev/null; then
    # shellcheck disable=SC2016 # expanded by the inner shell
    exec env SHMLIB_TEST_ISOLATED=1 unshare -r -m -i --propagation private \
        sh -c "$mount_shm"' && exec unshare -U --map-user='"$uid"' --map-group='"$gid"' "$@"' isolate "$@"
fi

echo "isolate.sh: cannot make a private /dev/shm here (not root, no user namespaces):" \
    "the tests share the machine's and judge only the segments they make" >&2
exec env SHMLIB_TEST_ISOLATED=0 "$@"
