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
2-dimensional, so it is also GradNorm's "last shared layer" (grad_W L_i = g_i), and positive,
so sign(z) = 1 for GradDrop. Every method runs through its real backward (GradNorm too: a
SharedGradientCombiner that backpropagates its weighted loss), one combiner for the 20
steps, so stateful methods carry their state; the reference sees the raw g_i and L_i and
applies any loss transform (IMTL's scales, DB-MTL's logs) itself. Every registered
gradient-level method must have a reference module whose NAME is its name.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

import pytest
import torch
from torch import nn

from harness import registry
from harness.api.method import StepContext
from harness.api.records import TrainConfig
from harness.methods.resolve import registered_method

from . import references

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


def _discover_references() -> dict[str, ModuleType]:
    found: dict[str, ModuleType] = {}
    for info in pkgutil.iter_modules(references.__path__):
        if info.name.startswith("_"):  # shared helpers of the references
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
    def __init__(self) -> None:
        super().__init__()
        # theta > 0: a representation of one sign (GradDrop's reference reads sign(z) = 1)
        self.weight = nn.Parameter(torch.linspace(0.5, 1.5, SIZE, dtype=torch.float64).reshape(1, SIZE))

    def forward(self) -> torch.Tensor:
        return self.weight.clone()  # z = theta: d z / d theta is the identity


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
    def __init__(self, tasks: int) -> None:
        super().__init__()
        self.trunk = Trunk()
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


@pytest.mark.parametrize("tasks", (2, 3))
@pytest.mark.parametrize("name", GRADIENT_LEVEL)
def test_combined_gradient_matches_the_from_scratch_reference(name: str, tasks: int) -> None:
    module = REFERENCES.get(name)
    assert module is not None, (
        f"gradient-level method {name!r} has no reference in tests/unit/baselines/references/ "
        f"(a module with NAME = {name!r} and a Reference class)"
    )
    refusal = LOADED[name].refusal(tasks)
    if refusal is not None:
        pytest.skip(f"{name} refuses {tasks} tasks: {refusal}")
    loss_names = tuple(f"task{i}" for i in range(tasks))
    combiner = registered_method(name, loss_names).make_combiner(CONFIG)
    model = SyntheticModel(tasks)
    combiner.attach(model, SEED)
    reference = module.Reference(tasks, SEED)
    theta = model.trunk.weight
    for step, (grads, values) in enumerate(gradient_sets(tasks)):
        model.zero_grad(set_to_none=True)
        losses = model.losses(grads, values)
        combiner.backward(losses, CONTEXT)
        want = reference.step(grads.clone(), values.clone())
        assert theta.grad is not None, f"{name}, T={tasks}, step {step}: no gradient on the shared parameter"
        got = theta.grad.detach().reshape(-1).to(torch.float64)
        assert want.shape == got.shape and want.dtype == torch.float64, (name, want.shape, want.dtype)
        scale = max(1.0, float(want.norm()), float(grads.norm(dim=1).sum()))
        error = float((got - want).abs().max())
        assert error <= TOLERANCE * scale, (
            f"{name}, T={tasks}, step {step}: the combined gradient differs from the reference by "
            f"{error:.3g} (max abs) > {TOLERANCE:g} x scale {scale:.4g}; |want| = {float(want.norm()):.6g}, "
            f"|got| = {float(got.norm()):.6g}\ngot  {got.tolist()}\nwant {want.tolist()}"
        )
        if combiner.wants_losses_after_step:  # no optimizer step here: the batch's losses are unchanged
            combiner.after_step([loss.detach() for loss in losses])
