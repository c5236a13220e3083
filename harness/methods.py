"""Methods (submissions and baselines) and the combiners that run them."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from baselines import BASELINES
from harness.combiners import Combiner, InProcessLossRunner, LossLevelCombiner
from harness.contracts import EntryType, MethodSpec, TrainConfig
from harness.errors import HarnessError
from harness.submission_loader import LoadedSubmission, load_submission, read_source


@dataclass(frozen=True)
class Method:
    spec: MethodSpec
    submission: LoadedSubmission | None  # loss-level methods

    def make_combiner(self, config: TrainConfig) -> Combiner:
        if self.spec.kind == "gradient":
            return BASELINES[self.spec.name].gradient_combiner()  # type: ignore[misc]
        assert self.submission is not None
        runner = InProcessLossRunner(self.submission.loss_class, self.submission.path, config)
        return LossLevelCombiner(runner)


def submission_method(
    path: Path, name: str, entry_type: EntryType, loss_names: tuple[str, ...]
) -> Method:
    if name in BASELINES:
        raise HarnessError(f"the name {name!r} belongs to a baseline; pass another --name")
    loaded = load_submission(path, loss_names)
    spec = MethodSpec(
        name=name,
        entry_type=entry_type,
        kind="loss_module",
        source_path=str(path),
        source_sha256=loaded.sha256,
    )
    return Method(spec, loaded)


def baseline_method(name: str, loss_names: tuple[str, ...]) -> Method:
    if name not in BASELINES:
        raise HarnessError(f"unknown baseline {name!r}; known: {', '.join(BASELINES)}")
    baseline = BASELINES[name]
    if baseline.gradient_combiner is not None:
        _, sha256 = read_source(baseline.source_path)
        loaded = None
        kind = "gradient"
    else:
        loaded = load_submission(baseline.source_path, loss_names)
        sha256 = loaded.sha256
        kind = "loss_module"
    spec = MethodSpec(
        name=name,
        entry_type="baseline",
        kind=kind,
        source_path=f"baselines/{baseline.source_path.name}",
        source_sha256=sha256,
    )
    return Method(spec, loaded)
