"""python3 -m shmlib: the command line (see shmlib.cli)."""

import sys

from .cli import main

sys.exit(main())
