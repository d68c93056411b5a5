#!/usr/bin/env python3
"""suites.py SUITE... - run test suites one after another, count, and sum up.

Each SUITE runs as `make test-SUITE` (with GOTESTFLAGS=-json, which the Go
suites' rules pass to `go test`), between a snapshot and a comparison of
the segments on the machine (scripts/leakcheck.sh), which counts as one more
check, "leaks". A suite that fails does not stop the ones after it. Each
suite's output is shown as it comes and kept in build/test-logs/SUITE.log.

What a suite passed and failed is read from what its programs print:
  - "N passed, M failed" on a line of its own (the C tests, the stress
    programs);
  - pytest's summary line ("N passed, M failed, K skipped in 3.2s");
  - go test -json events: one per test and subtest (a test that has
    subtests counts only through them), and a package that fails outside
    any test (build error, TestMain's leak check) counts as one failure.
A suite that exits non-zero without a failure counted is one failure; one
that succeeds without a count (the ABI check, the leak check) is one pass.

The last line is the sum over every suite, "N passed, M failed"; the exit
status is 1 if anything failed.
"""

import json
import os
import re
import subprocess
import sys
import tempfile
import time

BUILD = os.environ.get("BUILD", "build")
MAKE = os.environ.get("MAKE", "make")

C_COUNTS = re.compile(r"^(\d+) passed, (\d+) failed$")
PYTEST_SUMMARY = re.compile(r"\bin \d+(\.\d+)?s\b")
PYTEST_COUNT = re.compile(r"(\d+) (passed|failed|errors?|skipped|xfailed|xpassed)\b")


class GoEvents:
    """Turns go test -json events back into go test's usual terse output
    (failing tests' output, package lines) and counts the tests."""

    def __init__(self):
        self.results = {}  # (package, test) -> "pass" | "fail" | "skip"
        self.output = {}  # (package, test) -> lines, shown if it fails
        self.package_failures = 0
        self.runs = {}  # package -> how many times it started: one suite may test it twice

    def feed(self, event, show):
        action, pkg, test = event.get("Action"), event.get("Package", ""), event.get("Test")
        text = event.get("Output", "")
        if test is None and action == "start":
            self.runs[pkg] = self.runs.get(pkg, 0) + 1
        pkg = (pkg, self.runs.get(pkg, 0))
        if test is None:
            if action == "output" or action == "build-output":
                if text.strip() not in ("PASS", "FAIL") and not text.startswith("=== "):
                    show(text)
            elif action == "fail" and not any(
                    r == "fail" for (p, _), r in self.results.items() if p == pkg):
                self.package_failures += 1
            return
        key = (pkg, test)
        if action == "output":
            self.output.setdefault(key, []).append(text)
        elif action in ("pass", "fail", "skip"):
            self.results[key] = action
            lines = self.output.pop(key, [])
            if action == "fail":
                show("".join(lines))

    def counts(self):
        parents = {(p, t.rsplit("/", 1)[0]) for (p, t) in self.results if "/" in t}
        leaves = [r for key, r in self.results.items() if key not in parents]
        return (leaves.count("pass"),
                leaves.count("fail") + self.package_failures)


def run_suite(name, argv, log_path):
    """Runs one suite; returns (passed, failed, exit status, seconds)."""
    passed = failed = 0
    go = GoEvents()
    start = time.monotonic()
    with open(log_path, "w") as log:
        def show(text):
            sys.stdout.write(text)
            sys.stdout.flush()
            log.write(text)

        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, errors="replace")
        for line in proc.stdout:
            if line.startswith('{"'):
                try:
                    go.feed(json.loads(line), show)
                    continue
                except ValueError:
                    pass
            show(line)
            stripped = line.strip()
            m = C_COUNTS.match(stripped)
            if m:
                passed += int(m.group(1))
                failed += int(m.group(2))
            elif PYTEST_SUMMARY.search(stripped) and PYTEST_COUNT.search(stripped):
                for n, what in PYTEST_COUNT.findall(stripped):
                    if what == "passed":
                        passed += int(n)
                    elif what in ("failed", "error", "errors"):
                        failed += int(n)
        rc = proc.wait()
    go_passed, go_failed = go.counts()
    passed += go_passed
    failed += go_failed
    if rc != 0 and failed == 0:
        failed = 1
    elif rc == 0 and passed == failed == 0:
        passed = 1  # a suite that counts nothing (the ABI check) is one check
    return passed, failed, rc, time.monotonic() - start


def main(suites):
    if not suites:
        print(__doc__.strip().splitlines()[0], file=sys.stderr)
        return 2
    logs = os.path.join(BUILD, "test-logs")
    os.makedirs(logs, exist_ok=True)
    isolated = os.environ.get("SHMLIB_TEST_ISOLATED") == "1"
    print("== segments: " + ("a private /dev/shm and System V table (scripts/isolate.sh)"
                             if isolated else "the machine's, shared: leak checks judge only this run's"))
    # Not in build/: several runs in one tree must not share it.
    fd, snapshot = tempfile.mkstemp(prefix="libshm-leak-before-")
    os.close(fd)
    subprocess.run(["scripts/leakcheck.sh", "snapshot", snapshot], check=True)

    results = []
    for suite in suites:
        print(f"== test-{suite}", flush=True)
        argv = [MAKE, "--no-print-directory", f"test-{suite}", "GOTESTFLAGS=-json"]
        results.append((suite,) + run_suite(suite, argv, os.path.join(logs, suite + ".log")))
    print("== leaks", flush=True)
    results.append(("leaks",) + run_suite(
        "leaks", ["scripts/leakcheck.sh", "compare", snapshot], os.path.join(logs, "leaks.log")))
    os.unlink(snapshot)

    print("== summary (logs in %s/)" % logs)
    for suite, passed, failed, rc, secs in results:
        state = "ok" if failed == 0 else "FAILED"
        print(f"  {suite:<10} {state:<7} {passed:>7} passed {failed:>4} failed {secs:7.1f} s")
    total_passed = sum(r[1] for r in results)
    total_failed = sum(r[2] for r in results)
    print(f"{total_passed} passed, {total_failed} failed")
    return 1 if total_failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
