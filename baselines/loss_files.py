"""The baselines written as MultiTaskLoss files in the submission format: they run
in-process (trusted) through the same loader and runner as the sandboxed oracle. This
module is not part of any cache key (the loss files are): equal, uncertainty and dwa, the
seed's baselines, are run beside every submission (`beside_submissions`)."""

from __future__ import annotations

from baselines import HERE
from harness.api import MethodInfo

EQUAL = MethodInfo("equal", "sum of the task losses", "loss", loss_file=HERE / "equal.py", beside_submissions=True)
UNCERTAINTY = MethodInfo(
    "uncertainty",
    "learned log-variances, the seed's form (Kendall et al. 2018)",
    "loss",
    loss_file=HERE / "uncertainty.py",
    max_tasks=2,
    beside_submissions=True,
)
DWA = MethodInfo(
    "dwa", "dynamic weight average (Liu et al. 2019)", "loss", loss_file=HERE / "dwa.py", beside_submissions=True
)
UNCERTAINTY_PAPER = MethodInfo(
    "uncertainty-paper",
    "0.5 exp(-s) L + 0.5 s, the paper's form (Kendall et al. 2018)",
    "loss",
    loss_file=HERE / "uncertainty_paper.py",
    max_tasks=2,
)
GEOMETRIC = MethodInfo(
    "geometric", "geometric mean of the losses (Chennupati et al. 2019)", "loss", loss_file=HERE / "geometric.py"
)
SCALE_INVARIANT = MethodInfo("scale-invariant", "sum of log losses", "loss", loss_file=HERE / "scale_invariant.py")
