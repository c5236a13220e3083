"""Properties every gradient-level method shares (as torchjd's tests/unit/aggregation
property testers: one check per property, applied to each method it holds for), run through
the harness's own path: `registered_method(name, losses).make_combiner(config)`, `attach`,
`backward(losses, StepContext(...))`, then the trunk's `.grad` and the step's weights.

The probe model makes the task gradients exact: a linear trunk z = W x on one fixed input
x and linear heads, output_i = h_i . z, so the trunk gradient of task i is h_i x^T (and its
representation gradient h_i: methods on z, as MGDA-UB, IMTL and GradDrop, see the same
geometry, up to the factor |x|^2). Each loss is output_i shifted to a chosen value
(output - output.detach() + value: positive, for the methods that take logs), whatever
the heads; "scaling the losses by k" multiplies these tensors, values and gradients.

1. Permutation: relabelling the tasks permutes the reported weights and leaves the shared
   update as it was; and the weights are what each method's docstring says, the
   coefficients of the g_i in the update (MoCo: times beta_t on its first step; GradDrop
   reports ones, no coefficient), without which a relabelled weight list could pass.
   PCGrad and GradVac draw a per-task projection order, so with the same seed a relabelled
   problem gets other orders: for T = 2 the order is irrelevant (one other task) and they
   are tested as deterministic; for T = 3 the set of (update, weights) over 48 seeds (every
   combination of orders) must be the same. GradDrop's draws are per feature, shared by
   the tasks, so the same seed is equivariant.
2. Non-conflict: the methods whose rule guarantees g_i . d >= 0 (the dual-cone projections
   UPGrad and DualProj; MGDA-UB's min-norm element, d . g_i >= |d|^2; Nash-MTL's
   g_i . d = 1 / alpha_i and FairGrad's T w_i^(-1 / alpha); PCGrad for T = 2, its theorem:
   for T >= 3 it does not hold, the projections undo each other) on random conflicting
   gradients, six seeds, T = 2 and 3. UPGrad and DualProj solve torchjd's regularised QP
   (the Gram matrix over its trace, plus 1e-4 I), whose solution only guarantees
   g_i . d >= -1e-4 tr(G G^T) w_i, and DualProj sits on that bound whenever a constraint is
   active (cosines down to -0.02 on random T = 3 cases): the check allows exactly that.
   CAGrad, Aligned-MTL, GradVac, IMTL-G, DB-MTL, MoCo, GradDrop, GradNorm and ExcessMTL
   promise nothing of the kind (all but IMTL conflict on some of 40 random cases).
3. Scale: each module docstring's "Scale:" line, checked as stated (SCALE below).
4. Zero gradients: one task's gradient zero, and all of them: no error, finite weights and
   update, an all-zero problem gives a zero update, and what the docstring says of it.

`test_*_catches_*` show that each property fails on a deliberately broken combiner."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest
import torch
from torch import nn

from harness import registry
from harness.api.method import Combiner, StepContext, StepResult
from harness.api.records import TrainConfig
from harness.methods.resolve import registered_method

from .asserts import weight_list

CONFIG = TrainConfig(epochs=10)
CONTEXT = StepContext(0, 10, 0.1)
FEATURES, INPUTS = 5, 3
GRADIENT_METHODS = sorted(name for name, info in registry.methods.load_all()[0].items() if info.level == "gradient")
RANDOM_ORDER = {"pcgrad", "gradvac"}  # a per-task order from the seeded generator
NON_CONFLICTING = {"upgrad": (2, 3), "dualproj": (2, 3), "mgda-ub": (2, 3), "nash-mtl": (2, 3), "fairgrad": (2, 3)}
NON_CONFLICTING["pcgrad"] = (2,)
DUAL_CONE, REG_EPS = {"upgrad", "dualproj"}, 1e-4  # torchjd's reg_eps on the trace-normalised Gram matrix

Factory = Callable[[tuple[str, ...]], Combiner]


def registered(name: str) -> Factory:
    return lambda losses: registered_method(name, losses).make_combiner(CONFIG)


class Probe(nn.Module):
    """z = W x (shared, linear), output_i = h_i . z; forward returns the outputs."""

    def __init__(self, heads: torch.Tensor) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(7)
        self.trunk = nn.Linear(INPUTS, FEATURES, bias=False)
        self.heads = nn.ModuleList(nn.Linear(FEATURES, 1, bias=False) for _ in range(len(heads)))
        with torch.no_grad():
            self.trunk.weight.copy_(torch.randn(FEATURES, INPUTS, generator=generator))
            for head, h in zip(self.heads, heads):
                head.weight.copy_(h.unsqueeze(0))
        self.x = torch.tensor([[1.0, -0.5, 0.25]])

    def shared_parameters(self) -> list[nn.Parameter]:
        return list(self.trunk.parameters())

    def task_parameters(self, task_index: int) -> list[nn.Parameter]:
        return list(self.heads[task_index].parameters())

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        z = self.trunk(x)
        return tuple(head(z).sum() for head in self.heads)


class Step:
    """One step of a fresh combiner on the probe: the update d (the trunk's gradient,
    flattened), the weights, and the task gradients g_i (T, P) computed here, apart."""

    def __init__(
        self,
        factory: Factory,
        heads: torch.Tensor,
        losses: list[float] | None = None,
        scale: float = 1.0,
        seed: int = 0,
        steps: int = 1,
    ) -> None:
        tasks = len(heads)
        targets = losses or [1.0 + 0.5 * i for i in range(tasks)]
        self.model = Probe(heads)
        self.combiner = factory(tuple(f"task{i}" for i in range(tasks)))
        self.combiner.attach(self.model, seed)
        for _ in range(steps):
            outputs = self.model(self.model.x)
            losses_now = [scale * (out - out.detach() + t) for out, t in zip(outputs, targets)]
            self.grads = torch.stack(
                [
                    torch.autograd.grad(loss, self.model.trunk.weight, retain_graph=True)[0].flatten()
                    for loss in losses_now
                ]
            )
            self.model.zero_grad(set_to_none=True)
            self.result: StepResult = self.combiner.backward(losses_now, CONTEXT)
        self.weights = torch.tensor(weight_list(self.result), dtype=torch.float64)
        grad = self.model.trunk.weight.grad
        self.update = torch.zeros(self.grads.shape[1]) if grad is None else grad.detach().flatten().clone()
        self.grads, self.update = self.grads.double(), self.update.double()


def conflicting_heads(tasks: int, seed: int) -> torch.Tensor:
    """Random heads (task gradients) of norms 0.5 to 3 with at least one conflicting pair."""
    generator = torch.Generator().manual_seed(1000 + seed)
    while True:
        heads = torch.randn(tasks, FEATURES, generator=generator)
        heads *= 0.5 + 2.5 * torch.rand(tasks, 1, generator=generator)
        products = heads @ heads.T
        if bool((products < 0).any()):
            return heads


def close(a: torch.Tensor, b: torch.Tensor, rtol: float = 1e-4) -> bool:
    scale = max(float(a.abs().max()), float(b.abs().max()), 1e-12)
    return bool(((a - b).abs() <= rtol * scale).all())


def case(name: str, *args: object) -> object:
    return pytest.param(name, *args, id="-".join(str(a) for a in (name, *args)))


# --- 1. permutation ---------------------------------------------------------------------


def assert_permutation_equivariant(
    factory: Factory, tasks: int, seed: int, random_order: bool = False, coefficients: bool = True
) -> None:
    heads = conflicting_heads(tasks, seed)
    losses = [1.0 + 0.7 * i for i in range(tasks)]
    perm = [*range(1, tasks), 0]  # task j of the relabelled problem is task perm[j]
    permuted_losses = [losses[p] for p in perm]
    if not random_order:
        first = Step(factory, heads, losses)
        second = Step(factory, heads[perm], permuted_losses)
        assert close(first.update, second.update), (first.update, second.update)
        assert close(first.weights[perm], second.weights), (first.weights, second.weights)
        if coefficients:  # the anchor: else weights relabelled as the tasks are (T = 2: reversed) go unseen
            rate = float(first.result.extras.get("tracking_rate", 1.0))  # MoCo: beta_t times the weights
            assert close(first.update, rate * first.weights @ first.grads), (first.update, first.weights)
        return

    def outcomes(h: torch.Tensor, ls: list[float], labels: list[int]) -> set[tuple[float, ...]]:
        """The (update, weights by original task) of 48 seeds: every combination of orders."""
        steps = [Step(factory, h, ls, seed=s) for s in range(48)]
        found = set()
        for step in steps:
            weights = torch.empty_like(step.weights)
            weights[labels] = step.weights
            values = [*(step.update / step.update.abs().max()).tolist(), *weights.tolist()]
            found.add(tuple(round(v, 4) for v in values))
        return found

    assert outcomes(heads, losses, list(range(tasks))) == outcomes(heads[perm], permuted_losses, perm)


PERMUTATION_CASES = [case(name, tasks, seed) for name in GRADIENT_METHODS for tasks in (2, 3) for seed in range(2)]


@pytest.mark.parametrize(("name", "tasks", "seed"), PERMUTATION_CASES)
def test_permuting_the_tasks_permutes_the_weights(name: str, tasks: int, seed: int) -> None:
    random_order = name in RANDOM_ORDER and tasks > 2
    assert_permutation_equivariant(registered(name), tasks, seed, random_order, coefficients=name != "graddrop")


# --- 2. non-conflict --------------------------------------------------------------------


def assert_non_conflicting(factory: Factory, tasks: int, seed: int, regularised: bool = False) -> None:
    step = Step(factory, conflicting_heads(tasks, seed))
    products = step.grads @ step.update
    bound = 1e-5 * step.grads.norm(dim=1) * step.update.norm()
    if regularised:  # (G G^T / tr + 1e-4 I) w >= 0: G d >= -1e-4 tr(G G^T) w
        bound = bound + REG_EPS * float(torch.trace(step.grads @ step.grads.T)) * step.weights.abs() * 1.01
    assert bool((products >= -bound).all()), (products, step.update)
    assert float(step.update.norm()) > 0


NON_CONFLICT_CASES = [case(name, t, seed) for name, ts in NON_CONFLICTING.items() for t in ts for seed in range(6)]


@pytest.mark.parametrize(("name", "tasks", "seed"), NON_CONFLICT_CASES)
def test_the_update_conflicts_with_no_task(name: str, tasks: int, seed: int) -> None:
    assert_non_conflicting(registered(name), tasks, seed, regularised=name in DUAL_CONE)


# --- 3. scale ---------------------------------------------------------------------------

K = 3.0


def linear(factory: Factory, heads: torch.Tensor) -> None:
    """Scaling every loss by K scales the update by K, the weights unchanged."""
    first, scaled = Step(factory, heads), Step(factory, heads, scale=K)
    assert close(scaled.update, K * first.update), (first.update, scaled.update)
    assert close(scaled.weights, first.weights), (first.weights, scaled.weights)


def sum_when_aligned(factory: Factory, heads: torch.Tensor) -> None:
    """Like `equal`: on non-conflicting gradients the update is their sum."""
    aligned = heads.abs()  # every pair agrees in every coordinate (also GradDrop's signs)
    step = Step(factory, aligned)
    assert close(step.update, step.grads.sum(0)), (step.update, step.grads.sum(0))


def mean_when_aligned(factory: Factory, heads: torch.Tensor) -> None:
    step = Step(factory, heads.abs())
    assert close(step.update, step.grads.mean(0)), (step.update, step.grads.mean(0))
    assert close(step.weights, torch.full_like(step.weights, 1 / len(heads)))


def update_is_weighted_sum(step: Step) -> None:
    assert close(step.update, step.weights.to(step.grads) @ step.grads), (step.update, step.weights)


def weights_sum_to(total: Callable[[int], float], steps: int = 2) -> Callable[[Factory, torch.Tensor], None]:
    def check(factory: Factory, heads: torch.Tensor) -> None:
        for scale in (1.0, K):
            step = Step(factory, heads, scale=scale, steps=steps)
            assert math.isclose(float(step.weights.sum()), total(len(heads)), rel_tol=1e-5), step.weights
            update_is_weighted_sum(step)

    return check


def upgrad_scale(factory: Factory, heads: torch.Tensor) -> None:
    mean_when_aligned(factory, heads)
    step = Step(factory, heads)
    assert float(step.weights.sum()) >= 1 - 1e-6, step.weights  # with conflict sum w >= 1
    linear(factory, heads)


def dualproj_scale(factory: Factory, heads: torch.Tensor) -> None:
    mean_when_aligned(factory, heads)
    step = Step(factory, heads)
    assert bool((step.weights >= 1 / len(heads) - 1e-6).all()), step.weights
    linear(factory, heads)


def fair(step: Step, alpha: float = 1.0) -> None:
    """d = G^T w (w the reported weights) and w_i^(1/alpha) (g_i . d) is the same for every
    task: the alpha-fair condition G G^T w = w^(-1/alpha), times positive factors (the clip,
    FairGrad's T). Nash-MTL is alpha = 1 (alpha_i (G G^T alpha)_i = 1)."""
    update_is_weighted_sum(step)
    products = step.weights ** (1 / alpha) * (step.grads @ step.update)
    assert close(products, torch.full_like(products, float(products.mean()))), products


def nash_scale(factory: Factory, heads: torch.Tensor) -> None:
    """Its docstring: the shared update has norm 1 (|d| = sqrt(T) before the clip), at every
    scale, and alpha_i (g_i . d) = |d|^2 / T."""
    tasks = len(heads)
    for scale in (1e-3, 1.0, K):
        step = Step(factory, heads, scale=scale)
        expected = math.sqrt(tasks) / (math.sqrt(tasks) + 1e-6)
        assert math.isclose(float(step.update.norm()), expected, rel_tol=1e-4), (scale, step.update.norm())
        fair(step)
        assert close(step.weights * (step.grads @ step.update), torch.full((tasks,), expected**2 / tasks))


def fairgrad_scale(factory: Factory, heads: torch.Tensor) -> None:
    """Its docstring: before the clip g_i . d = T w_i^(-1/alpha), for orthogonal gradients
    T |g_i|^(2 / (1 + alpha)); after it |d| <= 1; at every scale (alpha read from the module)."""
    from baselines.fairgrad import ALPHA

    for scale in (1e-3, 1.0, K):
        step = Step(factory, heads, scale=scale)
        assert float(step.update.norm()) <= 1 + 1e-5, (scale, step.update.norm())
        fair(step, ALPHA)
    tasks = len(heads)
    orthogonal = torch.eye(FEATURES)[:tasks] * torch.tensor([300.0, 800.0, 500.0][:tasks]).unsqueeze(1)
    step = Step(factory, orthogonal)  # large gradients: |d| < 1, below the clip
    assert float(step.update.norm()) < 1, step.update.norm()
    expected = tasks * step.grads.norm(dim=1) ** (2 / (1 + ALPHA))
    assert close(step.grads @ step.update, expected), (step.grads @ step.update, expected)


def moco_scale(factory: Factory, heads: torch.Tensor) -> None:
    """lambda (the weights times |g_i| / L_i) sums to 1 and |d| is in loss units: at most
    the largest loss, whatever the gradients' norms."""
    losses = [0.8, 1.6, 1.2][: len(heads)]
    norms = []
    for scale in (1.0, 100.0):
        step = Step(factory, scale * heads, losses)
        lam = step.weights * (step.grads.norm(dim=1) + 1e-8) / torch.tensor(losses, dtype=torch.float64)
        assert math.isclose(float(lam.sum()), 1.0, rel_tol=1e-4), lam
        assert float(step.update.norm()) <= max(losses) * (1 + 1e-5)
        norms.append(float(step.update.norm()))
    assert math.isclose(norms[0], norms[1], rel_tol=1e-3), norms


def db_mtl_scale(factory: Factory, heads: torch.Tensor) -> None:
    """Log losses: scaling every loss by K changes nothing; each task's part of the update
    has the same (the largest buffered) norm."""
    first, scaled = Step(factory, heads), Step(factory, heads, scale=K)
    assert close(first.update, scaled.update), (first.update, scaled.update)
    parts = (first.weights.unsqueeze(1) * first.grads).norm(dim=1)
    assert close(parts, torch.full_like(parts, float(parts.max()))), parts
    update_is_weighted_sum(first)


def aligned_scale(factory: Factory, heads: torch.Tensor) -> None:
    """For orthogonal gradients of equal norm, alpha = 1: the sum; linear in the scale."""
    tasks = len(heads)
    orthogonal = 2.0 * torch.eye(FEATURES)[:tasks]
    step = Step(factory, orthogonal)
    assert close(step.weights, torch.ones(tasks, dtype=torch.float64)), step.weights
    assert close(step.update, step.grads.sum(0))
    linear(factory, heads)


def cagrad_scale(factory: Factory, heads: torch.Tensor) -> None:
    """Linear in the scale; "a sum ... divided by 1 + c^2": on T equal gradients g (g_0 = g_w = g)
    d = T (1 + c) g / (1 + c^2), the coefficients summing to T (1 + c) / (1 + c^2)."""
    from baselines.cagrad import C

    tasks = len(heads)
    step = Step(factory, heads[:1].repeat(tasks, 1))
    expected = tasks * (1 + C) / (1 + C**2)
    assert math.isclose(float(step.weights.sum()), expected, rel_tol=1e-4), step.weights
    assert close(step.update, expected * step.grads[0]), step.update
    linear(factory, heads)


def both(*checks: Callable[[Factory, torch.Tensor], None]) -> Callable[[Factory, torch.Tensor], None]:
    def check(factory: Factory, heads: torch.Tensor) -> None:
        for one in checks:
            one(factory, heads)

    return check


SCALE: dict[str, Callable[[Factory, torch.Tensor], None]] = {
    "pcgrad": both(sum_when_aligned, linear),  # "a sum, like `equal`"
    "gradvac": both(sum_when_aligned, linear),  # "a sum, like `equal`"
    "graddrop": both(sum_when_aligned, linear),  # "agreeing signs: exactly `equal`'s gradient"
    "cagrad": cagrad_scale,
    "mgda-ub": both(weights_sum_to(lambda t: 1.0), linear),
    "imtl": both(weights_sum_to(lambda t: 1.0, steps=1), linear),  # alpha exp(s), s = 0 on step 1
    "gradnorm": weights_sum_to(float),
    "excess-mtl": weights_sum_to(float),
    "upgrad": upgrad_scale,
    "dualproj": dualproj_scale,
    "nash-mtl": nash_scale,
    "fairgrad": fairgrad_scale,
    "moco": moco_scale,
    "db-mtl": db_mtl_scale,
    "aligned-mtl": aligned_scale,
}


def test_every_gradient_method_has_a_scale_check() -> None:
    assert set(SCALE) == set(GRADIENT_METHODS)


SCALE_CASES = [case(name, tasks) for name in GRADIENT_METHODS for tasks in (2, 3)]


@pytest.mark.parametrize(("name", "tasks"), SCALE_CASES)
def test_the_documented_scale_holds(name: str, tasks: int) -> None:
    for seed in range(2):
        SCALE[name](registered(name), conflicting_heads(tasks, seed))


# --- 4. zero gradients ------------------------------------------------------------------


def assert_zero_gradients_handled(factory: Factory, tasks: int, name: str = "") -> None:
    heads = conflicting_heads(tasks, 0)
    heads[0] = 0.0
    for steps in (1, 2):
        step = Step(factory, heads, steps=steps)
        assert bool(torch.isfinite(step.weights).all()) and len(step.weights) == tasks, step.weights
        assert bool(torch.isfinite(step.update).all()), step.update
        if name == "nash-mtl":  # "a task whose gradient is zero gets alpha 0"
            assert float(step.weights[0]) == 0.0, step.weights
    zero = Step(factory, torch.zeros(tasks, FEATURES), steps=2)
    assert bool(torch.isfinite(zero.weights).all()) and len(zero.weights) == tasks, zero.weights
    assert bool((zero.update == 0).all()), zero.update
    if name == "aligned-mtl":  # "alpha = 1 when every gradient is 0"
        assert bool((zero.weights == 1).all()), zero.weights


ZERO_CASES = [case(name, tasks) for name in GRADIENT_METHODS for tasks in (2, 3)]


@pytest.mark.parametrize(("name", "tasks"), ZERO_CASES)
def test_zero_gradients_are_handled(name: str, tasks: int) -> None:
    assert_zero_gradients_handled(registered(name), tasks, name)


# --- each property fails on a broken combiner --------------------------------------------


class Broken(Combiner):
    """A registered method with one fault added after its backward pass."""

    def __init__(self, inner: Combiner, fault: Callable[[nn.Module, StepResult], StepResult]) -> None:
        self.inner, self.fault = inner, fault
        self.model: nn.Module | None = None

    def attach(self, model: nn.Module, seed: int) -> None:
        self.model = model
        self.inner.attach(model, seed)

    def backward(self, losses: list[torch.Tensor], context: StepContext) -> StepResult:
        assert self.model is not None
        return self.fault(self.model, self.inner.backward(losses, context))

    def __getattr__(self, attribute: str) -> object:
        return getattr(self.__dict__["inner"], attribute)


def broken(name: str, fault: Callable[[nn.Module, StepResult], StepResult]) -> Factory:
    return lambda losses: Broken(registered(name)(losses), fault)


def swap_weights(model: nn.Module, result: StepResult) -> StepResult:
    weights = weight_list(result)
    return StepResult(result.total, [weights[-1], *weights[1:-1], weights[0]], result.extras)


def flip_sign(model: nn.Module, result: StepResult) -> StepResult:
    model.trunk.weight.grad.neg_()  # type: ignore[union-attr,operator]
    return result


def unit_norm(model: nn.Module, result: StepResult) -> StepResult:
    grad = model.trunk.weight.grad  # type: ignore[union-attr]
    grad.div_(grad.norm())  # type: ignore[union-attr]
    return result


@pytest.mark.parametrize("tasks", [2, 3])
def test_the_permutation_property_catches_swapped_weights(tasks: int) -> None:
    assert_permutation_equivariant(registered("upgrad"), tasks, 0)
    with pytest.raises(AssertionError):
        assert_permutation_equivariant(broken("upgrad", swap_weights), tasks, 0)


def test_the_non_conflict_property_catches_a_flipped_sign() -> None:
    assert_non_conflicting(registered("upgrad"), 2, 0)
    with pytest.raises(AssertionError):
        assert_non_conflicting(broken("upgrad", flip_sign), 2, 0)


def test_the_scale_property_catches_a_normalised_update() -> None:
    SCALE["upgrad"](registered("upgrad"), conflicting_heads(2, 0))
    with pytest.raises(AssertionError):
        SCALE["upgrad"](broken("upgrad", unit_norm), conflicting_heads(2, 0))


def test_the_zero_gradient_property_catches_a_division_by_the_norm() -> None:
    assert_zero_gradients_handled(registered("upgrad"), 2)
    with pytest.raises(AssertionError):
        assert_zero_gradients_handled(broken("upgrad", unit_norm), 2)


def test_pcgrad_conflicts_for_three_tasks() -> None:
    """Why PCGrad's non-conflict case is T = 2 only: some three-task problem it leaves in
    conflict (the property is not vacuous for T = 3)."""

    def conflicts(seed: int) -> bool:
        try:
            assert_non_conflicting(registered("pcgrad"), 3, seed)
        except AssertionError:
            return True
        return False

    assert any(conflicts(seed) for seed in range(40))
