"""Methods (submissions and baselines) and the combiners that run them."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from baselines import BASELINES, GRADIENT_SUPPORT
from harness.combiners import Combiner, InProcessLossRunner, LossLevelCombiner
from harness.contracts import EntryType, MethodSpec, TrainConfig
from harness.errors import HarnessError
from harness.oracle.client import OracleLossRunner
from harness.oracle.sandbox import OracleLimits, Sandbox
from harness.submission_loader import LoadedSubmission, check_syntax, load_submission, read_source


@dataclass(frozen=True)
class Method:
    """A method and how to run it: trusted baselines in-process, submissions in the oracle."""

    spec: MethodSpec
    submission: LoadedSubmission | None = None  # trusted loss-level baselines
    untrusted_path: Path | None = None  # submissions: run only inside the sandbox
    loss_names: tuple[str, ...] = ()
    sandbox: Sandbox | None = None
    limits: OracleLimits | None = None

    @property
    def sandbox_name(self) -> str:
        return self.sandbox.name if self.sandbox is not None else "in-process (trusted baseline)"

    def make_combiner(self, config: TrainConfig) -> Combiner:
        if self.spec.kind == "gradient":
            return BASELINES[self.spec.name].gradient_combiner(config)  # type: ignore[misc]
        if self.untrusted_path is not None:
            assert self.sandbox is not None and self.limits is not None
            return LossLevelCombiner(
                OracleLossRunner(self.untrusted_path, self.loss_names, config, self.sandbox, self.limits)
            )
        assert self.submission is not None
        runner = InProcessLossRunner(self.submission.loss_class, self.submission.path, config)
        return LossLevelCombiner(runner)


def check_in_sandbox(
    path: Path, loss_names: tuple[str, ...], sandbox: Sandbox, limits: OracleLimits
) -> None:
    """Load and probe the submission inside the sandbox; SubmissionError if unusable."""
    OracleLossRunner(path, loss_names, TrainConfig(epochs=1), sandbox, limits).close()


def submission_method(
    path: Path, name: str, entry_type: EntryType, loss_names: tuple[str, ...],
    sandbox: Sandbox, limits: OracleLimits, check: bool = True,
) -> Method:
    """A submission as a method. With `check`, it is checked without importing it here:
    syntax in this process (compile only), everything else in the sandboxed oracle."""
    if name in BASELINES:
        raise HarnessError(f"the name {name!r} belongs to a baseline; pass another --name")
    source, sha256 = read_source(path)
    if check:
        check_syntax(path, source)
        check_in_sandbox(path, loss_names, sandbox, limits)
    spec = MethodSpec(
        name=name,
        entry_type=entry_type,
        kind="loss_module",
        source_path=str(path),
        source_sha256=sha256,
    )
    return Method(spec, untrusted_path=path.resolve(), loss_names=loss_names, sandbox=sandbox, limits=limits)


def baseline_method(name: str, loss_names: tuple[str, ...]) -> Method:
    if name not in BASELINES:
        raise HarnessError(f"unknown baseline {name!r}; known: {', '.join(BASELINES)}")
    baseline = BASELINES[name]
    if baseline.gradient_combiner is not None:  # its code and the shared gradient code it uses
        digest = hashlib.sha256()
        for path in (baseline.source_path, *GRADIENT_SUPPORT):
            digest.update(read_source(path)[1].encode())
        sha256 = digest.hexdigest()
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
    return Method(spec, submission=loaded, loss_names=loss_names)
