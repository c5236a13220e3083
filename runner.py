"""Entry point in a checkout: `python runner.py --help` (the same as `python -m harness`)."""

import sys

from harness.cli import main

if __name__ == "__main__":
    sys.exit(main())
