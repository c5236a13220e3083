"""The harness's own provenance for run records: its git commit, the torchvision version."""

from __future__ import annotations

import ast
import functools
import importlib.metadata
import importlib.util
import subprocess
import sys
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


@functools.lru_cache(maxsize=1)
def torchvision_version() -> str:
    """torchvision's `__version__` (with its build tag, e.g. `0.29.1+cu130`) without importing
    it: its import pulls in torch._dynamo (about 2 s), which a CIFAR job never needs."""
    loaded = sys.modules.get("torchvision")
    if loaded is not None:
        return str(loaded.__version__)
    spec = importlib.util.find_spec("torchvision")
    version_file = Path(spec.origin).with_name("version.py") if spec is not None and spec.origin else None
    if version_file is not None and version_file.is_file():
        for node in ast.parse(version_file.read_text()).body:
            if (
                isinstance(node, ast.Assign)
                and any(isinstance(t, ast.Name) and t.id == "__version__" for t in node.targets)
                and isinstance(node.value, ast.Constant)
            ):
                return str(node.value.value)
    try:
        return importlib.metadata.version("torchvision")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"
