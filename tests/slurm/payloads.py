"""Functions the Slurm tests run inside Slurm jobs (importable there by reference)."""

from __future__ import annotations

import os
import sys


def where_am_i() -> tuple[str, str]:
    """The Slurm job id this runs under and the interpreter running it."""
    return os.environ["SLURM_JOB_ID"], sys.executable
