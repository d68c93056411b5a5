"""How setuptools builds the shmlib package: pyproject.toml has the rest.

The package loads libshm.so with ctypes, and that library is built here,
from libshm's Go sources, with Go and a C compiler:

  - build_py builds libshm.so into the package it is building, so that
    `pip install ./bindings/python` and a wheel carry one that matches the
    sources (not whatever `make lib` last copied into shmlib/);
  - sdist puts the Go sources it needs (go.mod, go.sum, capi/, internal/,
    include/shmlib.h) into the archive, under libshm-src/, so that an sdist
    builds on its own;
  - bdist_wheel tags the wheel for the platform (py3-none-linux_x86_64):
    it holds machine code, but no Python extension, so any Python 3 on
    that platform can load it.

Without Go the build stops and says what to install, rather than producing a
package that cannot load its library.
"""

import os
import shutil
import subprocess

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.command.sdist import sdist
from setuptools.dist import Distribution

try:
    from setuptools.command.bdist_wheel import bdist_wheel
except ImportError:  # setuptools < 70.1 has it from the wheel package
    from wheel.bdist_wheel import bdist_wheel

HERE = os.path.dirname(os.path.abspath(__file__))
MODULE = "module github.com/libshm/libshm"
# What building libshm.so reads, relative to the Go module's root.
GO_SOURCES = ("go.mod", "go.sum", "capi", "internal", "include/shmlib.h")
SONAME = "libshm.so.0"


def go_root():
    """libshm's Go module: beside this file in an sdist, two levels up in
    the libshm tree."""
    for root in (os.path.join(HERE, "libshm-src"), os.path.dirname(os.path.dirname(HERE))):
        try:
            with open(os.path.join(root, "go.mod")) as f:
                if f.readline().strip() == MODULE:
                    return root
        except OSError:
            continue
    raise SystemExit(
        "shmlib: cannot find libshm's Go sources to build libshm.so from: build "
        "from the libshm tree (pip install ./bindings/python) or from its sdist")


def build_libshm(out):
    """Builds libshm.so from the Go sources into the file `out`, as the
    Makefile's rule for build/libshm.so does."""
    go = shutil.which("go")
    if go is None:
        raise SystemExit(
            "shmlib: building it needs Go 1.26 or later (https://go.dev/dl/, or your "
            "system's golang package) and a C compiler (gcc), to compile libshm.so from "
            "its Go sources; `go` is not on PATH")
    root = go_root()
    exports = os.path.join(root, "capi", "exports.map")
    ldflags = (f"-s -w -extldflags '-Wl,-soname,{SONAME} -Wl,--version-script={exports}'")
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    env = dict(os.environ, CGO_ENABLED="1")
    cmd = [go, "build", "-buildmode=c-shared", "-trimpath", f"-ldflags={ldflags}",
           "-o", os.path.abspath(out), "./capi"]
    print("shmlib: building libshm.so:", " ".join(cmd))
    if subprocess.call(cmd, cwd=root, env=env) != 0:
        raise SystemExit("shmlib: building libshm.so with Go failed (see above); it also "
                         "needs a C compiler (gcc) for cgo")
    header = os.path.splitext(out)[0] + ".h"  # c-shared writes one; the package has its own
    if os.path.exists(header):
        os.unlink(header)


class BuildPyWithLibshm(build_py):
    def run(self):
        super().run()
        if not self.dry_run:
            build_libshm(os.path.join(self.build_lib, "shmlib", "libshm.so"))


class SdistWithGoSources(sdist):
    def make_release_tree(self, base_dir, files):
        super().make_release_tree(base_dir, files)
        root = go_root()
        for rel in GO_SOURCES:
            src, dst = os.path.join(root, rel), os.path.join(base_dir, "libshm-src", rel)
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            if os.path.isdir(src):
                shutil.copytree(src, dst, ignore=shutil.ignore_patterns("*_test.go", "testdata"))
            else:
                shutil.copy2(src, dst)


class WithMachineCode(Distribution):
    """The package holds machine code: built for, and installed as, one
    platform's (platlib, not purelib)."""

    def has_ext_modules(self):
        return True


class PlatformWheel(bdist_wheel):
    def get_tag(self):
        _, _, platform = super().get_tag()
        return "py3", "none", platform


setup(distclass=WithMachineCode,
      cmdclass={"build_py": BuildPyWithLibshm, "sdist": SdistWithGoSources,
                "bdist_wheel": PlatformWheel})
