"""What the baseline tests share (one module, as torchjd's tests/unit/aggregation/_asserts.py):
the toy models, a combiner's step on them with the gradients that land in the trunk and in
each head, and the checks that every method's test module runs on its own method."""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import torch
from torch import nn

from harness.api.errors import PluginError
from harness.api.method import Combiner, StepContext, StepResult
from harness.api.records import TrainConfig
from harness.api.task import Task
from harness.methods.loss_level import InProcessLossRunner
from harness.methods.resolve import registered_method
from harness.oracle.guest.codec import decode, encode
from harness.oracle.guest.loader import load_submission
from harness.run.checkpoint import TrainingState, load_checkpoint, save_checkpoint
from tests.helpers import loss_file

CONFIG = TrainConfig(epochs=10)
CONTEXT = StepContext(0, 10, 0.1)


def weight_list(result: StepResult) -> list[float]:
    """A step's reported weights as floats (a method may keep them as a tensor on its device)."""
    weights = result.weights
    return weights.detach().cpu().tolist() if isinstance(weights, torch.Tensor) else list(weights)


# --- hand-computed two-task values -------------------------------------------------------


def gram(*rows: list[float]) -> tuple[torch.Tensor, torch.Tensor]:
    grads = torch.tensor(rows, dtype=torch.float64)
    return grads, grads @ grads.T


def loss_runner(name: str) -> InProcessLossRunner:
    """A registered MultiTaskLoss file run in-process on the two CIFAR losses."""
    loaded = load_submission(loss_file(name), ("fine", "coarse"))
    return InProcessLossRunner(loaded.loss_class, loaded.path, CONFIG)


class TwoHeads(nn.Module):
    """z = W x with W = I (shared), losses a . z and b . z (the heads, weights a and b)."""

    def __init__(self, second_head: tuple[float, float] = (-1.0, 1.0)) -> None:
        super().__init__()
        self.trunk = nn.Linear(2, 2, bias=False)
        self.heads = nn.ModuleList([nn.Linear(2, 1, bias=False), nn.Linear(2, 1, bias=False)])
        with torch.no_grad():
            self.trunk.weight.copy_(torch.eye(2))
            self.heads[0].weight.copy_(torch.tensor([[1.0, 0.0]]))
            self.heads[1].weight.copy_(torch.tensor([second_head]))

    def shared_parameters(self) -> list[nn.Parameter]:
        return list(self.trunk.parameters())

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = self.trunk(x)
        return self.heads[0](z).sum(), self.heads[1](z).sum()


def orthogonal_toy() -> TwoHeads:
    """Heads a = (1, 0) and b = (0, 2): orthogonal tasks of different gradient norms."""
    return TwoHeads(second_head=(0.0, 2.0))


@dataclass
class Gradients:
    """What one combiner step wrote: its result and the gradients of the trunk and of each head."""

    result: StepResult
    trunk: torch.Tensor | None
    heads: list[torch.Tensor | None]


def _grad(param: torch.Tensor) -> torch.Tensor | None:
    return None if param.grad is None else param.grad.detach().clone()


def combiner_backward(
    combiner: Combiner, model: nn.Module, losses: list[torch.Tensor], context: StepContext = CONTEXT
) -> Gradients:
    """Run `combiner.backward` on the model's losses and collect the gradients it left (the
    reported weights as a list, wherever the method kept them)."""
    result = combiner.backward(losses, context)
    result = dataclasses.replace(result, weights=weight_list(result))
    return Gradients(result, _grad(model.trunk.weight), [_grad(head.weight) for head in model.heads])


def toy_step(name: str, model: TwoHeads, config: TrainConfig = CONFIG) -> tuple[list[float], torch.Tensor]:
    """One step of the registered method on the two-head toy at x = (1, 1): weights, trunk gradient."""
    combiner = registered_method(name, ("a", "b")).make_combiner(config)
    combiner.attach(model, 0)
    step = combiner_backward(combiner, model, list(model(torch.tensor([[1.0, 1.0]]))))
    assert step.trunk is not None, name
    return step.result.weights, step.trunk


# --- a toy problem with any number of heads ----------------------------------------------

TOY_FEATURES, TOY_BATCH = 4, 8
TOY_EPOCHS, TOY_BATCHES, TOY_RESUME = 4, 1, 2  # resume after epoch 2 of 4 (DWA's weights start at 2)
TOY_CONFIG = TrainConfig(epochs=TOY_EPOCHS)


class ToyHeads(nn.Module):
    """A shared trunk z = tanh(W x) and one linear head per task, output_i = h_i . z: the model
    contract of the tasks' networks (`trunk`, `heads` as a ModuleList, `shared_parameters`,
    `task_parameters`), seeded, so every call builds the same model."""

    def __init__(self, tasks: int, seed: int = 0) -> None:
        super().__init__()
        self.trunk = nn.Linear(TOY_FEATURES, TOY_FEATURES, bias=False)
        self.heads = nn.ModuleList(nn.Linear(TOY_FEATURES, 1, bias=False) for _ in range(tasks))
        generator = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for param in self.parameters():
                param.copy_(0.5 * torch.randn(param.shape, generator=generator))

    def shared_parameters(self) -> list[nn.Parameter]:
        return list(self.trunk.parameters())

    def task_parameters(self, task_index: int) -> list[nn.Parameter]:
        return list(self.heads[task_index].parameters())

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        z = torch.tanh(self.trunk(x))
        return tuple(head(z).squeeze(-1) for head in self.heads)


def toy_batches(tasks: int, count: int = TOY_BATCHES, seed: int = 1) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Fixed (inputs, targets) batches: the same data on every call."""
    generator = torch.Generator().manual_seed(seed)
    return [
        (torch.randn(TOY_BATCH, TOY_FEATURES, generator=generator), torch.randn(TOY_BATCH, tasks, generator=generator))
        for _ in range(count)
    ]


def toy_losses(model: ToyHeads, x: torch.Tensor, y: torch.Tensor) -> list[torch.Tensor]:
    """One mean squared error per head: positive, as the log-based methods need."""
    return [((output - y[:, i]) ** 2).mean() for i, output in enumerate(model(x))]


def loss_names(tasks: int) -> tuple[str, ...]:
    return tuple(f"task{i}" for i in range(tasks))


def own_head_gradients(model: ToyHeads, losses: list[torch.Tensor]) -> list[torch.Tensor]:
    """d L_i / d h_i for each head i (the graph is kept for the combiner)."""
    return [torch.autograd.grad(loss, head.weight, retain_graph=True)[0] for loss, head in zip(losses, model.heads)]


def assert_weights_finite(weights: list[float], tasks: int, name: str = "") -> None:
    """One reported weight per task, every one finite."""
    assert len(weights) == tasks, (name, weights)
    assert all(math.isfinite(w) for w in weights), (name, weights)


def assert_heads_get_only_their_own_task_gradient(
    own: list[torch.Tensor], heads: list[torch.Tensor | None], name: str = ""
) -> None:
    """Head i's gradient is c_i d L_i / d h_i with c_i > 0: every head is trained, on its own
    task only (a method that drops or mixes a task, e.g. a weight vector of the wrong
    length, leaves a head without gradient or with another direction)."""
    assert len(heads) == len(own), name
    for i, (expected, got) in enumerate(zip(own, heads)):
        assert got is not None, f"{name}: head {i} got no gradient"
        assert bool(torch.isfinite(got).all()), f"{name}: head {i} got {got}"
        scale = float((got * expected).sum() / (expected * expected).sum())
        assert scale > 0, f"{name}: head {i} got {scale} times its task's gradient"
        assert torch.allclose(got, scale * expected, rtol=1e-5, atol=1e-7), f"{name}: head {i} got {got}"


@dataclass
class ToyRun:
    """The registered method training the toy model, as the trainer does it."""

    name: str
    tasks: int
    model: ToyHeads
    optimizer: torch.optim.Optimizer
    combiner: Combiner
    weights: list[list[float]] = field(default_factory=list)  # reported, one list per step

    def parameters(self) -> list[torch.Tensor]:
        return [p.detach().clone() for p in self.model.parameters()]


def start_toy(name: str, tasks: int, seed: int = 0) -> ToyRun:
    model = ToyHeads(tasks)
    combiner = registered_method(name, loss_names(tasks)).make_combiner(TOY_CONFIG)
    optimizer = torch.optim.SGD(
        model.parameters(), lr=TOY_CONFIG.lr, momentum=TOY_CONFIG.momentum, weight_decay=TOY_CONFIG.weight_decay
    )
    combiner.attach(model, seed)
    return ToyRun(name, tasks, model, optimizer, combiner)


def train_toy(run: ToyRun, epochs: range, batches: int = TOY_BATCHES, check_heads: bool = False) -> None:
    """The trainer's loop (harness.run.trainer.train) on the toy: zero the gradients, let the
    combiner write them, step, then the combiner's after-step hook on the same batch. Every
    step must report one finite weight per task."""
    lr = TOY_CONFIG.lr
    for epoch in epochs:
        for x, y in toy_batches(run.tasks, batches):
            losses = toy_losses(run.model, x, y)
            own = own_head_gradients(run.model, losses) if check_heads else []
            run.optimizer.zero_grad(set_to_none=True)
            step = combiner_backward(run.combiner, run.model, losses, StepContext(epoch, TOY_EPOCHS, lr))
            assert_weights_finite(step.result.weights, run.tasks, run.name)
            if check_heads:
                assert step.trunk is not None and bool(torch.isfinite(step.trunk).all()), run.name
                assert_heads_get_only_their_own_task_gradient(own, step.heads, run.name)
            run.optimizer.step()
            if run.combiner.wants_losses_after_step:
                with torch.no_grad():
                    run.combiner.after_step(toy_losses(run.model, x, y))
            run.weights.append(list(step.result.weights))


def save_toy(run: ToyRun, path: Path, epoch: int) -> None:
    """The trainer's checkpoint of the run: the codec's JSON of the combiner state, its tensors."""
    save_checkpoint(
        path,
        TrainingState(
            epoch=epoch,
            model=run.model.state_dict(),
            optimizer=run.optimizer.state_dict(),
            scheduler={},
            data_generator=torch.Generator().get_state(),
            torch_rng=torch.get_rng_state(),
            cuda_rng=[],
            epochs=[],
            combiner=encode(run.combiner.state(), "the method's state"),
            combiner_tensors=run.combiner.tensor_state(),
        ),
    )


def restore_toy(name: str, tasks: int, path: Path, combiner_state: bool = True, seed: int = 0) -> ToyRun:
    """A fresh run (new model, optimizer and combiner, attached) loaded from `path` as the
    trainer restores one; without `combiner_state`, the combiner starts afresh."""
    run = start_toy(name, tasks, seed)
    state = load_checkpoint(path)
    run.model.load_state_dict(state.model)
    run.optimizer.load_state_dict(state.optimizer)
    if combiner_state and state.combiner is not None:
        run.combiner.load_state(decode(state.combiner))
    if combiner_state and state.combiner_tensors:
        run.combiner.load_tensor_state(state.combiner_tensors)
    return run


def _same(first: ToyRun, second: ToyRun, steps: slice) -> bool:
    return first.weights[steps] == second.weights and all(
        torch.equal(a, b) for a, b in zip(first.parameters(), second.parameters())
    )


def assert_resume_is_exact(name: str, path: Path, tasks: int = 2, state_matters: bool = True, seed: int = 0) -> None:
    """Interrupted after epoch 2 of 4 and restored from a real checkpoint file, the toy run
    reports the same weights and ends with the same parameters, bit for bit. With
    `state_matters`, a resume that drops the combiner's state must differ (so the check
    sees the state); without, the method is stateless and that resume is exact too."""
    half = TOY_RESUME
    full = start_toy(name, tasks, seed)
    train_toy(full, range(TOY_EPOCHS))
    first = start_toy(name, tasks, seed)
    train_toy(first, range(half))
    save_toy(first, path, half)
    resumed = restore_toy(name, tasks, path, seed=seed)
    train_toy(resumed, range(half, TOY_EPOCHS))
    resumed_steps = slice(half * TOY_BATCHES, None)
    assert _same(full, resumed, resumed_steps), name
    forgetful = restore_toy(name, tasks, path, combiner_state=False, seed=seed)
    train_toy(forgetful, range(half, TOY_EPOCHS))
    assert _same(full, forgetful, resumed_steps) is not state_matters, name


def assert_stateless(name: str, tasks: int = 2) -> None:
    """After a few toy steps the combiner has nothing to checkpoint, so a resumed run is the
    trainer's restored model and optimizer alone (tests/unit/run/test_checkpoint.py)."""
    run = start_toy(name, tasks)
    train_toy(run, range(TOY_RESUME))
    assert run.combiner.state() is None, name
    assert run.combiner.tensor_state() == {}, name


# --- every registered method -------------------------------------------------------------


TINY_CIFAR = TrainConfig(epochs=1, batch_size=32, data="synthetic", train_size=64, test_size=50)


def assert_trains_a_few_steps(
    name: str, task: Task, data_root: Path, arch: str = "resnet20", config: TrainConfig = TINY_CIFAR
) -> None:
    """One tiny epoch of the real trainer on `task`: no error and finite reported weights."""
    from harness.run.trainer import train

    combiner = registered_method(name, task.loss_names).make_combiner(config)
    outcome = train(task, arch, 0, config, combiner, torch.device("cpu"), data_root)
    assert outcome.error is None, name
    weights = outcome.epochs[0].task_weights
    assert all(math.isfinite(w) for w in weights.values()), name


def assert_refuses_or_trains_three_heads(name: str, refusal: str | None) -> None:
    """A method either refuses three task losses (a non-empty reason, and resolving it for
    three losses fails with that reason) or trains the three-head toy for two steps, its
    state carried from one to the next: three finite weights every step, a finite trunk
    gradient, each head trained on its own task's gradient only, finite parameters that
    moved. (Three-task state over more epochs, DWA's history included, is in the methods'
    `assert_resume_is_exact` runs.)"""
    if refusal is not None:
        assert isinstance(refusal, str) and refusal.strip(), (name, refusal)
        with pytest.raises(PluginError, match=re.escape(refusal)):
            registered_method(name, loss_names(3))
        return
    run = start_toy(name, 3)
    before = run.parameters()
    train_toy(run, range(2), batches=1, check_heads=True)
    assert len(run.weights) == 2, name
    for weights in run.weights:
        assert_weights_finite(weights, 3, name)
    after = run.parameters()
    assert all(bool(torch.isfinite(p).all()) for p in after), name
    assert not all(torch.equal(a, b) for a, b in zip(before, after)), name
