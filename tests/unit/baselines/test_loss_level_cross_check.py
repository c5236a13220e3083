"""An independent cross-check of every loss-level method: on a fixed loss trajectory (7
epochs x 3 steps, so STCH's warm-up epoch 4 and IGB's base epoch 1 are both passed, T = 2
and 3), the registered method runs through its real `make_combiner(config)`, `attach` and
`backward` (and `after_step` where it wants the step's losses again), and at every step

- the effective weights it reports (d total / d L_i) equal the from-scratch reference's
  (tests/unit/baselines/references/loss_level.py, written from the papers' rules), and
- the gradients it writes into EVERY parameter, the trunk and each head, equal
  sum_i w_i d L_i / d p with the reference's w: so a method that reports one thing and
  backpropagates another, drops a task, or mixes heads fails.

The losses carry graphs from a tiny model: a trunk z = tanh(W x) on a batch of inputs of both
signs and one linear head per task; each loss is L_i = f_i - f_i.detach() + c_i, whose value
is the trajectory's c_i (the rule sees the chosen values) and whose gradient is that of the
head's squared error f_i (computed here by autograd, apart from the method). The losses
differ across tasks (so swapped tasks show), fall at different rates with noise (so DWA's
ratios, IGB's gaps and STCH's nadir matter), and lie between 0.1 and 4 unclipped. The step's
lr changes per epoch (the uncertainty files' own SGD takes it). FAMO's "after the step"
losses are a second fixed trajectory, some above and some below the step's.

The checks are callable (`check_loss_method`) so that test_mutants.py can run them on
deliberately broken copies of the methods.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import nn

from harness import registry
from harness.api.method import Combiner, StepContext, StepResult
from harness.api.records import TrainConfig
from harness.methods.resolve import registered_method

from .references.loss_level import REFERENCES

EPOCHS, STEPS, SEED = 7, 3, 11
FEATURES, BATCH = 4, 6
CONFIG = TrainConfig(epochs=EPOCHS)
# the weights cross the harness in float32 (the loss runner's leaves, the combiners'
# .float() values): relative float32 rounding of a few operations, Adam's included
RTOL = 2e-5
LOADED, BROKEN = registry.methods.load_all()
LOSS_LEVEL = sorted(name for name, info in LOADED.items() if info.level == "loss")

MakeCombiner = Callable[[tuple[str, ...]], Combiner]


def lr_of(epoch: int) -> float:
    return 0.1 * (0.8**epoch)  # a schedule: the step's lr is not the config's constant


def loss_trajectory(tasks: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(EPOCHS, STEPS, T) loss values and the same batches' values after the step, float32
    representable, in float64."""
    generator = torch.Generator().manual_seed(300 + tasks)
    start = torch.tensor([2.5, 0.4, 1.2][:tasks], dtype=torch.float64)
    rate = torch.tensor([0.75, 0.95, 0.6][:tasks], dtype=torch.float64)
    epochs = torch.arange(EPOCHS, dtype=torch.float64)[:, None, None]
    noise = 1 + 0.25 * (torch.rand(EPOCHS, STEPS, tasks, generator=generator, dtype=torch.float64) - 0.5)
    values = start * rate**epochs * noise
    change = 1 - 0.15 * (torch.rand(EPOCHS, STEPS, tasks, generator=generator, dtype=torch.float64) - 0.3)
    after = values * change  # most fall, some rise
    return values.float().double(), after.float().double()


class TinyModel(nn.Module):
    """z = tanh(W x) (shared), out_i = z h_i (head i); f_i = mean((out_i - y_i)^2)."""

    def __init__(self, tasks: int) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(5)
        self.trunk = nn.Linear(FEATURES, FEATURES, bias=False, dtype=torch.float64)
        self.heads = nn.ModuleList(nn.Linear(FEATURES, 1, bias=False, dtype=torch.float64) for _ in range(tasks))
        with torch.no_grad():
            for param in self.parameters():
                param.copy_(torch.randn(param.shape, generator=generator, dtype=torch.float64))
        self.x = torch.randn(BATCH, FEATURES, generator=generator, dtype=torch.float64)  # both signs
        self.y = torch.randn(BATCH, tasks, generator=generator, dtype=torch.float64)

    def shared_parameters(self) -> list[nn.Parameter]:
        return list(self.trunk.parameters())

    def task_parameters(self, task_index: int) -> list[nn.Parameter]:
        return list(self.heads[task_index].parameters())

    def functions(self) -> list[torch.Tensor]:
        z = torch.tanh(self.trunk(self.x))
        return [((head(z).squeeze(-1) - self.y[:, i]) ** 2).mean() for i, head in enumerate(self.heads)]


def registered(name: str) -> MakeCombiner:
    return lambda names: registered_method(name, names).make_combiner(CONFIG)


def _weights(result: StepResult) -> torch.Tensor:
    w = result.weights
    return (w.detach().cpu() if isinstance(w, torch.Tensor) else torch.tensor(list(w))).to(torch.float64)


def check_loss_method(name: str, tasks: int, make: MakeCombiner) -> None:
    """Run the method built by `make` over the trajectory beside its reference; an
    AssertionError says at which step and what differs."""
    loss_names = tuple(f"task{i}" for i in range(tasks))
    combiner = make(loss_names)
    model = TinyModel(tasks)
    combiner.attach(model, SEED)
    reference = REFERENCES[name](tasks, SEED)
    params = list(model.parameters())
    values, after = loss_trajectory(tasks)
    for epoch in range(EPOCHS):
        lr = lr_of(epoch)
        for step in range(STEPS):
            where = f"{name}, T={tasks}, epoch {epoch}, step {step}"
            model.zero_grad(set_to_none=True)
            functions = model.functions()
            per_task = [torch.autograd.grad(f, params, retain_graph=True, allow_unused=True) for f in functions]
            losses = [f - f.detach() + values[epoch, step, i] for i, f in enumerate(functions)]
            result = combiner.backward(losses, StepContext(epoch, EPOCHS, lr))
            want = reference.weights(values[epoch, step].clone(), epoch, lr)
            got = _weights(result)
            assert got.shape == want.shape, f"{where}: weights {got.tolist()} for {tasks} tasks"
            assert torch.allclose(got, want, rtol=RTOL, atol=0.0), (
                f"{where}: reported weights {got.tolist()} != reference {want.tolist()}"
            )
            for index, param in enumerate(params):
                expected = sum(
                    float(want[i]) * (g[index] if g[index] is not None else torch.zeros_like(param))
                    for i, g in enumerate(per_task)
                )
                scale = sum(
                    abs(float(want[i])) * float(g[index].norm()) for i, g in enumerate(per_task) if g[index] is not None
                )
                written = torch.zeros_like(param) if param.grad is None else param.grad.detach()
                error = float((written - expected).norm())
                assert error <= RTOL * max(scale, 1e-12), (
                    f"{where}: the gradient written into parameter {index} ({tuple(param.shape)}) differs from "
                    f"sum_i w_i grad L_i by {error:.3g} (scale {scale:.3g})"
                )
            if combiner.wants_losses_after_step:
                combiner.after_step([after[epoch, step, i].clone() for i in range(tasks)])
                reference.after_step(after[epoch, step].clone())


def test_every_registered_method_loads() -> None:
    assert not BROKEN, "\n".join(f"{name}: {error}" for name, error in sorted(BROKEN.items()))


def test_the_trajectory_covers_the_cases() -> None:
    for tasks in (2, 3):
        values, after = loss_trajectory(tasks)
        assert float(values.min()) > 0.05 and float(values.max()) < 5
        assert bool((after > values).any()) and bool((after < values).any())
        means = values.mean(dim=1)
        ratios = means[1:] / means[:-1]
        assert float((ratios[:, 0] - ratios[:, 1]).abs().min()) > 0.05  # tasks fall at different rates


@pytest.mark.parametrize("tasks", (2, 3))
@pytest.mark.parametrize("name", LOSS_LEVEL)
def test_loss_level_method_matches_the_from_scratch_reference(name: str, tasks: int) -> None:
    assert name in REFERENCES, (
        f"loss-level method {name!r} has no reference in tests/unit/baselines/references/loss_level.py"
    )
    refusal = LOADED[name].refusal(tasks)
    if refusal is not None:
        pytest.skip(f"{name} refuses {tasks} tasks: {refusal}")
    check_loss_method(name, tasks, registered(name))
