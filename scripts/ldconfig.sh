#!/usr/bin/env bash
# ldconfig.sh LIBDIR - after `make install`: make the installed libshm.so.0
# findable by programs linked with -lshm.
#
# When the dynamic loader searches LIBDIR (/usr/local/lib on Debian, and
# any directory of /etc/ld.so.conf), ldconfig updates its cache, without
# which a new library there is not found until the next ldconfig. For any
# other directory no cache helps: this says what a program needs instead
# (README, "Installing the C library").
set -uo pipefail

if [ $# -ne 1 ]; then
    echo "usage: $0 LIBDIR" >&2
    exit 2
fi
libdir=$(realpath -m "$1")

searched=0
if command -v ldconfig >/dev/null 2>&1; then
    # -N -v: list the directories it would scan ("DIR: ..."), change nothing.
    while IFS= read -r dir; do
        [ "$(realpath -m "$dir")" = "$libdir" ] && searched=1
    done < <(ldconfig -N -v 2>/dev/null | sed -n 's|^\(/[^:]*\):.*|\1|p')
fi

if [ $searched = 1 ]; then
    echo "ldconfig    # $1 is a directory the loader searches"
    if ! ldconfig; then
        echo "ldconfig failed: run it as root, or programs will not find libshm.so.0 in $1" >&2
        exit 1
    fi
else
    cat <<MSG
$1 is not a directory the dynamic loader searches. To build and run against it:
  export PKG_CONFIG_PATH=$1/pkgconfig
  cc app.c \$(pkg-config --cflags --libs shmlib) -Wl,-rpath,\$(pkg-config --variable=libdir shmlib) -o app
(or run programs with LD_LIBRARY_PATH=$1)
MSG
fi
