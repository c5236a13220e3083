"""The built-in methods. Loss-level ones in the submission format are files listed in
`loss_files`; the others are trusted combiners, one module each with a `METHOD`. All are
registered through the `mtl_bench.methods` entry points in pyproject.toml, like a plugin's.
The README's baseline table lists them with their costs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from harness.api import Combiner, MethodInfo, MethodLevel, TrainConfig

HERE = Path(__file__).resolve().parent
# code every trusted combiner depends on: part of their cache keys
SUPPORT_FILES = (HERE / "gradient_base.py", HERE / "solvers.py", HERE.parent / "harness" / "api" / "gradients.py")


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
    )
