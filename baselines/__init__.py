"""The built-in methods. Loss-level ones in the submission format are files listed in
`loss_files`; the others are trusted combiners, one module each with a `METHOD`. All are
registered through the `mtl_bench.methods` entry points in pyproject.toml, like a plugin's.
The README's baseline table lists them with their costs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import harness.api.gradients
from harness.api import Combiner, MethodInfo, MethodLevel, TrainConfig

HERE = Path(__file__).resolve().parent
# code every trusted combiner depends on: part of their cache keys
SUPPORT_FILES = (HERE / "gradient_base.py", HERE / "solvers.py", Path(harness.api.gradients.__file__).resolve())
# the trusted combiners among the seed's baselines, which `submit` runs beside a submission
# (MethodInfo.beside_submissions; the loss files set it themselves). Kept here, not in their
# modules: a combiner's module is part of its cache key, and this is not.
BESIDE_SUBMISSIONS = frozenset({"pcgrad"})


def trusted(
    name: str,
    module_file: str,
    make: Callable[[TrainConfig, int], Combiner],
    description: str,
    level: MethodLevel,
    max_tasks: int | None = None,
    helpers: tuple[str, ...] = (),
) -> MethodInfo:
    """A trusted combiner whose cache key hashes its module, the modules in `helpers` (a
    solver of its own) and the shared gradient code."""
    return MethodInfo(
        name=name,
        description=description,
        level=level,
        combiner=make,
        source_files=(Path(module_file).resolve(), *(Path(f).resolve() for f in helpers), *SUPPORT_FILES),
        max_tasks=max_tasks,
        beside_submissions=name in BESIDE_SUBMISSIONS,
    )
