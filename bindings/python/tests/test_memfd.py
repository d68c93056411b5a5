"""memfd segments, with real processes: attach by key through /proc, pass
over a Unix socket, outlive the sender, vanish with their last holder.

Every other process here is a `python3 -c` subprocess (never a fork of this
one, which has libshm's Go runtime loaded)."""

import contextlib
import io
import os
import re
import socket
import subprocess
import sys
import textwrap

import pytest

import shmlib
from conftest import PYTHON_DIR
from shmlib import cli

KEY = re.compile(r"memfd:pid=([0-9]+),fd=([0-9]+),ino=[0-9]+")


def proc_path(key):
    pid, fd = KEY.fullmatch(key).groups()
    return f"/proc/{pid}/fd/{fd}"


def held_memfds():
    """The memfd segments this process holds, as list_segments sees them."""
    return {info.key for info in shmlib.list_segments()
            if info.backend == "memfd"}


@pytest.fixture(autouse=True)
def no_held_memfds():
    """Every test lets go of every hold it took: none leaks past it."""
    before = held_memfds()
    yield
    assert held_memfds() == before


class Child:
    """A python3 -c process with shmlib importable, talking over lines on
    stdin and stdout."""

    def __init__(self, code, *args, pass_fds=()):
        self.proc = subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(code), *map(str, args)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, pass_fds=pass_fds,
            env=dict(os.environ, PYTHONPATH=PYTHON_DIR))

    def line(self):
        text = self.proc.stdout.readline()
        if not text:
            self.proc.wait(10)
            pytest.fail(f"child exited with {self.proc.returncode}: "
                        f"{self.proc.stderr.read()}")
        return text.rstrip("\n")

    def say(self, text):
        self.proc.stdin.write(text + "\n")
        self.proc.stdin.flush()

    def finish(self, timeout=60):
        out, err = self.proc.communicate(timeout=timeout)
        assert self.proc.returncode == 0, err
        return out

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.communicate(timeout=10)


@pytest.fixture
def child():
    started = []

    def start(code, *args, **kwargs):
        started.append(Child(code, *args, **kwargs))
        return started[-1]

    yield start
    for c in started:
        c.stop()


# A child that runs commands from stdin against one key: attach and print
# the first bytes, write bytes, destroy; prints "ok" or the error's class.
WORKER = """
import sys, shmlib
key = sys.argv[1]
for line in sys.stdin:
    op, *rest = line.split()
    try:
        if op == "read":
            with shmlib.attach(key) as seg:
                print(bytes(seg.buf[:int(rest[0])]).decode())
        elif op == "write":
            with shmlib.attach(key) as seg:
                seg.buf[:len(rest[0])] = rest[0].encode()
            print("ok")
        elif op == "destroy":
            shmlib.destroy(key)
            print("ok")
        elif op == "stat":
            info = shmlib.stat(key)
            print(info.backend, info.size, info.cpid)
    except shmlib.Error as exc:
        print(type(exc).__name__)
    sys.stdout.flush()
"""


def ask(worker, command):
    worker.say(command)
    return worker.line()


def test_create_and_stat_a_memfd_segment(cleanup):
    before = set(os.listdir("/dev/shm"))
    seg = cleanup(shmlib.create(5000, backend="memfd"))
    other = cleanup(shmlib.create(64, "memfd:"))
    detached = cleanup(shmlib.create_detached(64, backend="memfd"))
    for key in (seg.key, other.key, detached):
        pid, fd = map(int, KEY.fullmatch(key).groups())
        assert pid == os.getpid()
        assert os.readlink(f"/proc/self/fd/{fd}").startswith("/memfd:")
    assert seg.created and seg.size == 5000
    assert bytes(seg.buf[:8]) == bytes(8)  # zero-filled
    info = shmlib.stat(seg.key)
    assert (info.key, info.backend, info.size) == (seg.key, "memfd", 5000)
    assert info.mode == 0o600 and info.cpid == os.getpid()
    assert info.nattach is None and info.shmid is None
    assert not info.channel
    assert {seg.key, other.key, detached} <= held_memfds()
    assert set(os.listdir("/dev/shm")) == before  # no name anywhere
    # A key that is not a memfd one is not created as one, and vice versa.
    with pytest.raises(shmlib.InvalidArgument):
        shmlib.create(64, "memfd:", backend="posix")
    with pytest.raises(shmlib.InvalidArgument):
        shmlib.create(64, "posix:", backend="memfd")
    with pytest.raises(shmlib.InvalidArgument):
        shmlib.create(64, "memfd:pid=1,fd=3")  # named by its holder once made
    with pytest.raises(shmlib.InvalidArgument):
        shmlib.create(64, backend="tmpfs")


def test_canonical_memfd_keys(cleanup):
    seg = cleanup(shmlib.create(64, backend="memfd"))
    pid, fd = KEY.fullmatch(seg.key).groups()
    ino = seg.key.rsplit("=", 1)[1]
    padded = f"memfd:pid=00{pid},fd=0{fd},ino=0{ino}"
    with shmlib.attach(padded) as again:
        assert again.key == seg.key
    assert shmlib.stat(padded).key == seg.key


def test_another_process_attaches_by_key_but_cannot_destroy(cleanup, child):
    seg = cleanup(shmlib.create(4096, backend="memfd"))
    seg.buf[:5] = b"hello"
    worker = child(WORKER, seg.key)
    assert ask(worker, "read 5") == "hello"
    assert ask(worker, "write world") == "ok"
    assert bytes(seg.buf[:5]) == b"world"  # the same pages
    assert ask(worker, "stat") == f"memfd 4096 {os.getpid()}"
    assert ask(worker, "destroy") == "PermissionDenied"
    assert ask(worker, "read 5") == "world"  # still there
    worker.finish()


def test_destroy_in_the_holder_ends_new_attaches_not_mappings(child):
    seg = shmlib.create(4096, backend="memfd")
    try:
        seg.buf[:4] = b"kept"
        worker = child(WORKER, seg.key)
        assert ask(worker, "read 4") == "kept"
        shmlib.destroy(seg.key)
        assert not os.path.exists(proc_path(seg.key))
        assert ask(worker, "read 4") == "NotFound"
        assert ask(worker, "stat") == "NotFound"
        with pytest.raises(shmlib.NotFound):
            shmlib.attach(seg.key)
        with pytest.raises(shmlib.NotFound):
            shmlib.destroy(seg.key)
        assert seg.key not in held_memfds()
        # The mapping made before goes on, for reading and writing.
        assert bytes(seg.buf[:4]) == b"kept"
        seg.buf[:4] = b"more"
        assert bytes(seg.buf[:4]) == b"more"
        worker.finish()
    finally:
        seg.detach()


SENDER = """
import os, socket, sys, shmlib
sock = socket.socket(fileno=int(sys.argv[1]))
seg = shmlib.create(8192, backend="memfd")
seg.buf[:len(sys.argv[2])] = sys.argv[2].encode()
shmlib.send_memfd(sock, seg.key)
seg.detach()
shmlib.destroy(seg.key)   # lets go of its hold, then exits
print(seg.key, os.getpid())
"""

RECEIVER = """
import os, sys, shmlib
fd = int(sys.argv[1])                 # a descriptor, not a socket object
key = shmlib.recv_memfd(fd, timeout=30)
print(key, flush=True)
sys.stdin.readline()                  # wait until told
with shmlib.attach(key) as seg:
    print(bytes(seg.buf[:int(sys.argv[2])]).decode(), seg.size, flush=True)
sys.stdin.readline()
shmlib.destroy(key)
"""


def test_passed_over_a_socket_it_outlives_its_creator(child):
    ours, theirs = socket.socketpair()
    with ours, theirs:
        sender = child(SENDER, ours.fileno(), "survivor",
                       pass_fds=[ours.fileno()])
        sent_key, sender_pid = sender.finish().split()
        # The sender has exited: its key names nothing any more; the
        # segment is in flight in the socket.
        assert not os.path.exists(f"/proc/{sender_pid}")
        with pytest.raises(shmlib.NotFound):
            shmlib.attach(sent_key)
        receiver = child(RECEIVER, theirs.fileno(), len("survivor"),
                         pass_fds=[theirs.fileno()])
    key = receiver.line()
    pid, _ = KEY.fullmatch(key).groups()
    assert int(pid) == receiver.proc.pid
    # The receiver holds it now: any process may attach by its key.
    with shmlib.attach(key) as seg:
        assert bytes(seg.buf[:8]) == b"survivor" and seg.size == 8192
        assert shmlib.stat(key).cpid == receiver.proc.pid
    receiver.say("go")
    assert receiver.line() == "survivor 8192"
    receiver.say("done")
    receiver.finish()
    # Its last holder exited: gone, by key and by /proc.
    assert not os.path.exists(proc_path(key))
    with pytest.raises(shmlib.NotFound):
        shmlib.attach(key)


def test_a_segment_is_gone_when_its_holders_exit(child):
    holder = child("""
        import sys, shmlib
        seg = shmlib.create(4096, backend="memfd")
        seg.buf[:3] = b"abc"
        print(seg.key, flush=True)
        sys.stdin.readline()
        """)
    key = holder.line()
    assert os.path.exists(proc_path(key))
    assert shmlib.stat(key).backend == "memfd"
    with shmlib.attach(key) as seg:
        assert bytes(seg.buf[:3]) == b"abc"
    holder.proc.kill()  # a crash, without destroy: still nothing is left
    holder.proc.wait(10)
    assert not os.path.exists(proc_path(key))
    with pytest.raises(shmlib.NotFound):
        shmlib.attach(key)
    with pytest.raises(shmlib.NotFound):
        shmlib.stat(key)


def test_send_refuses_what_is_not_a_memfd_this_process_holds(cleanup, child):
    posix = cleanup(shmlib.create_detached(64))
    sysv = cleanup(shmlib.create_detached(64, backend="sysv"))
    gone = shmlib.create_detached(64, backend="memfd")
    shmlib.destroy(gone)
    holder = child("""
        import sys, shmlib
        print(shmlib.create_detached(64, backend="memfd"), flush=True)
        sys.stdin.readline()
        """)
    theirs = holder.line()
    a, b = socket.socketpair()
    with a, b:
        for key in (posix, sysv, gone, theirs):
            with pytest.raises(shmlib.InvalidArgument):
                shmlib.send_memfd(a, key)
        with pytest.raises(shmlib.InvalidArgument):
            shmlib.send_memfd(a, "memfd:pid=x")  # malformed
        # Nothing was sent.
        with pytest.raises(shmlib.Timeout):
            shmlib.recv_memfd(b, timeout=0)
    holder.finish()


def test_socket_errors(cleanup):
    key = cleanup(shmlib.create_detached(64, backend="memfd"))
    a, b = socket.socketpair()
    with a, b:
        a.send(b"x")  # a message without a descriptor
        with pytest.raises(shmlib.InvalidArgument):
            shmlib.recv_memfd(b, timeout=5)
        with pytest.raises(shmlib.Timeout):
            shmlib.recv_memfd(b, timeout=0.05)
        a.close()
        with pytest.raises(shmlib.EndOfStream):
            shmlib.recv_memfd(b, timeout=5)
        with pytest.raises(EOFError):
            shmlib.recv_memfd(b)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as inet:
        with pytest.raises(shmlib.InvalidArgument):
            shmlib.send_memfd(inet, key)
    r, w = os.pipe()
    try:
        with pytest.raises(shmlib.OSFailure):
            shmlib.send_memfd(w, key)  # a descriptor, but not a socket
    finally:
        os.close(r)
        os.close(w)
    with pytest.raises(TypeError):
        shmlib.send_memfd("not a socket", key)
    with pytest.raises(shmlib.InvalidArgument):
        shmlib.send_memfd(-1, key)


def test_send_and_receive_in_one_process(cleanup):
    seg = cleanup(shmlib.create(4096, backend="memfd"))
    seg.buf[:2] = b"hi"
    a, b = socket.socketpair()
    with a, b:
        shmlib.send_memfd(a, seg.key)
        key = cleanup(shmlib.recv_memfd(b))
    assert key != seg.key and KEY.fullmatch(key)
    shmlib.destroy(seg.key)  # the second hold keeps it reachable
    with shmlib.attach(key) as again:
        assert bytes(again.buf[:2]) == b"hi"
        again.buf[:2] = b"yo"
    assert bytes(seg.buf[:2]) == b"yo"


CONSUMER = """
import sys, shmlib
key = shmlib.recv_memfd(int(sys.argv[1]), timeout=30)
with shmlib.open_channel(key, "consumer") as chan:
    while True:
        try:
            print(chan.recv(timeout=30).decode(), flush=True)
        except EOFError:
            break
shmlib.destroy(key)
"""


def test_a_channel_on_a_socket_passed_memfd(child, channels):
    key = shmlib.create_channel(16384, backend="memfd")
    try:
        assert shmlib.stat(key).channel
        ours, theirs = socket.socketpair()
        with ours, theirs:
            consumer = child(CONSUMER, theirs.fileno(),
                             pass_fds=[theirs.fileno()])
            shmlib.send_memfd(ours, key)
        producer = channels(key, "producer")
        for word in ("one", "two", "three"):
            producer.send(word.encode())
        producer.close()
        assert consumer.finish().split() == ["one", "two", "three"]
    finally:
        shmlib.destroy(key)


def test_a_memfd_channel_by_key(channels):
    key = shmlib.create_channel(4096, "memfd:")
    try:
        producer = channels(key, "producer")
        consumer = channels(key, "consumer")
        producer.send(b"ping")
        assert consumer.recv(timeout=5) == b"ping"
    finally:
        shmlib.destroy(key)


def test_cli_ls_shows_only_the_memfds_this_process_holds(cleanup):
    key = cleanup(shmlib.create_detached(4096, backend="memfd"))
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert cli.main(["ls"]) == 0
    rows = {line.split()[0]: line.split() for line in out.getvalue().splitlines()}
    assert rows[key][1] == "4096" and rows[key][5] == str(os.getpid())
    # `python3 -m shmlib ls` is a process of its own, which holds none.
    listed = subprocess.run([sys.executable, "-m", "shmlib", "ls", "--json"],
                            capture_output=True, text=True, timeout=60,
                            env=dict(os.environ, PYTHONPATH=PYTHON_DIR))
    assert listed.returncode == 0, listed.stderr
    assert "memfd:" not in listed.stdout
    help_text = subprocess.run(
        [sys.executable, "-m", "shmlib", "ls", "--help"], capture_output=True,
        text=True, timeout=60, env=dict(os.environ, PYTHONPATH=PYTHON_DIR))
    words = " ".join(help_text.stdout.split())
    assert "memfd segments are listed only if THIS process holds them" in words


def test_cli_info_cat_write_on_a_memfd_key(cleanup):
    seg = cleanup(shmlib.create(4096, backend="memfd"))
    env = dict(os.environ, PYTHONPATH=PYTHON_DIR)

    def run(*args, stdin=b""):
        return subprocess.run([sys.executable, "-m", "shmlib", *args],
                              input=stdin, capture_output=True, timeout=60,
                              env=env)

    info = run("info", seg.key)
    assert info.returncode == 0, info.stderr
    text = info.stdout.decode()
    assert "backend:     memfd" in text
    assert f"holder pid:  {os.getpid()} (running)" in text
    assert run("write", seg.key, stdin=b"from the cli").returncode == 0
    assert bytes(seg.buf[:12]) == b"from the cli"
    assert run("cat", seg.key).stdout[:12] == b"from the cli"
    refused = run("rm", seg.key)
    assert refused.returncode == 1 and b"only process" in refused.stderr
    made = run("create", "4k", "--key", "memfd:")
    assert made.returncode == 2 and b"memfd" in made.stderr


def _read_in_worker(seg, n):
    return bytes(seg.buf[:n])


def test_a_memfd_segment_pickles_to_a_spawned_worker(cleanup):
    import multiprocessing

    seg = cleanup(shmlib.create(4096, backend="memfd"))
    seg.buf[:6] = b"pickle"
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        assert pool.apply(_read_in_worker, (seg, 6)) == b"pickle"
