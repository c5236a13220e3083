"""The harness's own provenance for run records: its git commit."""

from __future__ import annotations

import functools
import subprocess
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


@functools.lru_cache(maxsize=1)
def git_commit() -> str:
    """`git describe --always --dirty --abbrev=12` of the harness checkout, or 'unknown'
    when it is not a git checkout (an installed copy, a tarball) or git is missing."""
    if not (REPO_ROOT / ".git").exists():  # an installed copy: no checkout of its own
        return "unknown"
    try:
        done = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "describe", "--always", "--dirty", "--abbrev=12"],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return done.stdout.strip() if done.returncode == 0 and done.stdout.strip() else "unknown"
