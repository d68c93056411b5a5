"""`python3 -m shmlib`: list, inspect, create, remove, read and write
segments from a shell.

memfd segments have no global name: `ls` lists only those the listing
process holds, so `python3 -m shmlib ls` (a process of its own) never shows
any; main(["ls"]) called in a program that holds memfds shows them.
`info`, `cat` and `write` reach another process's memfd by its key
(memfd:pid=P,fd=F,ino=I) while P lives.

Exit status: 0 success, 1 the library (or the operation) failed, 2 bad usage.
Messages go to stderr; --json gives machine-readable output on stdout.
Keys that hold control bytes or invalid UTF-8 (a POSIX name may) are shown
quoted, "posix:/a\\nb", so that every message and row stays one line;
--json gives them as they are.
"""

import argparse
import dataclasses
import grp
import json
import os
import pwd
import re
import secrets
import sys
import time

import shmlib
from shmlib.keys import display

_SIZE = re.compile(r"([0-9]+)\s*(|k|kib|m|mib|g|gib|t|tib)", re.IGNORECASE)
_SIZE_UNITS = {"": 0, "k": 10, "m": 20, "g": 30, "t": 40}
# The top byte of the System V keys libshm chooses (include/shmlib.h,
# shmlib_reap), which reap may take for orphans.
_LIBRARY_KEY_BYTE = 0xf5


def _size(text):
    """A size in bytes: 4096, 4k, 4KiB, 1M, 2G (powers of 1024)."""
    match = _SIZE.fullmatch(text.strip())
    if not match:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a size (bytes, or a number with K, M, G or T)")
    size = int(match.group(1)) << _SIZE_UNITS[match.group(2)[:1].lower()]
    if size < 1:
        raise argparse.ArgumentTypeError("a segment holds at least 1 byte")
    return size


def _mode(text):
    """Permission bits in octal: 0640, 640 or 0o640."""
    try:
        mode = int(text.removeprefix("0o"), 8)
    except ValueError:
        mode = -1
    if not 0 <= mode <= 0o777:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an octal mode between 0000 and 0777")
    return mode


def _user(uid):
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _group(gid):
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def _alive(pid):
    """True if a process with this pid exists, None if unknown."""
    if not pid:
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by somebody else
        return True
    return True


def _as_dict(info):
    record = dataclasses.asdict(info)
    record["creator_alive"] = _alive(info.cpid)
    return record


def _dash(value):
    return "-" if value is None else str(value)


def _yes_no(flag):
    return "-" if flag is None else ("yes" if flag else "no")


def _when(seconds):
    if not seconds:
        return "never"
    return time.strftime("%Y-%m-%d %H:%M:%S %z", time.localtime(seconds))


def _channel(info):
    if not info.channel:
        return "no"
    # include/shmlib.h: the segment is the ring's capacity + 4096 bytes, and
    # a message takes at most half the capacity less 16 bytes.
    capacity = info.size - 4096
    return (f"yes: a ring of {capacity} bytes, messages up to "
            f"{capacity // 2 - 16} bytes")


def cmd_ls(args):
    infos = shmlib.list_segments()
    if args.json:
        json.dump([_as_dict(info) for info in infos], sys.stdout, indent=2)
        print()
        return 0
    # KIND comes last so that scripts reading the columns before it by
    # position keep working.
    rows = [("KEY", "SIZE", "MODE", "OWNER", "NATTCH", "CPID", "ALIVE",
             "KIND")]
    for info in infos:
        rows.append((display(info.key), str(info.size), f"{info.mode:04o}",
                     _user(info.uid), _dash(info.nattach), _dash(info.cpid),
                     _yes_no(_alive(info.cpid)),
                     "channel" if info.channel else "segment"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width)
                        for cell, width in zip(row, widths)).rstrip())
    return 0


def cmd_reap(args):
    infos = shmlib.reap(destroy=args.destroy)
    if args.json:
        json.dump([_as_dict(info) for info in infos], sys.stdout, indent=2)
        print()
        return 0
    verb = "destroyed" if args.destroy else "would destroy"
    for info in infos:
        print(f"{verb} {display(info.key)} ({info.size} bytes, creator pid {_dash(info.cpid)})")
    if not infos:
        print("nothing to reap: every segment libshm made has a live creator or a user")
    elif not args.destroy:
        print(f"{len(infos)} segment(s); run `reap --destroy` to destroy them")
    return 0


def cmd_info(args):
    info = shmlib.stat(args.key)
    if args.json:
        json.dump(_as_dict(info), sys.stdout, indent=2)
        print()
        return 0
    alive = _alive(info.cpid)
    creator = _dash(info.cpid)
    if alive is not None:
        creator += " (running)" if alive else " (exited)"
    memfd = info.backend == "memfd"
    lines = [
        ("key", display(info.key)),
        ("backend", info.backend),
        ("size", f"{info.size} bytes"),
        ("mode", f"{info.mode:04o}"),
        ("owner", f"{_user(info.uid)}:{_group(info.gid)}"),
        ("creator", f"{_user(info.cuid)}:{_group(info.cgid)}"),
        ("attached", _dash(info.nattach)),
        ("holder pid" if memfd else "creator pid", creator),
        ("last pid", _dash(info.lpid)),
        ("shmid", _dash(info.shmid)),
        ("ipc key", "-" if info.ipc_key is None else f"0x{info.ipc_key:08x}"),
        ("last attach" if info.backend == "sysv" else "last access",
         _when(info.atime)),
        ("last detach", _when(info.dtime) if info.backend == "sysv" else "-"),
        ("last change", _when(info.ctime)),
        ("destroyed", _yes_no(info.destroyed)),
        ("locked", _yes_no(info.locked)),
        ("channel", _channel(info)),
    ]
    width = max(len(name) for name, _ in lines)
    for name, value in lines:
        print(f"{name + ':':<{width + 1}} {value}")
    return 0


def _chosen_key(sysv):
    """A key for a segment this command makes without --key. Not one the
    library would choose: reap takes those for orphans as soon as their
    creator exits, and this command exits at once, leaving the segment for
    others on purpose."""
    if sysv:
        while True:
            ipc_key = secrets.randbits(32)
            if ipc_key and ipc_key >> 24 != _LIBRARY_KEY_BYTE:
                return f"sysv:key=0x{ipc_key:08x}"
    return "posix:/shmlib-cli-" + secrets.token_hex(8)


def cmd_create(args):
    if args.key is not None and args.key.startswith("memfd:"):
        print(f"{args.prog} create: a memfd segment lives only while a process "
              "holds it, and this command exits at once; create it in the "
              "program that uses it (shmlib.create(size, backend=\"memfd\"))",
              file=sys.stderr)
        return 2
    if args.sysv and args.key is not None and not args.key.startswith("sysv:"):
        print(f"{args.prog} create: --sysv and --key {display(args.key)} conflict: --sysv "
              "asks for a System V segment, the key names another kind; give "
              "one of them (a System V key is sysv:key=K or sysv:private)",
              file=sys.stderr)
        return 2
    while True:  # a key chosen here may be taken: choose again
        try:
            key = shmlib.create_detached(args.size, args.key or _chosen_key(args.sysv),
                                         mode=args.mode)
            break
        except shmlib.AlreadyExists:
            if args.key is not None:
                raise
    if args.json:
        json.dump({"key": key, "size": args.size}, sys.stdout)
        print()
    else:
        print(display(key))
    return 0


def cmd_rm(args):
    status = 0
    for key in args.keys:
        try:
            shmlib.destroy(key)
        except shmlib.Error as exc:
            print(f"shmlib: {exc}", file=sys.stderr)
            status = 1
    return status


def cmd_cat(args):
    with shmlib.attach(args.key, readonly=True) as segment:
        sys.stdout.buffer.write(segment.buf)
        sys.stdout.buffer.flush()
    return 0


def cmd_write(args):
    data = sys.stdin.buffer.read()
    with shmlib.attach(args.key) as segment:
        if len(data) > segment.size:
            print(f"shmlib write: {len(data)} bytes do not fit in "
                  f"{display(segment.key)}, which holds {segment.size}; nothing "
                  "written", file=sys.stderr)
            return 1
        segment.buf[:len(data)] = data
    return 0


class _Version(argparse.Action):
    """--version; loads libshm only when asked, unlike action="version"."""

    def __call__(self, parser, namespace, values, option_string=None):
        print(f"shmlib {shmlib.__version__} (libshm "
              f"{shmlib.library_version()}, {shmlib.library_path()})")
        parser.exit()


def _prog():
    """What the user typed to run this: `python3 -m shmlib`, or the
    console script's name."""
    if os.path.basename(sys.argv[0]) in ("__main__.py", "-m", "-c", ""):
        return "python3 -m shmlib"
    return os.path.basename(sys.argv[0])


def _parser(prog):
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Shared memory segments (POSIX, System V and memfd) "
                    "through libshm. Keys: posix:/NAME or /NAME, sysv:key=K, "
                    "sysv:id=N, memfd:pid=P,fd=F,ino=I.",
        epilog="Exit status: 0 success, 1 failure, 2 bad usage.")
    parser.add_argument("--version", action=_Version, nargs=0,
                        help="show the package's and libshm's versions")
    parser.set_defaults(prog=prog)
    commands = parser.add_subparsers(dest="command", required=True,
                                     metavar="COMMAND")

    ls = commands.add_parser(
        "ls", help="list every POSIX and System V segment, and the memfd "
                   "segments this process holds",
        description="List segments: key, size, mode, owner, attach count "
                    "and creator pid (System V only; '-' where the kernel "
                    "does not record it), whether the creator runs, and "
                    "whether the segment holds a channel. memfd segments "
                    "are listed only if THIS process holds them (CPID is "
                    "then the holder): other processes' memfds have no name "
                    "to be found by, so this command, a process of its own, "
                    "shows none. Look at one with `info memfd:pid=P,fd=F,ino=I`.")
    ls.add_argument("--json", action="store_true", help="print JSON")
    ls.set_defaults(run=cmd_ls, parser=ls)

    reap = commands.add_parser(
        "reap", help="find (and with --destroy, destroy) segments libshm made "
                     "whose creator is dead and that nobody uses",
        description="Find the segments libshm named itself (created without "
                    "a key) whose creator process is dead and that no process "
                    "has attached or open; only list them unless --destroy. "
                    "Segments named by their users, those in use, and memfds "
                    "are never touched. Run as root, or as the user whose "
                    "segments they are, so that every process can be looked at.")
    reap.add_argument("--destroy", action="store_true", help="destroy what is found")
    reap.add_argument("--json", action="store_true", help="print JSON")
    reap.set_defaults(run=cmd_reap, parser=reap)

    info = commands.add_parser("info", help="show what the kernel knows of KEY")
    info.add_argument("key", metavar="KEY")
    info.add_argument("--json", action="store_true", help="print JSON")
    info.set_defaults(run=cmd_info, parser=info)

    create = commands.add_parser(
        "create", help="create a segment and print its key",
        description="Create a zero-filled segment (not attached, not "
                    "destroyed: remove it with `rm`) and print its key. "
                    "Without --key it picks one, which reap never takes for "
                    "an orphan: this command exits at once, leaving the "
                    "segment for others on purpose.")
    create.add_argument("size", metavar="SIZE", type=_size,
                        help="bytes, or with K, M, G, T (1024-based)")
    create.add_argument("--key", help="the key to create (default: the "
                                      "library picks a unique one)")
    create.add_argument("--sysv", action="store_true",
                        help="a System V segment (default: POSIX)")
    create.add_argument("--mode", type=_mode, default=0o600,
                        help="octal permission bits (default 0600)")
    create.add_argument("--json", action="store_true", help="print JSON")
    create.set_defaults(run=cmd_create, parser=create)

    rm = commands.add_parser("rm", help="destroy segments")
    rm.add_argument("keys", metavar="KEY", nargs="+")
    rm.set_defaults(run=cmd_rm, parser=rm)

    cat = commands.add_parser("cat", help="write a segment's bytes to stdout")
    cat.add_argument("key", metavar="KEY")
    cat.set_defaults(run=cmd_cat, parser=cat)

    write = commands.add_parser(
        "write", help="copy stdin to the start of a segment",
        description="Copy stdin to the start of the segment; the bytes "
                    "after it are left alone. Fails if stdin is longer "
                    "than the segment.")
    write.add_argument("key", metavar="KEY")
    write.set_defaults(run=cmd_write, parser=write)
    return parser


def main(argv=None):
    """Runs the command line; returns the exit status."""
    try:
        args, extra = _parser(_prog()).parse_known_args(argv)
        if extra:  # the command's own usage, not the top level's
            args.parser.error(f"unrecognized arguments: {' '.join(extra)}")
        return args.run(args)
    except shmlib.Error as exc:
        print(f"shmlib: {exc}", file=sys.stderr)  # it names the operation
        return 1
    except ImportError as exc:  # libshm itself could not be loaded
        print(exc, file=sys.stderr)
        return 1
    except BrokenPipeError:
        # The reader went away (`... | head`): stop quietly. Point stdout at
        # /dev/null so that the final flush at exit does not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
