"""`python -m harness`: the command-line interface (the same as `mtl-bench` and `runner.py`)."""

import sys

from harness.cli import main

if __name__ == "__main__":
    sys.exit(main())
