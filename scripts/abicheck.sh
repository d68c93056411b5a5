#!/usr/bin/env bash
# abicheck.sh LIB HEADER - does the shared library export exactly what the
# header documents?
#
# Fails (exit 1), listing each problem, if
#   - a shmlib_* function is exported but not declared in HEADER,
#   - a function declared in HEADER is not exported (or not as code),
#   - LIB exports any symbol that is not shmlib_* (the version script is
#     meant to hide the Go runtime and the internal entry points),
#   - the SONAME of LIB is not libshm.so.0.
# Exit 2 on usage errors or missing tools.
set -euo pipefail

EXPECTED_SONAME=libshm.so.0

if [ $# -ne 2 ]; then
    echo "usage: $0 LIB HEADER" >&2
    exit 2
fi
lib=$1
header=$2
for f in "$lib" "$header"; do
    if [ ! -r "$f" ]; then
        echo "abicheck: cannot read $f" >&2
        exit 2
    fi
done
for tool in nm readelf perl; do
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

# --- the functions the header declares -------------------------------------
# Comments and preprocessor lines go first, so that a prototype quoted in a
# comment or a function-like macro does not count. What is left is split into
# declarations at ';', '{' and '}'; a declaration declares a function when the
# first '(' directly follows a shmlib_ name that only type words and '*'
# precede (which also rules out pointers to functions, "(*shmlib_cb)(...)").
# static (inline) helpers are the caller's own code, not exports.
declared=$(perl -0777 -ne '
    s{/\*.*?\*/}{ }gs;             # block comments
    s{//[^\n]*}{}g;                # line comments
    s{\\\n}{ }g;                   # join continued lines, then drop directives
    s{^[ \t]*#[^\n]*}{}mg;
    for my $decl (split /[;{}]/) {
        $decl =~ s/\s+/ /g;
        next if $decl =~ /^\s*static\b/;
        print "$1\n" if $decl =~ /^\s*[A-Za-z_][\w\s\*]*?\b(shmlib_\w+)\s*\(/;
    }
' "$header" | LC_ALL=C sort -u)

if [ -z "$declared" ]; then
    echo "abicheck: found no shmlib_ function declarations in $header" >&2
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
    problem "exported but not declared in $header: $name"
done < <(LC_ALL=C comm -13 <(printf '%s\n' "$declared") <(printf '%s\n' "$exported_shmlib"))

while read -r name; do
    [ -n "$name" ] || continue
    problem "declared in $header but not exported: $name"
done < <(LC_ALL=C comm -23 <(printf '%s\n' "$declared") <(printf '%s\n' "$exported_shmlib"))

# --- SONAME -----------------------------------------------------------------
soname=$(readelf -d "$lib" | sed -n 's/.*Library soname: \[\(.*\)\].*/\1/p')
if [ "$soname" != "$EXPECTED_SONAME" ]; then
    problem "SONAME is '${soname:-none}', expected $EXPECTED_SONAME"
fi

count=$(printf '%s\n' "$declared" | grep -c .)
if [ "$problems" -ne 0 ]; then
    echo "abicheck: FAIL: $problems problem(s) above in $lib against $header"
    exit 1
fi
echo "abicheck: OK: $lib exports exactly the $count functions of $header, SONAME $soname"
