#!/usr/bin/env bash
# abicheck.sh LIB EXPORTS - does the shared library export exactly the
# functions of the export map, which tools/abigen generates from
# include/shmlib.h (make test-generate checks that it is current)?
#
# Fails (exit 1), listing each problem, if
#   - a shmlib_* function is exported but not in EXPORTS,
#   - a function listed in EXPORTS is not exported (or not as code),
#   - LIB exports any symbol that is not shmlib_* (the version script is
#     meant to hide the Go runtime and the internal entry points),
#   - the SONAME of LIB is not libshm.so.0.
# Exit 2 on usage errors or missing tools.
set -euo pipefail

EXPECTED_SONAME=libshm.so.0

if [ $# -ne 2 ]; then
    echo "usage: $0 LIB EXPORTS" >&2
    exit 2
fi
lib=$1
exports_map=$2
for f in "$lib" "$exports_map"; do
    if [ ! -r "$f" ]; then
        echo "abicheck: cannot read $f" >&2
        exit 2
    fi
done
for tool in nm readelf; do
    if ! command -v "$tool" >/dev/null; then
        echo "abicheck: $tool is needed" >&2
        exit 2
    fi
done

problems=0
problem() {
    echo "  $*"
    problems=$((problems + 1))
}

# --- the functions the export map lists ------------------------------------
# Its "global:" lines, "    shmlib_name;".
declared=$(sed -n 's/^[[:space:]]*\(shmlib_[a-z0-9_]*\);$/\1/p' "$exports_map" | LC_ALL=C sort -u)

if [ -z "$declared" ]; then
    echo "abicheck: found no shmlib_ functions in $exports_map" >&2
    exit 2
fi

# --- what the library exports ----------------------------------------------
# nm prints "ADDR TYPE NAME" (NAME may carry @VERSION or @@VERSION). A version
# script with a named node also defines that node as an absolute (A) symbol;
# it is the version's name, not an export, so it is skipped by matching the
# names readelf lists as version definitions.
version_nodes=$(readelf -V --wide "$lib" | sed -n 's/.*Flags: .*Name: \([^ ]*\).*/\1/p' | LC_ALL=C sort -u)

exports=$(nm -D --defined-only "$lib" | awk 'NF >= 3 { sub(/@.*/, "", $3); print $2, $3 }')

exported_shmlib=""
while read -r type name; do
    [ -n "$name" ] || continue
    if [ "$type" = A ] && grep -qxF -- "$name" <<< "$version_nodes"; then
        continue
    fi
    case $name in
    shmlib_*)
        exported_shmlib+="$name"$'\n'
        if [ "$type" != T ] && [ "$type" != i ]; then
            problem "exported $name is not a function (nm type $type)"
        fi
        ;;
    *)
        problem "exported but not shmlib_*: $name (nm type $type); the version script should hide it"
        ;;
    esac
done <<< "$exports"
exported_shmlib=$(printf '%s' "$exported_shmlib" | LC_ALL=C sort -u)

while read -r name; do
    [ -n "$name" ] || continue
    problem "exported but not declared in $exports_map: $name"
done < <(LC_ALL=C comm -13 <(printf '%s\n' "$declared") <(printf '%s\n' "$exported_shmlib"))

while read -r name; do
    [ -n "$name" ] || continue
    problem "declared in $exports_map but not exported: $name"
done < <(LC_ALL=C comm -23 <(printf '%s\n' "$declared") <(printf '%s\n' "$exported_shmlib"))

# --- SONAME -----------------------------------------------------------------
soname=$(readelf -d "$lib" | sed -n 's/.*Library soname: \[\(.*\)\].*/\1/p')
if [ "$soname" != "$EXPECTED_SONAME" ]; then
    problem "SONAME is '${soname:-none}', expected $EXPECTED_SONAME"
fi

count=$(printf '%s\n' "$declared" | grep -c .)
if [ "$problems" -ne 0 ]; then
    echo "abicheck: FAIL: $problems problem(s) above in $lib against $exports_map"
    exit 1
fi
echo "abicheck: OK: $lib exports exactly the $count functions of $exports_map, SONAME $soname"
