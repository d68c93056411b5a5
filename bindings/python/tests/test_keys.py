"""Keys: the Python side's canonical forms agree with the library's, and
POSIX names follow shm_open()'s rules, on generated names."""

import os

import pytest

import shmlib
from shmlib import keys

hypothesis = pytest.importorskip(
    "hypothesis", reason="hypothesis is not installed: the generated-key "
                         "properties are not tested")
from hypothesis import assume, given, settings, strategies as st  # noqa: E402

# Names of characters a file name can hold (no lone surrogates, which no
# encoding of a real name produces).
NAMES = st.text(st.characters(blacklist_categories=("Cs",)), min_size=0,
                max_size=70)


def valid_posix_name(name):
    raw = os.fsencode(name)
    return (0 < len(raw) <= 255 and "/" not in name and "\0" not in name
            and name not in (".", ".."))


@settings(max_examples=150, deadline=None)
@given(NAMES.map(lambda s: f"shmlib-test-{os.getpid()}-" + s) | NAMES)
def test_posix_names_follow_shm_open_rules(name):
    key = "posix:/" + name
    if not valid_posix_name(name):
        with pytest.raises(shmlib.InvalidArgument):
            shmlib.create_detached(1, key)
        return
    try:
        made = shmlib.create_detached(1, key)
    except shmlib.AlreadyExists:
        assume(False)  # somebody else's name: not ours to test
    try:
        assert made == key
        assert os.path.exists("/dev/shm/" + name)
        assert shmlib.stat("/" + name).key == key
        assert shmlib.list_segments()  # every name decodes
    finally:
        shmlib.destroy(key)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 2**32 - 1), st.sampled_from(["{:d}", "0x{:x}",
                                                    "0x{:08X}", "000{:d}"]))
def test_sysv_key_spellings_agree_with_the_library(number, spelling):
    key = "sysv:key=" + spelling.format(number)
    try:
        made = shmlib.create_detached(1, key)
    except shmlib.AlreadyExists:
        assume(False)
    try:
        assert made == keys.canonical(key) == f"sysv:key=0x{number:08x}"
        with shmlib.attach(key) as seg:
            assert seg.key == made
    finally:
        shmlib.destroy(made)


def test_sysv_id_with_leading_zeros(cleanup):
    seg = cleanup(shmlib.create(1, backend="sysv"))
    shmid = shmlib.stat(seg.key).shmid
    with shmlib.attach(f"sysv:id=000{shmid}") as again:
        assert again.key == f"sysv:id={shmid}"


def test_non_utf8_names_round_trip(cleanup):
    # /dev/shm names are bytes; a name that is not UTF-8 comes back from
    # list_segments() as os.fsdecode gives it, and works as a key.
    name = os.fsdecode(b"shmlib-test-%d-\xff\xfe" % os.getpid())
    key = cleanup(shmlib.create_detached(1, "posix:/" + name))
    assert key in {info.key for info in shmlib.list_segments()}
    assert os.path.exists(b"/dev/shm/shmlib-test-%d-\xff\xfe" % os.getpid())
    with shmlib.attach(key) as seg:
        assert seg.size == 1
