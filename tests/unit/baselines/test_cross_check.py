"""An independent cross-check of every gradient-level method: for 20 fixed random gradient
sets (T = 2 and 3: conflicting pairs, one zero gradient, norms from 1/4 to 4), the combined
gradient the registered method writes into the shared parameters through its real
`make_combiner(config)`, `attach` and `backward` equals a from-scratch computation of the
paper's (or the authors' code's) formula in tests/unit/baselines/references/, which imports
nothing from `baselines/` and from `harness/` only `stream_seed` (the seed hash that the
random methods' draws start from, not a solver).

The synthetic model makes the task gradients exactly the chosen set: the trunk outputs its
one parameter theta (1, P) (the representation z = theta, so a method's gradients with
respect to the heads' input or to the shared parameters are the same vectors), and head i
returns L_i = (g_i . z) - (g_i . z).detach() + (a_i h_i) - (a_i h_i).detach() + c_i, whose
value is c_i and whose gradients are g_i (z) and a_i (its own parameter h_i). theta is
2-dimensional, so it is also GradNorm's "last shared layer" (grad_W L_i = g_i), and of both
signs, so GradDrop's sign(z) matters (its reference is given z). Every method runs through its real backward (GradNorm too: a
SharedGradientCombiner that backpropagates its weighted loss), one combiner for the 20
steps, so stateful methods carry their state; the reference sees the raw g_i and L_i and
applies any loss transform (IMTL's scales, DB-MTL's logs) itself. Every registered
gradient-level method must have a reference module whose NAME is its name. Besides these
sets, every method also runs two variants (`VARIANTS`): the representation a batch of 2
(GradDrop's reference for a batch: references/_graddrop_batch.py) and every gradient scaled
by 2^-6 (norms below 1: no clip or rescaling hides there; Nash-MTL's update still has norm 1
there, its alpha growing as 1 / |g|, which is what tells the raw Gram matrix from one divided
by its Frobenius norm; FairGrad's grows as |g|^(-1/3) and its clip binds), and FairGrad a
third, "large" (every gradient times 2^12: its clip binds on none of those sets).

The heads' gradients are checked too (`HEAD_RULES`): head i must get c_i a_i, its own task's
gradient times the coefficient the method's rule gives that task's loss outside the shared
parameters: 1 (the harness's rule, harness/api/gradients.py: heads get their own task's
gradient, unscaled) unless the method trains every parameter on one weighted or transformed
loss (MGDA-UB, GradNorm and ExcessMTL weight it by their task weights, recovered here from the
reference's combined gradient; DB-MTL's is log L_i; IMTL's exp(s_i) L_i - s_i; Nash-MTL's
alpha_i L_i, alpha from its reference, the clip being on the shared gradient only). FairGrad's
heads get 1: the authors back-propagate every loss unscaled and overwrite only the shared
parameters' gradient.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Callable
from types import ModuleType, SimpleNamespace
from typing import Any, cast

import pytest
import torch
from torch import nn

from harness import registry
from harness.api.method import Combiner, StepContext
from harness.api.records import TrainConfig
from harness.methods.resolve import registered_method

from . import references
from .references._graddrop_batch import BatchReference

SIZE, SETS, SEED = 8, 20, 7
ZERO_SET, ZERO_TASK = 4, 1  # the set in which one task's gradient is zero
# The references hard-code the protocol these give the stateful methods' own optimisers
# (IMTL's scales, GradNorm's weights): TrainConfig's defaults lr 0.1, momentum 0.9,
# weight decay 5e-4, and the step's lr 0.1.
CONFIG = TrainConfig(epochs=1)
CONTEXT = StepContext(epoch=0, total_epochs=1, lr=0.1)
# The tolerance, 1e-6, relative to the step's scale S = max(1, |want|, sum_i |g_i|)
# (every check is then |got - want| <= 1e-6 S elementwise). Relative, because every
# project combiner takes the task gradients in float32 (harness/api/gradients.py
# flat_gradients casts them; IMTL and DB-MTL also take loss.float()), so its answer carries
# float32 rounding (unit roundoff 6e-8) of terms as large as S: a few dozen roundings stay
# below 1e-6 S (measured on these sets: at most 4e-7 S, DB-MTL, whose log-loss gradients
# g_i / L_i are up to 4 times the raw ones), while the references compute in float64.
TOLERANCE = 1e-6


# the loss-level methods' references (test_loss_level_cross_check.py), not one module per method
LOSS_LEVEL_MODULES = frozenset({"loss_level"})


def _discover_references() -> dict[str, ModuleType]:
    found: dict[str, ModuleType] = {}
    for info in pkgutil.iter_modules(references.__path__):
        if info.name.startswith("_") or info.name in LOSS_LEVEL_MODULES:  # helpers, loss-level references
            continue
        module = importlib.import_module(f"{references.__name__}.{info.name}")
        name = getattr(module, "NAME", None)
        assert isinstance(name, str), f"references/{info.name}.py has no NAME"
        assert name not in found, f"two references for {name!r}: {found[name].__name__} and {module.__name__}"
        found[name] = module
    return found


REFERENCES = _discover_references()
LOADED, BROKEN = registry.methods.load_all()
GRADIENT_LEVEL = sorted(name for name, info in LOADED.items() if info.level == "gradient")


# --- the gradient sets -----------------------------------------------------------------


def gradient_sets(tasks: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """SETS fixed (grads (T, P), losses (T,)) pairs in float64, every value representable in
    float32 (so the combiners' float32 copies are exact): norms 2^-2..2^2 times a random
    direction's; in every third set task 1 conflicts with task 0 (cosine about -0.45), in
    every third set from the second (T = 3) task 2 conflicts with both; set ZERO_SET has a
    zero gradient for task ZERO_TASK. Losses in [0.25, 3]."""
    generator = torch.Generator().manual_seed(100 + tasks)
    sets = []
    for index in range(SETS):
        scales = 2.0 ** torch.randint(-2, 3, (tasks,), generator=generator).float()
        grads = torch.randn(tasks, SIZE, generator=generator) * scales[:, None]
        if index % 3 == 0:
            first, second = grads[0], grads[1]
            second = second - (second @ first) / (first @ first) * first
            grads[1] = second - 0.5 * second.norm() / first.norm() * first
        if tasks == 3 and index % 3 == 1:
            mixed = grads[0] / grads[0].norm() + grads[1] / grads[1].norm()
            grads[2] = 0.3 * grads[2] - grads[2].norm() * mixed
        if index == ZERO_SET:
            grads[ZERO_TASK] = 0.0
        losses = 0.25 + 2.75 * torch.rand(tasks, generator=generator)
        sets.append((grads.double(), losses.double()))  # float32 values, held in float64
    return sets


def test_the_gradient_sets_cover_the_cases() -> None:
    for tasks in (2, 3):
        sets = gradient_sets(tasks)
        conflicting = sum(any(float(g[i] @ g[j]) < 0 for i in range(tasks) for j in range(i)) for g, _ in sets)
        assert conflicting >= SETS // 3, (tasks, conflicting)
        assert float(sets[ZERO_SET][0][ZERO_TASK].abs().max()) == 0.0
        norms = torch.cat([g.norm(dim=1) for g, _ in sets])
        assert float(norms[norms > 0].max() / norms[norms > 0].min()) > 10
        assert all(torch.equal(g, g.float().double()) and bool((c > 0).all()) for g, c in sets)


# --- the synthetic model ---------------------------------------------------------------


class Trunk(nn.Module):
    def __init__(self, batch: int = 1) -> None:
        super().__init__()
        self.batch = batch
        # theta of both signs, none 0: GradDrop's sign(z) flips some features (its reference gets z)
        self.weight = nn.Parameter(torch.linspace(-1.5, 1.5, SIZE, dtype=torch.float64).reshape(1, SIZE))

    def forward(self) -> torch.Tensor:
        # z = theta, as `batch` representations of SIZE / batch features: d z / d theta is the identity
        return self.weight.clone().view(self.batch, -1)


class Head(nn.Module):
    """L = (g . z) - (g . z).detach() + (a h) - (a h).detach() + c: value c, d L / d z = g,
    d L / d h = a."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(1, dtype=torch.float64))

    def forward(self, z: torch.Tensor, gradient: torch.Tensor, own: float, value: float) -> torch.Tensor:
        linear = (gradient.reshape(z.shape) * z).sum() + (own * self.weight).sum()
        return linear - linear.detach() + value


class SyntheticModel(nn.Module):
    def __init__(self, tasks: int, batch: int = 1) -> None:
        super().__init__()
        self.trunk = Trunk(batch)
        self.heads = nn.ModuleList(Head() for _ in range(tasks))

    def shared_parameters(self) -> list[nn.Parameter]:
        return [self.trunk.weight]

    def task_parameters(self, task_index: int) -> list[nn.Parameter]:
        return list(self.heads[task_index].parameters())

    def losses(self, grads: torch.Tensor, values: torch.Tensor) -> list[torch.Tensor]:
        z = self.trunk()
        return [head(z, grads[i], 1.0 + i, float(values[i])) for i, head in enumerate(self.heads)]


def test_the_synthetic_model_gives_the_chosen_gradients_and_values() -> None:
    model = SyntheticModel(3)
    grads, values = gradient_sets(3)[0]
    losses = model.losses(grads, values)
    for i, loss in enumerate(losses):
        assert float(loss.detach()) == float(values[i]) and loss.dtype == torch.float64
        (shared,) = torch.autograd.grad(loss, model.trunk.weight, retain_graph=True)
        assert torch.equal(shared.reshape(-1), grads[i])


# --- the cross-check ---------------------------------------------------------------------


def test_every_registered_method_loads_so_its_level_is_known() -> None:
    """A method that does not load cannot be told gradient-level or not: it would escape the
    cross-check, so it fails here (test_every_method.py fails it too)."""
    assert not BROKEN, "\n".join(f"{name}: {error}" for name, error in sorted(BROKEN.items()))


MakeCombiner = Callable[[tuple[str, ...]], Combiner]


def registered(name: str) -> MakeCombiner:
    return lambda names: registered_method(name, names).make_combiner(CONFIG)


@pytest.mark.parametrize("tasks", (2, 3))
@pytest.mark.parametrize("name", GRADIENT_LEVEL)
def test_combined_gradient_matches_the_from_scratch_reference(name: str, tasks: int) -> None:
    assert name in REFERENCES, (
        f"gradient-level method {name!r} has no reference in tests/unit/baselines/references/ "
        f"(a module with NAME = {name!r} and a Reference class)"
    )
    refusal = LOADED[name].refusal(tasks)
    if refusal is not None:
        pytest.skip(f"{name} refuses {tasks} tasks: {refusal}")
    check_gradient_method(name, tasks, registered(name))


# The coefficient of head i's own gradient a_i, per method (every gradient-level method is
# listed: test_every_gradient_level_method_has_a_head_rule).
UNIT, WEIGHTS, LOG, IMTL, REFERENCE = "unit", "weights", "log", "imtl", "reference"
HEAD_RULES = {
    "aligned-mtl": UNIT,
    "cagrad": UNIT,
    "db-mtl": LOG,  # log(L_i + 1e-8): a_i / (L_i + 1e-8)
    "dualproj": UNIT,
    "excess-mtl": WEIGHTS,
    "fairgrad": UNIT,  # the authors' losses[i].backward() for every i, then only the shared overwritten
    "graddrop": UNIT,
    "gradnorm": WEIGHTS,
    "gradvac": UNIT,
    "imtl": IMTL,  # exp(s_i) L_i - s_i with this step's scales
    "mgda-ub": WEIGHTS,
    "moco": UNIT,
    "nash-mtl": REFERENCE,  # alpha_i (the reference's head_weights), unclipped
    "pcgrad": UNIT,
    "upgrad": UNIT,
}


def test_every_gradient_level_method_has_a_head_rule() -> None:
    assert set(GRADIENT_LEVEL) <= set(HEAD_RULES), sorted(set(GRADIENT_LEVEL) - set(HEAD_RULES))


def head_coefficients(
    name: str, reference: object, grads: torch.Tensor, values: torch.Tensor, want: torch.Tensor
) -> list[float | None]:
    """c_i for each head (None: not determined, a zero-gradient task's weight). `reference`
    holds IMTL's scales from before its step, Nash-MTL's alphas from after it."""
    rule = HEAD_RULES[name]
    if rule == REFERENCE:
        return list(reference.head_weights)  # type: ignore[attr-defined]
    if rule == UNIT:
        return [1.0] * len(values)
    if rule == LOG:
        return [1.0 / (float(v) + 1e-8) for v in values]
    if rule == IMTL:
        return [float(torch.exp(s)) for s in reference.scales]  # type: ignore[attr-defined]
    # WEIGHTS: want = w @ grads, w recovered by least squares over the non-zero gradients
    live = [i for i in range(len(values)) if float(grads[i].norm()) > 0]
    solution = torch.linalg.lstsq(grads[live].T, want[:, None]).solution[:, 0]
    weights: list[float | None] = [None] * len(values)
    for row, i in enumerate(live):
        weights[i] = float(solution[row])
    return weights


# Variants: a batch of 2 representations of 4 features (GradDrop's batch sum and signs per
# sample; the "-UB" methods' flattened representation), and the sets scaled by 2^-6, total
# norms well below 1 (a method that normalises or clips where its rule does not would show).
# FairGrad's update grows as |g|^(-1/3) (alpha 2): its clip binds on every plain and small set
# (|T w G| from 1.2 to 38), so it also runs "large", the sets scaled by 2^12, where it binds on
# none (|T w G| <= 0.6): its unclipped rule (the x T, w's scaling) is checked there.
VARIANTS = {"batch-2": (2, 1.0), "small": (1, 2.0**-6), "large": (1, 2.0**12)}
VARIANT_ONLY = {"large": ("fairgrad",)}  # variants that only these methods run (the others: all)


def variants_of(name: str) -> list[str]:
    return [variant for variant in VARIANTS if name in VARIANT_ONLY.get(variant, (name,))]


# What the variants find and the cross-check records until baselines/ settles it: (method, case)
# -> why. Such a case must still fail (a fix makes the xfail's test fail, and the entry is then
# removed). None at present (CAGrad's guards, found here, now sit where the authors put them).
KNOWN_DEVIATIONS: dict[tuple[str, str], str] = {}
VARIANT_CASES = [(name, variant) for name in GRADIENT_LEVEL for variant in variants_of(name)]


@pytest.mark.parametrize("tasks", (2, 3))
@pytest.mark.parametrize(("name", "variant"), VARIANT_CASES)
def test_combined_gradient_matches_the_reference_on_a_batch_and_on_small_gradients(
    name: str, tasks: int, variant: str
) -> None:
    refusal = LOADED[name].refusal(tasks)
    if refusal is not None:
        pytest.skip(f"{name} refuses {tasks} tasks: {refusal}")
    batch, factor = VARIANTS[variant]
    if (name, variant) in KNOWN_DEVIATIONS:  # must still fail, else the entry is stale
        with pytest.raises(AssertionError, match="differs from the reference"):
            check_gradient_method(name, tasks, registered(name), batch, factor)
        pytest.xfail(KNOWN_DEVIATIONS[name, variant])
    check_gradient_method(name, tasks, registered(name), batch, factor)


def check_gradient_method(name: str, tasks: int, make: MakeCombiner, batch: int = 1, factor: float = 1.0) -> None:
    """The method built by `make` beside its reference on the gradient sets (every gradient
    times `factor`, the representation a batch of `batch`); an AssertionError says at which
    step and what differs (test_mutants.py calls it too)."""
    module = REFERENCES[name]
    loss_names = tuple(f"task{i}" for i in range(tasks))
    combiner = make(loss_names)
    model = SyntheticModel(tasks, batch)
    combiner.attach(model, SEED)
    reference: Any = (
        BatchReference(tasks, SEED, batch) if name == "graddrop" and batch > 1 else module.Reference(tasks, SEED)
    )
    theta = model.trunk.weight
    for step, (grads, values) in enumerate(gradient_sets(tasks)):
        grads = grads * factor  # a power of 2: still exact in float32
        model.zero_grad(set_to_none=True)
        losses = model.losses(grads, values)
        combiner.backward(losses, CONTEXT)
        imtl_scales = {"scales": reference.scales.clone()} if HEAD_RULES.get(name) == IMTL else {}
        if "representation" in inspect.signature(reference.step).parameters:  # GradDrop reads sign(z)
            want = reference.step(grads.clone(), values.clone(), representation=theta.detach().clone())
        else:
            want = reference.step(grads.clone(), values.clone())
        assert theta.grad is not None, f"{name}, T={tasks}, step {step}: no gradient on the shared parameter"
        got = theta.grad.detach().reshape(-1).to(torch.float64)
        assert want.shape == got.shape and want.dtype == torch.float64, (name, want.shape, want.dtype)
        # the "large" variant (FairGrad's, coefficients T w_i ~ |g|^(-4/3)): its terms T w_i g_i
        # are of |want|'s size, not |g_i|'s (measured: errors up to 3e-7 |want|, |want| <= 0.6)
        gradients = float(grads.norm(dim=1).sum()) if factor <= 1.0 else 0.0
        scale = max(1.0, float(want.norm()), gradients)
        error = float((got - want).abs().max())
        assert error <= TOLERANCE * scale, (
            f"{name}, T={tasks}, step {step}: the combined gradient differs from the reference by "
            f"{error:.3g} (max abs) > {TOLERANCE:g} x scale {scale:.4g}; |want| = {float(want.norm()):.6g}, "
            f"|got| = {float(got.norm()):.6g}\ngot  {got.tolist()}\nwant {want.tolist()}"
        )
        if name in HEAD_RULES:
            state = reference if HEAD_RULES[name] == REFERENCE else SimpleNamespace(**imtl_scales)
            for i, coefficient in enumerate(head_coefficients(name, state, grads, values, want)):
                head = cast(Head, model.heads[i]).weight.grad
                assert head is not None, f"{name}, T={tasks}, step {step}: head {i} got no gradient"
                if coefficient is None:
                    continue
                expected = coefficient * (1.0 + i)  # the head's own gradient a_i = 1 + i
                got_head = float(head.reshape(-1)[0])
                assert abs(got_head - expected) <= TOLERANCE * max(1.0, abs(expected)), (
                    f"{name}, T={tasks}, step {step}: head {i} got {got_head:.8g}, its rule gives "
                    f"{coefficient:.8g} x its own gradient {1.0 + i:g} = {expected:.8g}"
                )
        if combiner.wants_losses_after_step:  # no optimizer step here: the batch's losses are unchanged
            combiner.after_step([loss.detach() for loss in losses])
