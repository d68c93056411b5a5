"""`python3 -m shmlib`, run as a separate process like a user would."""

import json
import os
import subprocess
import sys

import pytest

import shmlib
from conftest import PYTHON_DIR, unique_name


def run(*args, stdin=b""):
    return subprocess.run([sys.executable, "-m", "shmlib", *args],
                          input=stdin, capture_output=True, timeout=60,
                          env=dict(os.environ, PYTHONPATH=PYTHON_DIR))


def ok(*args, stdin=b""):
    result = run(*args, stdin=stdin)
    assert result.returncode == 0, result.stderr.decode()
    assert result.stderr == b""
    return result.stdout.decode()


def test_create_prints_the_key_and_makes_the_segment(cleanup):
    key = cleanup(ok("create", "4k", "--mode", "0640").strip())
    assert key.startswith("posix:/")
    info = shmlib.stat(key)
    assert info.size == 4096 and info.mode == 0o640


def test_create_with_key_sysv_and_json(cleanup):
    name = "posix:/" + unique_name()
    made = json.loads(ok("create", "100", "--key", name, "--json"))
    assert made == {"key": cleanup(made["key"]), "size": 100}
    assert made["key"] == name
    sysv = json.loads(ok("create", "1M", "--sysv", "--json"))
    cleanup(sysv["key"])
    assert sysv["key"].startswith("sysv:key=0x") and sysv["size"] == 1 << 20


def test_info(cleanup):
    key = cleanup(ok("create", "5000", "--sysv", "--mode", "640").strip())
    text = ok("info", key)
    assert f"key:         {key}\n" in text
    assert "size:        5000 bytes" in text and "mode:        0640" in text
    assert "(exited)" in text  # its creator was the CLI process
    record = json.loads(ok("info", key, "--json"))
    assert record["key"] == key and record["size"] == 5000
    assert record["mode"] == 0o640 and record["nattach"] == 0
    assert record["creator_alive"] is False


def test_ls_shows_both_kinds(cleanup, segment):
    sysv = cleanup(shmlib.create(64, backend="sysv"))
    rows = {line.split()[0]: line.split() for line in ok("ls").splitlines()}
    assert rows["KEY"] == ["KEY", "SIZE", "MODE", "OWNER", "NATTCH", "CPID",
                           "ALIVE", "KIND"]
    assert rows[segment.key][1:3] == ["4096", "0600"]
    # POSIX: not recorded
    assert rows[segment.key][4:] == ["-", "-", "-", "segment"]
    assert rows[sysv.key][4:] == ["1", str(os.getpid()), "yes", "segment"]
    listed = {r["key"]: r for r in json.loads(ok("ls", "--json"))}
    assert listed[sysv.key]["creator_alive"] is True
    assert listed[segment.key]["nattach"] is None


@pytest.mark.parametrize("backend", ["posix", "sysv"])
def test_ls_and_info_tell_channels(backend, cleanup, segment):
    key = cleanup(shmlib.create_channel(16384, backend=backend))
    rows = {line.split()[0]: line.split() for line in ok("ls").splitlines()}
    assert rows[key][1] == str(16384 + 4096) and rows[key][-1] == "channel"
    assert rows[segment.key][-1] == "segment"
    assert ("channel:     yes: a ring of 16384 bytes, messages up to 8176 "
            "bytes\n") in ok("info", key)
    assert "channel:     no\n" in ok("info", segment.key)
    assert json.loads(ok("info", key, "--json"))["channel"] is True


def test_write_then_cat(segment):
    data = bytes(range(256)) * 3
    assert ok("write", segment.key, stdin=data) == ""
    assert bytes(segment.buf[:len(data)]) == data
    out = run("cat", segment.key)
    assert out.returncode == 0
    assert out.stdout == data + bytes(4096 - len(data))


def test_write_too_long_fails_and_writes_nothing(segment):
    result = run("write", segment.key, stdin=b"x" * 4097)
    assert result.returncode == 1
    assert b"4097 bytes do not fit" in result.stderr
    assert bytes(segment.buf) == bytes(4096)


def test_rm(cleanup):
    first = cleanup(ok("create", "10").strip())
    second = cleanup(ok("create", "10", "--sysv").strip())
    assert ok("rm", first, second) == ""
    for key in (first, second):
        with pytest.raises(shmlib.NotFound):
            shmlib.stat(key)


def test_rm_reports_each_failure_and_goes_on(cleanup):
    key = cleanup(ok("create", "10").strip())
    result = run("rm", "/" + unique_name(), key)
    assert result.returncode == 1
    assert b"no such segment" in result.stderr
    with pytest.raises(shmlib.NotFound):
        shmlib.stat(key)


@pytest.mark.parametrize("args", [
    (), ("frobnicate",), ("create",), ("create", "abc"), ("create", "0"),
    ("create", "10", "--mode", "999"), ("create", "10", "--mode", "rw"),
    ("info",), ("rm",), ("ls", "extra"),
])
def test_usage_errors_exit_2(args):
    result = run(*args)
    assert result.returncode == 2
    assert b"usage:" in result.stderr and result.stdout == b""


@pytest.mark.parametrize("args", [
    ("info", "nope"), ("info", "/" + "x" * 300), ("cat", "/shmlib-no-such"),
    ("write", "sysv:id=x"),
])
def test_library_errors_exit_1_with_one_line(args):
    result = run(*args)
    assert result.returncode == 1
    lines = result.stderr.decode().splitlines()
    assert len(lines) == 1 and lines[0].startswith("shmlib: ")
    assert "Traceback" not in result.stderr.decode()


def test_create_existing_key_fails(segment):
    result = run("create", "10", "--key", segment.key)
    assert result.returncode == 1
    assert b"exists" in result.stderr


def test_cat_into_a_closed_pipe_is_quiet(segment):
    # `shmlib cat KEY | head -c 1`, with head already gone: EPIPE, and no
    # traceback on stderr.
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        writer = subprocess.run(
            [sys.executable, "-m", "shmlib", "cat", segment.key],
            stdout=write_end, stderr=subprocess.PIPE, timeout=60,
            env=dict(os.environ, PYTHONPATH=PYTHON_DIR))
    finally:
        os.close(write_end)
    assert writer.returncode == 1
    assert writer.stderr == b""


def test_version():
    assert ok("--version").startswith(f"shmlib {shmlib.__version__} (libshm ")


def test_missing_library_is_one_message_and_exit_1(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "shmlib", "ls"], capture_output=True,
        text=True, timeout=60,
        env=dict(os.environ, PYTHONPATH=PYTHON_DIR,
                 SHMLIB_LIBRARY=str(tmp_path / "missing.so")))
    assert result.returncode == 1
    assert "cannot load libshm" in result.stderr and "make lib" in result.stderr
    assert "Traceback" not in result.stderr
    # --help needs no library at all.
    help_text = subprocess.run(
        [sys.executable, "-m", "shmlib", "--help"], capture_output=True,
        text=True, timeout=60,
        env=dict(os.environ, PYTHONPATH=PYTHON_DIR,
                 SHMLIB_LIBRARY=str(tmp_path / "missing.so")))
    assert help_text.returncode == 0 and "usage:" in help_text.stdout


def test_create_with_sysv_and_a_key_of_another_kind_says_they_conflict():
    name = unique_name()
    result = run("create", "4k", "--sysv", "--key", f"posix:/{name}")
    assert result.returncode == 2
    err = result.stderr.decode()
    assert "--sysv and --key posix:/" in err and "conflict" in err, err
    assert not os.path.exists(f"/dev/shm/{name}")


def test_extra_arguments_get_the_command_usage():
    result = run("ls", "extra")
    assert result.returncode == 2
    err = result.stderr.decode()
    assert err.startswith("usage: python3 -m shmlib ls "), err
    assert "unrecognized arguments: extra" in err


def test_console_script_usage_names_itself():
    # What the `shmlib` console script that pip installs runs.
    code = "import sys; from shmlib.cli import main; sys.argv[0] = '/venv/bin/shmlib'; sys.exit(main())"
    result = subprocess.run([sys.executable, "-c", code, "--help"], capture_output=True,
                            text=True, timeout=60, env=dict(os.environ, PYTHONPATH=PYTHON_DIR))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: shmlib "), result.stdout


@pytest.mark.parametrize("backend", [[], ["--sysv"]])
def test_segments_the_cli_names_are_not_orphans_once_it_exits(backend, cleanup):
    key = cleanup(ok("create", "4k", *backend).strip())
    assert shmlib.stat(key).size == 4096
    # The command has exited: its creator is dead, yet reap must not take
    # the segment it left for others on purpose.
    assert key not in {info.key for info in shmlib.reap()}
