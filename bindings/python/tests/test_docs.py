"""The keys the READMEs show are keys the library takes."""

import os
import re

import pytest

import shmlib
from conftest import PYTHON_DIR

READMES = [os.path.join(PYTHON_DIR, "README.md"),
           os.path.join(PYTHON_DIR, "..", "..", "README.md")]
# Whatever follows a scheme up to a space, quote, backtick or bracket.
KEY = re.compile(r"""\b(?:posix:/|sysv:|memfd:)[^\s"'`()\[\]<>|]*""")


def shown_keys():
    keys = set()
    for path in READMES:
        if not os.path.exists(path):
            pytest.skip(f"{path} is not here: the tests were copied without the READMEs")
        with open(path) as f:
            keys.update(KEY.findall(f.read()))
    return keys


def test_every_complete_key_in_the_readmes_parses():
    # Placeholders (NAME, P, F, ...) and the "let the library choose" forms
    # are prose, not keys of a segment.
    complete = {k.rstrip(".,:;") for k in shown_keys()
                if re.search(r"=(0x[0-9a-f]+|[0-9]+)$|^posix:/[a-z0-9-]+$", k.rstrip(".,:;"))}
    assert any(k.startswith("memfd:pid=") for k in complete)
    for key in sorted(complete):
        try:
            shmlib.stat(key)
        except (shmlib.NotFound, shmlib.PermissionDenied):
            pass  # well-formed: it names a segment that is not (or not ours) here
        except shmlib.InvalidArgument as exc:
            pytest.fail(f"the README shows {key!r}, which the library refuses: {exc}")


def test_the_readme_layout_names_every_package_of_the_core():
    root = os.path.join(PYTHON_DIR, "..", "..")
    internal = os.path.join(root, "internal")
    if not os.path.isdir(internal):
        pytest.skip(f"{internal} is not here: the tests were copied without the tree")
    with open(os.path.join(root, "README.md")) as f:
        readme = f.read()
    layout = readme[readme.index("## Layout"):]
    for name in sorted(os.listdir(internal)):
        if os.path.isdir(os.path.join(internal, name)):
            assert f"internal/{name} " in layout, f"README's Layout omits internal/{name}"
