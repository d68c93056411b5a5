#!/usr/bin/env bash
# check-python-package.sh - build the Python package as a user or a release
# would, install it away from this tree, and check that it works there:
#
#   1. `python -m build bindings/python`: an sdist that carries the Go
#      sources, and from it a platform wheel (py3-none-<platform>) holding
#      the libshm.so it built;
#   2. the wheel in a new virtual environment (with the machine's packages
#      for pytest, numpy, sysv-ipc, hypothesis): the whole Python test
#      suite, copied out of the tree, against the installed package; then
#      the README's numpy example;
#   3. the README's Python quick start as written, in a new virtual
#      environment with nothing in it: `pip install ./bindings/python`,
#      then the program, which must leave no segment behind;
#   4. the same install without Go on PATH fails and says what to install.
#
# The README's blocks come through scripts/readme-block.sh. pip fetches the
# build's own requirements (setuptools) from the package index, as it does
# for any user. Prints "ok"/"FAIL" for each check and ends with
# "N passed, M failed" (after pytest's own summary line).
set -uo pipefail

cd "$(dirname "$0")/.." || exit 2
SRC=$PWD
PYTHON=${PYTHON:-python3}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/libshm-pypkg-XXXXXX") || exit 2
trap 'rm -rf "$tmp"' EXIT
chmod 755 "$tmp" # the permission tests run Python as nobody, from the venv in here
passed=0 failed=0

ok() { echo "ok    $*"; passed=$((passed + 1)); }
fail() { echo "FAIL  $*"; failed=$((failed + 1)); }
show() { sed 's/^/      /' "$1" | tail -n "${2:-40}"; }
block() { "$SRC/scripts/readme-block.sh" "$1"; }
finish() {
    echo "$passed passed, $failed failed"
    [ $failed -eq 0 ]
    exit
}

# A segment a program printed must be gone once it ended.
check_gone() {
    local what=$1 key=$2
    if [ -e "/dev/shm/${key#posix:/}" ]; then
        fail "$what left $key behind"
        rm -f "/dev/shm/${key#posix:/}"
    else
        ok "$what destroyed $key"
    fi
}

# --- 1. sdist and wheel ------------------------------------------------------
if ! "$PYTHON" -m build --version >/dev/null 2>&1; then
    fail "python -m build: the 'build' package is missing (pip install build; .ci/run installs it)"
    finish
fi
if ! "$PYTHON" -m build bindings/python -o "$tmp/dist" >"$tmp/build.log" 2>&1; then
    fail "python -m build bindings/python:"; show "$tmp/build.log"
    finish
fi
platform=$("$PYTHON" -c 'import sysconfig; print(sysconfig.get_platform().replace("-", "_").replace(".", "_"))')
wheels=("$tmp"/dist/shmlib-*-py3-none-"$platform".whl)
sdists=("$tmp"/dist/shmlib-*.tar.gz)
if [ -f "${wheels[0]}" ]; then
    ok "python -m build: $(basename "${wheels[0]}")"
else
    fail "python -m build made no py3-none-$platform wheel: $(ls "$tmp/dist")"
    finish
fi
wheel=${wheels[0]}
if "$PYTHON" -m zipfile -l "$wheel" | grep -c '^shmlib/libshm.so ' >/dev/null; then
    ok "the wheel holds shmlib/libshm.so"
else
    fail "the wheel has no shmlib/libshm.so"
fi
if tar tzf "${sdists[0]}" | grep -c '/libshm-src/go.mod$' >/dev/null; then
    ok "the sdist carries the Go sources (the wheel was built from it)"
else
    fail "the sdist $(basename "${sdists[0]}") lacks libshm-src/go.mod"
fi

# --- 2. the test suite against the installed wheel ---------------------------
venv=$tmp/venv-test
if ! { "$PYTHON" -m venv --system-site-packages "$venv" &&
    "$venv/bin/python" -m pip install -q --no-deps --no-index --disable-pip-version-check "$wheel"; } \
    >"$tmp/venv-test.log" 2>&1; then
    fail "installing the wheel into a new virtual environment:"; show "$tmp/venv-test.log"
    finish
fi
where=$(cd "$tmp" && "$venv/bin/python" -c 'import shmlib; print(shmlib.library_path())' 2>&1)
case $where in
"$venv"/*) ok "the installed package loads its own libshm: $where" ;;
*) fail "the installed package loaded '$where', not the wheel's libshm.so" ;;
esac
# Out of the tree, conftest.py finds no shmlib beside the tests: they and
# every process they start import the installed one. The header, the
# READMEs and the names of the core's packages come along, where
# test_ffi.py and test_docs.py look for them.
mkdir -p "$tmp/pkgtest/bindings/python" "$tmp/pkgtest/include"
cp -r bindings/python/tests "$tmp/pkgtest/bindings/python/tests"
cp bindings/python/README.md "$tmp/pkgtest/bindings/python/"
cp README.md "$tmp/pkgtest/"
cp include/shmlib.h "$tmp/pkgtest/include/"
for dir in internal/*/; do mkdir -p "$tmp/pkgtest/$dir"; done # for the README's Layout
if (cd "$tmp/pkgtest/bindings/python" && "$venv/bin/python" -m pytest -q -rs -p no:cacheprovider tests); then
    ok "the Python suite passes against the installed wheel"
else
    fail "the Python suite against the installed wheel"
fi
block "scripts/check-python-package.sh runs this with numpy" >"$tmp/numpy_example.py"
out=$(cd "$tmp" && "$venv/bin/python" numpy_example.py 2>&1)
if [ "$out" = 7168 ]; then
    ok "the README's numpy example printed $out"
else
    fail "the README's numpy example printed: $out"
fi

# --- 3. the README's quick start in an empty virtual environment -------------
qs=$tmp/venv-quickstart
install=$(block "scripts/check-python-package.sh runs this in the libshm tree")
block "scripts/check-python-package.sh runs this as quickstart.py" >"$tmp/quickstart.py"
if [ -z "$install" ] || [ ! -s "$tmp/quickstart.py" ]; then
    fail "the README's Python install command or quick start is missing"
    finish
fi
"$PYTHON" -m venv "$qs"
# What `. venv/bin/activate` does, for the README's commands.
if (PATH=$qs/bin:$PATH VIRTUAL_ENV=$qs && export PATH VIRTUAL_ENV && bash -e -c "$install") \
    >"$tmp/pip.log" 2>&1; then
    ok "in an empty virtual environment: $install"
else
    fail "in an empty virtual environment, '$install' failed:"; show "$tmp/pip.log"
    finish
fi
out=$(cd "$tmp" && "$qs/bin/python" quickstart.py 2>&1)
key=$(printf '%s\n' "$out" | head -n 1)
if [ "$(printf '%s\n' "$out" | tail -n 1)" = "b'hello'" ] && [ "${key#posix:/shmlib-}" != "$key" ]; then
    ok "the README's quick start ran: $(printf '%s' "$out" | tr '\n' ' ')"
    check_gone "the quick start" "$key"
else
    fail "the README's quick start printed: $out"
fi

# --- 4. without Go ------------------------------------------------------------
nogo=$qs/bin
IFS=: read -r -a dirs <<<"$PATH"
for d in "${dirs[@]}"; do
    [ -x "$d/go" ] || nogo=$nogo:$d
done
if (PATH=$nogo VIRTUAL_ENV=$qs && export PATH VIRTUAL_ENV &&
    pip install --force-reinstall --no-deps ./bindings/python) >"$tmp/nogo.log" 2>&1; then
    fail "pip install without Go on PATH succeeded"
elif grep -q "needs Go 1.26" "$tmp/nogo.log"; then
    ok "without Go, pip install fails: $(grep -o 'shmlib: building it needs Go[^;]*' "$tmp/nogo.log" | head -n 1)"
else
    fail "without Go, pip install failed without saying that Go is needed:"; show "$tmp/nogo.log"
fi

finish
