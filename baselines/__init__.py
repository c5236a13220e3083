"""The registered baselines: loss-level ones are files in the submission format; the
gradient-level ones (and the loss-level ones that need the job's seed or a post-step hook)
are trusted combiners. The README's baseline table lists them with their costs."""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from harness.combiners import Combiner
from harness.contracts import TrainConfig

HERE = Path(__file__).resolve().parent
# code every trusted combiner depends on: part of their cache keys
GRADIENT_SUPPORT = (HERE / "gradient_base.py", HERE / "solvers.py")


@dataclass(frozen=True)
class Baseline:
    name: str
    source_path: Path
    description: str
    level: str  # "loss" or "gradient"
    gradient_combiner: Callable[[TrainConfig], Combiner] | None = None  # None: a MultiTaskLoss file


# the seed's baselines: `submit` runs these beside a submission; `baselines` runs all
SUBMIT_BASELINES = ("equal", "uncertainty", "dwa", "pcgrad")


def _combiner(module: str, cls: str, with_config: bool = False) -> Callable[[TrainConfig], Combiner]:
    def make(config: TrainConfig) -> Combiner:
        combiner_class = getattr(importlib.import_module(f"baselines.{module}"), cls)
        return combiner_class(config) if with_config else combiner_class()

    return make


def _trusted(name: str, module: str, cls: str, description: str, level: str, with_config: bool = False) -> Baseline:
    return Baseline(name, HERE / f"{module}.py", description, level, _combiner(module, cls, with_config))


BASELINES: dict[str, Baseline] = {
    b.name: b
    for b in (
        Baseline("equal", HERE / "equal.py", "sum of the task losses", "loss"),
        Baseline("uncertainty", HERE / "uncertainty.py", "learned log-variances, the seed's form (Kendall et al. 2018)", "loss"),
        Baseline("dwa", HERE / "dwa.py", "dynamic weight average (Liu et al. 2019)", "loss"),
        _trusted("pcgrad", "pcgrad", "PCGradCombiner", "projecting conflicting gradients (Yu et al. 2020)", "gradient"),
        Baseline("uncertainty-paper", HERE / "uncertainty_paper.py",
                 "0.5 exp(-s) L + 0.5 s, the paper's form (Kendall et al. 2018)", "loss"),
        Baseline("geometric", HERE / "geometric.py", "geometric mean of the losses (Chennupati et al. 2019)", "loss"),
        Baseline("scale-invariant", HERE / "scale_invariant.py", "sum of log losses", "loss"),
        _trusted("rlw", "rlw", "RLWCombiner", "random softmax-normal weights (Lin et al. 2022)", "loss"),
        _trusted("famo", "famo", "FAMOCombiner", "fast adaptive multitask optimization (Liu et al. 2023)", "loss"),
        _trusted("gradnorm", "gradnorm", "GradNormCombiner", "gradient normalisation, alpha 1.5 (Chen et al. 2018)",
                 "gradient", with_config=True),
        _trusted("mgda-ub", "mgda", "MGDAUBCombiner", "min-norm on the representation (Sener and Koltun 2018)", "gradient"),
        _trusted("cagrad", "cagrad", "CAGradCombiner", "conflict-averse gradient, c 0.4 (Liu et al. 2021)", "gradient"),
        _trusted("imtl", "imtl", "IMTLCombiner", "IMTL-L + IMTL-G (Liu et al. 2021)", "gradient", with_config=True),
        _trusted("nash-mtl", "nash_mtl", "NashMTLCombiner", "bargaining solution (Navon et al. 2022)", "gradient"),
        _trusted("aligned-mtl", "aligned_mtl", "AlignedMTLCombiner", "aligned gradients (Senushkin et al. 2023)", "gradient"),
        _trusted("gradvac", "gradvac", "GradVacCombiner", "gradient vaccine, beta 0.01 (Wang et al. 2021)", "gradient"),
        _trusted("db-mtl", "db_mtl", "DBMTLCombiner", "dual-balancing (Lin et al. 2023)", "gradient"),
    )
}
