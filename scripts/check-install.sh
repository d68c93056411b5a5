#!/usr/bin/env bash
# check-install.sh - do what the README tells a new user, as written, away
# from this tree, and check that it works:
#
#   c    `make install` into a new prefix, then the C quick start compiled
#        and run from another directory with the README's commands;
#   go   a new module that requires bindings/go/shmlib the README's way
#        and runs the Go quick start.
#
# The programs and commands are the README's fenced blocks that follow an
# HTML comment naming this script (scripts/readme-block.sh), so the README
# cannot drift from what is tested. HOME is a temporary directory for the C part (the README installs
# into $HOME/opt/libshm); the Go part keeps the real HOME, whose module
# cache holds golang.org/x/sys (`go mod download` in this tree fills it).
#
#   scripts/check-install.sh [c] [go]      (default: both)
#
# Prints "ok"/"FAIL" for each check and ends with "N passed, M failed".
set -uo pipefail

cd "$(dirname "$0")/.." || exit 2
SRC=$PWD
README=$SRC/README.md
parts=("$@")
[ ${#parts[@]} -gt 0 ] || parts=(c go)

tmp=$(mktemp -d "${TMPDIR:-/tmp}/libshm-install-XXXXXX") || exit 2
trap 'rm -rf "$tmp"' EXIT
passed=0 failed=0

ok() { echo "ok    $*"; passed=$((passed + 1)); }
fail() { echo "FAIL  $*"; failed=$((failed + 1)); }

# block MARKER: the README's block marked for this script.
block() { "$SRC/scripts/readme-block.sh" "$1" "$README"; }

# run DIR LOG SCRIPT: runs SCRIPT (bash -e) in DIR, its output in LOG.
run() {
    local dir=$1 log=$2
    (cd "$dir" && bash -e -c "$3") >"$log" 2>&1
}

check_c() {
    local home=$tmp/home app=$tmp/home/app
    mkdir -p "$app"
    block "scripts/check-install.sh compiles and runs this as app.c" > "$app/app.c"
    local install build
    install=$(block "scripts/check-install.sh runs this in the libshm tree")
    build=$(block "scripts/check-install.sh runs this where app.c is")
    if [ ! -s "$app/app.c" ] || [ -z "$install" ] || [ -z "$build" ]; then
        fail "c: the README's quick start, install or build block is missing"
        return
    fi
    # Nothing from this tree or the caller may help the program start.
    if ! HOME=$home run "$SRC" "$tmp/install.log" "unset LD_LIBRARY_PATH PKG_CONFIG_PATH; $install"; then
        fail "c: '$install' failed:"; sed 's/^/      /' "$tmp/install.log"
        return
    fi
    ok "c: $install"
    if ! HOME=$home run "$app" "$tmp/build.log" "unset LD_LIBRARY_PATH PKG_CONFIG_PATH; $build"; then
        fail "c: the README's build-and-run block failed in another directory:"
        sed 's/^/      /' "$tmp/build.log"
        return
    fi
    local key
    key=$(tail -n 1 "$tmp/build.log")
    case $key in
    posix:/shmlib-*) ok "c: app.c built with pkg-config from $home/opt/libshm and ran: $key" ;;
    *) fail "c: ./app printed '$key', not a key"; sed 's/^/      /' "$tmp/build.log"; return ;;
    esac
    if [ -e "/dev/shm/${key#posix:/}" ]; then
        fail "c: ./app left $key behind"
        rm -f "/dev/shm/${key#posix:/}"
    else
        ok "c: ./app destroyed $key"
    fi
}

check_go() {
    local app=$tmp/goapp steps out
    mkdir -p "$app"
    block "scripts/check-install.sh builds this as main.go" > "$app/main.go"
    steps=$(block "scripts/check-install.sh runs this in a new directory holding main.go")
    if [ ! -s "$app/main.go" ] || [ -z "$steps" ]; then
        fail "go: the README's Go quick start or module steps are missing"
        return
    fi
    # The Go binding's README must give the same steps.
    if ! grep -qF -- "$(printf '%s\n' "$steps" | grep 'go mod edit')" "$SRC/bindings/go/README.md"; then
        fail "go: bindings/go/README.md does not give the README's 'go mod edit' step"
    fi
    if ! LIBSHM=$SRC GOFLAGS= GOWORK=off run "$app" "$tmp/go.log" "$steps"; then
        fail "go: the README's module steps failed in a new module:"; sed 's/^/      /' "$tmp/go.log"
        return
    fi
    out=$(tail -n 1 "$tmp/go.log")
    case $out in
    'posix:/shmlib-'*' holds "hello"') ok "go: a new module required the binding and ran: $out" ;;
    *) fail "go: the program printed '$out'"; sed 's/^/      /' "$tmp/go.log"; return ;;
    esac
    local key=${out%% *}
    if [ -e "/dev/shm/${key#posix:/}" ]; then
        fail "go: the program left $key behind"
        rm -f "/dev/shm/${key#posix:/}"
    else
        ok "go: the program destroyed $key"
    fi
}

for part in "${parts[@]}"; do
    case $part in
    c) check_c ;;
    go) check_go ;;
    *) echo "check-install.sh: unknown part '$part' (c, go)" >&2; exit 2 ;;
    esac
done
echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
