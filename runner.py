"""Entry point: `python runner.py --help`. All logic lives in harness/."""
import sys

from harness.cli import main

if __name__ == "__main__":
    sys.exit(main())
