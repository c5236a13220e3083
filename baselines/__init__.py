"""The registered baselines: loss-level ones are files in the submission format."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from harness.combiners import Combiner

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Baseline:
    name: str
    source_path: Path
    description: str
    gradient_combiner: Callable[[], Combiner] | None = None  # None: a MultiTaskLoss file


def _pcgrad() -> Combiner:
    from baselines.pcgrad import PCGradCombiner

    return PCGradCombiner()


BASELINES: dict[str, Baseline] = {
    b.name: b
    for b in (
        Baseline("equal", HERE / "equal.py", "sum of the task losses"),
        Baseline("uncertainty", HERE / "uncertainty.py", "learned log-variances (Kendall et al. 2018)"),
        Baseline("dwa", HERE / "dwa.py", "dynamic weight average (Liu et al. 2019)"),
        Baseline("pcgrad", HERE / "pcgrad.py", "projecting conflicting gradients (Yu et al. 2020)", _pcgrad),
    )
}
