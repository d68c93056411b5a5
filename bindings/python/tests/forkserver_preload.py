"""Preloaded into the multiprocessing forkserver by test_multiprocessing.

It imports shmlib there, as Python 3.14's default start method does when the
main module imports shmlib (the forkserver preloads __main__), and leaves a
mark so that the test knows the import really happened in the server.
"""

import os

import shmlib  # noqa: F401  (the import is the point)

with open(os.environ["SHMLIB_TEST_PRELOAD_MARK"], "w") as mark:
    mark.write(str(os.getpid()))
