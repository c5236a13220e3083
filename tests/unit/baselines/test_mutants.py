"""Mutation testing of the cross-checks: deliberately broken one-line copies of the baselines
(the kinds of bug a real slip makes: a missing x T or / T, weights scaled, a sign ignored,
tasks swapped, a warm-up off by one epoch, a temperature or rate changed, a projection onto
the wrong gradient, a random order fixed) must each fail at least one cross-check of their
method: the loss-level one (test_loss_level_cross_check.py) or the gradient-level one
(test_cross_check.py), for T = 2 and 3.

A mutant is applied at test time only: the method's source text is read, the one line
replaced (it must occur exactly once), and the result is loaded afresh, never written into
baselines/: a MultiTaskLoss file is written to a temporary folder and loaded as the harness
loads a loss file (load_submission, then the in-process loss runner behind the
LossLevelCombiner); a trusted combiner's module is exec'd into a new module and its
METHOD's factory builds the combiner, as `make_combiner` does.

Some mutants must also be killed by one named check on its own (`REQUIRED_KILLERS`): the
check that was added to catch that kind of bug (Nash-MTL solved on K / |K|_F without the
rescale changes only the norm of an update its clip brings back to 1 at the plain sets'
scale, so the small-gradient case must catch it in the shared gradient itself; FairGrad's
missing x T likewise only shows where its clip does not bind, the "large" case).

The test prints a table of the mutants and the check that killed each, and fails, with the
table, if any survives.
"""

from __future__ import annotations

import importlib
import sys
import types
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import pytest

from harness import registry
from harness.api.method import Combiner
from harness.methods.loss_level import InProcessLossRunner, LossLevelCombiner
from harness.oracle.guest.loader import load_submission

from .test_cross_check import CONFIG as GRADIENT_CONFIG
from .test_cross_check import KNOWN_DEVIATIONS, VARIANTS, check_gradient_method, variants_of
from .test_loss_level_cross_check import CONFIG as LOSS_CONFIG
from .test_loss_level_cross_check import check_loss_method


@dataclass(frozen=True)
class Mutant:
    method: str  # the registered name
    kind: str  # the kind of bug
    old: str  # exact text in the method's source, once
    new: str


FROBENIUS = "solved on K / |K|_F, no rescale (the old rule)"
MISSING_T = "missing x T (the review's)"
MUTANTS = (
    # --- loss level ----------------------------------------------------------------------
    Mutant("equal", "weights scaled x2", "return sum(losses)", "return 2 * sum(losses)"),
    Mutant("uncertainty", "sign of s ignored", "torch.exp(-self.log_vars)", "torch.exp(self.log_vars)"),
    Mutant("uncertainty-paper", "the 0.5 on s dropped", "0.5 * self.log_vars", "self.log_vars"),
    Mutant("dwa", "temperature 2 -> 1", "TEMPERATURE = 2.0", "TEMPERATURE = 1.0"),
    Mutant(
        "dwa",
        "ratio inverted (epochs swapped)",
        "ratio = self.epoch_means[-1] / self.epoch_means[-2]",
        "ratio = self.epoch_means[-2] / self.epoch_means[-1]",
    ),
    Mutant("dwa", "missing x T", "self.weights = len(ratio) * torch.softmax", "self.weights = torch.softmax"),
    Mutant("dwa", "warm-up one epoch longer", "if len(self.epoch_means) >= 2:", "if len(self.epoch_means) >= 3:"),
    Mutant(
        "geometric", "missing / T (sum for mean)", "torch.log(losses + 1e-8).mean()", "torch.log(losses + 1e-8).sum()"
    ),
    Mutant("scale-invariant", "weights scaled / T", "+ 1e-8).sum()", "+ 1e-8).mean()"),
    Mutant(
        "rlw",
        "the job seed, not its own stream",
        'self.generator.manual_seed(stream_seed(seed, "rlw"))',
        "self.generator.manual_seed(seed)",
    ),
    Mutant("rlw", "missing softmax normalisation (x T)", "return torch.softmax(", "return tasks * torch.softmax("),
    Mutant("rlw", "random draw fixed", "torch.randn(tasks, generator=generator)", "torch.zeros(tasks)"),
    Mutant("famo", "weight lr x10", "WEIGHT_LR, GAMMA = 0.025, 0.01", "WEIGHT_LR, GAMMA = 0.25, 0.01"),
    Mutant(
        "famo",
        "sign of the loss decrease ignored",
        "delta = torch.log(self.previous) - torch.log(after)",
        "delta = torch.log(after) - torch.log(self.previous)",
    ),
    Mutant("famo", "normaliser c dropped", "c = (z / values).sum()", "c = 1.0"),
    Mutant("stch", "warm-up one epoch shorter", "WARMUP_EPOCHS = 4", "WARMUP_EPOCHS = 3"),
    Mutant("stch", "temperature mu 1 -> 0.5", "MU = 1.0", "MU = 0.5"),
    Mutant("stch", "missing x T", "return len(values) * p / (nadir * ratio)", "return p / (nadir * ratio)"),
    Mutant("igb", "base epoch off by one", "\nBASE_EPOCH = 1\n", "\nBASE_EPOCH = 0\n"),
    Mutant("igb", "missing x T", "return values.shape[0] * torch.softmax(", "return torch.softmax("),
    Mutant(
        "igb",
        "weights reported, not applied",
        "total = (weights.to(stacked.dtype) * torch.log(stacked + 1e-8)).sum()",
        "total = torch.log(stacked + 1e-8).sum()",
    ),
    Mutant(
        "famo",
        "tasks swapped in the backward only",
        "grad_tensors=[w.to(loss.dtype) for w, loss in zip(weights, losses)]",
        "grad_tensors=[w.to(loss.dtype) for w, loss in zip(weights.flip(0), losses)]",
    ),
    Mutant("igb", "gap inverted", "torch.softmax(values / base, dim=0)", "torch.softmax(base / values, dim=0)"),
    # --- gradient level --------------------------------------------------------------------
    Mutant("pcgrad", "projection when aligned", "torch.clamp(dot, max=0.0)", "torch.clamp(dot, min=0.0)"),
    Mutant(
        "pcgrad",
        "projection onto the wrong gradient",
        "result = result - coefficient * other",
        "result = result - coefficient * grad",
    ),
    Mutant(
        "pcgrad",
        "random order fixed",
        "for j in torch.randperm(len(grads), generator=generator).tolist():",
        "for j in range(len(grads)):",
    ),
    Mutant("cagrad", "c 0.4 -> 0.5", "C = 0.4", "C = 0.5"),
    Mutant("cagrad", "missing x T", "coefficients = [count * (1.0 / count", "coefficients = [(1.0 / count"),
    Mutant("gradvac", "beta 0.01 -> 0.5", "BETA = 0.01", "BETA = 0.5"),
    Mutant("db-mtl", "beta 0.9 -> 0.5", "BETA, BETA_SIGMA = 0.9, 0.0", "BETA, BETA_SIGMA = 0.5, 0.0"),
    Mutant(
        "db-mtl",
        "scaled to the smallest norm",
        "scales = norms.max() / (norms + 1e-8)",
        "scales = norms.min() / (norms + 1e-8)",
    ),
    Mutant(
        "mgda-ub",
        "tasks swapped",
        "return Direction(None, weights, weights)",
        "return Direction(None, weights.flip(0), weights)",
    ),
    Mutant(
        "excess-mtl",
        "heads not weighted",
        "return Direction(weights @ grads, weights, weights)",
        "return Direction(weights @ grads, None, weights)",
    ),
    Mutant("excess-mtl", "step size x10", "ROBUST_STEP_SIZE = 1e-2", "ROBUST_STEP_SIZE = 1e-1"),
    Mutant("gradnorm", "alpha 1.5 -> 1", "ALPHA = 1.5", "ALPHA = 1.0"),
    Mutant(
        "graddrop",
        "sign of the representation ignored",
        "signs = torch.sign(representation.detach())",
        "signs = torch.ones_like(representation.detach())",
    ),
    Mutant(
        "graddrop",
        "the first sample's signs for the whole batch",
        "signs = torch.sign(representation.detach()).reshape(batch, -1).to(grads.dtype)",
        "signs = torch.sign(representation.detach()[:1]).reshape(1, -1).expand(batch, -1).to(grads.dtype)",
    ),
    Mutant(
        "moco",
        "beta 0.5 -> 0.1",
        "BETA, BETA_SIGMA, GAMMA, GAMMA_SIGMA, RHO = 0.5,",
        "BETA, BETA_SIGMA, GAMMA, GAMMA_SIGMA, RHO = 0.1,",
    ),
    Mutant(
        "imtl",
        "heads trained on the raw losses",
        "torch.autograd.backward(torch.stack(scaled).sum(), inputs=[*self.heads, self.scales])",
        "torch.autograd.backward(torch.stack(scaled).sum(), inputs=[self.scales]); "
        "torch.autograd.backward(torch.stack(losses).sum(), inputs=self.heads)",
    ),
    Mutant(
        "upgrad",
        "missing / T",
        "torch.full((count,), 1.0 / count, dtype=torch.float64)",
        "torch.full((count,), 1.0, dtype=torch.float64)",
    ),
    Mutant(
        "dualproj",
        "weights scaled x2",
        "return Direction(to_device(weights, grads) @ grads, None, weights)",
        "return Direction(2 * to_device(weights, grads) @ grads, None, weights)",
    ),
    Mutant(
        "aligned-mtl",
        "weights scaled x2",
        "return Direction(to_device(alpha, grads) @ grads, None, alpha)",
        "return Direction(2 * to_device(alpha, grads) @ grads, None, alpha)",
    ),
    Mutant(
        "nash-mtl",
        "weights x7 (the review's broken copy)",
        "alpha[active] = nash_weights(sub / frobenius) / math.sqrt(frobenius)",
        "alpha[active] = 7 * nash_weights(sub / frobenius) / math.sqrt(frobenius)",
    ),
    Mutant(
        "nash-mtl",
        FROBENIUS,
        "alpha[active] = nash_weights(sub / frobenius) / math.sqrt(frobenius)",
        "alpha[active] = nash_weights(sub / frobenius)",
    ),
    Mutant("nash-mtl", "clip removed", "max_shared_norm = MAX_NORM", "max_shared_norm = None"),
    Mutant(
        "nash-mtl",
        "heads not weighted",
        "return Direction(None, alpha, alpha)",
        "return Direction(alpha @ grads, None, alpha)",
    ),
    Mutant(
        "fairgrad",
        MISSING_T,
        "return gram.shape[0] * fairgrad_weights(gram, alpha)",
        "return fairgrad_weights(gram, alpha)",
    ),
    Mutant("fairgrad", "alpha 2 -> 1", "ALPHA = 2.0", "ALPHA = 1.0"),
    Mutant("fairgrad", "clip removed", "max_shared_norm = MAX_NORM", "max_shared_norm = None"),
    Mutant(
        "fairgrad",
        "heads weighted (LibMTL's variant)",
        "return Direction(coefficients @ grads, None, coefficients)",
        "return Direction(coefficients @ grads, coefficients, coefficients)",
    ),
)
# (method, kind) -> the check that must kill the mutant by itself, and what it must say
REQUIRED_KILLERS = {
    ("nash-mtl", FROBENIUS): ("gradient small", "the combined gradient differs"),
    ("fairgrad", MISSING_T): ("gradient large", "the combined gradient differs"),
}

LOADED, _ = registry.methods.load_all()


def _mutated(source: str, mutant: Mutant) -> str:
    count = source.count(mutant.old)
    assert count == 1, f"{mutant.method} ({mutant.kind}): the mutated text occurs {count} times, not once"
    return source.replace(mutant.old, mutant.new)


def mutant_factory(mutant: Mutant, folder: Path, monkeypatch: pytest.MonkeyPatch):
    """A `make(loss_names) -> Combiner` for the mutated method, built as the harness builds
    the original."""
    info = LOADED[mutant.method]
    if info.loss_file is not None:
        path = folder / Path(info.loss_file).name
        path.write_text(_mutated(Path(info.loss_file).read_text(), mutant))

        def make_loss(names: tuple[str, ...]) -> Combiner:
            loaded = load_submission(path, names)
            return LossLevelCombiner(InProcessLossRunner(loaded.loss_class, loaded.path, LOSS_CONFIG))

        return make_loss
    assert info.combiner is not None
    original = importlib.import_module(info.combiner.__module__)
    file = Path(original.__file__ or "")
    module = types.ModuleType(f"{original.__name__}_mutant")
    module.__file__ = str(file)
    monkeypatch.setitem(sys.modules, module.__name__, module)  # dataclasses look their module up
    exec(compile(_mutated(file.read_text(), mutant), str(file), "exec"), module.__dict__)  # noqa: S102
    config = LOSS_CONFIG if info.level == "loss" else GRADIENT_CONFIG
    return lambda names: module.METHOD.combiner(config, len(names))


def checks(method: str):
    """(label, check(tasks, make)) for the method: the loss-level cross-check, or the
    gradient-level one, plain and then its batch and small-gradient variants."""
    if LOADED[method].level == "loss":
        yield "loss-level", lambda tasks, make: check_loss_method(method, tasks, make)
        return
    yield "gradient", lambda tasks, make: check_gradient_method(method, tasks, make)
    for variant in variants_of(method):
        if (method, variant) not in KNOWN_DEVIATIONS:
            batch, factor = VARIANTS[variant]
            yield f"gradient {variant}", partial(_variant, method, batch, factor)


def _variant(method: str, batch: int, factor: float, tasks: int, make) -> None:
    check_gradient_method(method, tasks, make, batch, factor)


def killer(mutant: Mutant, make) -> str | None:
    """The first check that fails on the mutant, as 'check: reason', or None if all pass."""
    for label, check in checks(mutant.method):
        for tasks in (2, 3):
            if LOADED[mutant.method].refusal(tasks) is not None:
                continue
            try:
                check(tasks, make)
            except Exception as exc:  # noqa: BLE001 - an assertion or a crash both kill the mutant
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                return f"{label} T={tasks}: {first[:110]}"
    return None


def test_there_are_enough_mutants_of_known_methods() -> None:
    assert len(MUTANTS) >= 20
    assert {m.method for m in MUTANTS} <= set(LOADED)
    assert {"nash-mtl", "fairgrad"} <= {m.method for m in MUTANTS}
    assert set(REQUIRED_KILLERS) <= {(m.method, m.kind) for m in MUTANTS}


def test_some_mutants_are_killed_by_their_own_check(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each of REQUIRED_KILLERS fails its named check on its own, for T = 2 and 3."""
    for index, mutant in enumerate(m for m in MUTANTS if (m.method, m.kind) in REQUIRED_KILLERS):
        label, message = REQUIRED_KILLERS[mutant.method, mutant.kind]
        folder = tmp_path / str(index)
        folder.mkdir()
        make = mutant_factory(mutant, folder, monkeypatch)
        check = dict(checks(mutant.method))[label]
        for tasks in (2, 3):
            with pytest.raises(AssertionError, match=message):
                check(tasks, make)


def test_every_mutant_is_killed_by_a_cross_check(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rows, survivors = [], []
    for index, mutant in enumerate(MUTANTS):
        folder = tmp_path / str(index)
        folder.mkdir()
        result = killer(mutant, mutant_factory(mutant, folder, monkeypatch))
        if result is None:
            survivors.append(mutant)
        rows.append(f"{mutant.method:18} {mutant.kind:40} {result or 'SURVIVED'}")
    table = "\n".join(rows)
    print("\n" + table)
    assert not survivors, f"{len(survivors)} mutant(s) survived the cross-checks:\n{table}"


def test_the_unmutated_copies_pass_every_check(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The control: each method loaded through the mutants' own path with its text unchanged
    passes its checks, so a killed mutant was killed by its one changed line."""
    failed = []
    for index, method in enumerate(sorted({mutant.method for mutant in MUTANTS})):
        first = next(mutant for mutant in MUTANTS if mutant.method == method)
        folder = tmp_path / str(index)
        folder.mkdir()
        result = killer(first, mutant_factory(Mutant(method, "unchanged", first.old, first.old), folder, monkeypatch))
        if result is not None:
            failed.append(f"{method}: {result}")
    assert not failed, "\n".join(failed)
