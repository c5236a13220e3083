"""The added baselines against their papers' rules on hand-computed two-task values."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from harness import registry
from tests.helpers import REPO, loss_file
from baselines.cagrad import cagrad_coefficients
from baselines.db_mtl import db_mtl_update
from baselines.famo import FAMOCombiner
from baselines.gradnorm import gradnorm_weight_gradient
from baselines.gradvac import vaccinate
from baselines.rlw import random_weights
from baselines.solvers import aligned_weights, cagrad_weights, imtl_g_weights, min_norm_weights, nash_weights
from harness.api.method import StepContext
from harness.methods.loss_level import InProcessLossRunner
from harness.api.records import TrainConfig
from harness.methods.resolve import registered_method
from harness.oracle.guest.loader import load_submission

from .test_baselines import TwoHeads

CONFIG = TrainConfig(epochs=10)
CONTEXT = StepContext(0, 10, 0.1)


def gram(*rows: list[float]) -> tuple[torch.Tensor, torch.Tensor]:
    grads = torch.tensor(rows, dtype=torch.float64)
    return grads, grads @ grads.T


def test_min_norm_two_tasks_and_frank_wolfe() -> None:
    _, g = gram([1.0, 0.0], [0.0, 2.0])
    assert min_norm_weights(g).tolist() == pytest.approx([0.8, 0.2])  # (4 - 0) / (1 + 4)
    _, same_direction = gram([1.0, 0.0], [3.0, 0.0])
    assert min_norm_weights(same_direction).tolist() == pytest.approx([1.0, 0.0])  # clipped
    grads, g3 = gram([1.0, 0.0], [0.0, 1.0], [1.0, 1.0])
    weights = min_norm_weights(g3)
    assert (weights @ grads).tolist() == pytest.approx([0.5, 0.5], abs=3e-3)  # Frank-Wolfe: sublinear
    assert float(weights.sum()) == pytest.approx(1.0)


def test_cagrad_coefficients() -> None:
    c = 0.4
    same, identical = gram([1.0, 2.0], [1.0, 2.0])  # g_w = g_0 for every w: d = g (1 + c) / (1 + c^2)
    assert (cagrad_coefficients(identical, c) @ same).tolist() == pytest.approx([1.4 / 1.16, 2.8 / 1.16], rel=1e-6)
    assert cagrad_coefficients(identical, 0.0).tolist() == pytest.approx([0.5, 0.5])  # c = 0: the average
    grads, g = gram([2.0, 0.0], [0.0, 1.0])
    mean = g.mean(dim=1)
    root_phi = c * math.sqrt(float(g.mean()))
    grid = torch.linspace(0, 1, 100001, dtype=torch.float64)
    values = grid * mean[0] + (1 - grid) * mean[1] + root_phi * torch.sqrt(4 * grid**2 + (1 - grid) ** 2)
    best = float(grid[values.argmin()])
    assert float(cagrad_weights(g, c)[0]) == pytest.approx(best, abs=1e-4)
    w = torch.tensor([best, 1 - best], dtype=torch.float64)
    g_w = w @ grads
    expected = (grads.mean(0) + root_phi / g_w.norm() * g_w) / (1 + c**2)
    assert (cagrad_coefficients(g, c) @ grads).tolist() == pytest.approx(expected.tolist(), abs=1e-4)


def test_imtl_g_gives_equal_projections() -> None:
    grads, _ = gram([1.0, 0.0], [0.0, 2.0])
    alpha = imtl_g_weights(grads)
    assert alpha.tolist() == pytest.approx([2 / 3, 1 / 3])  # alpha_2 = g1.U / (D.U) = 1 / 3
    skewed, _ = gram([1.0, 0.5, 0.0], [-0.3, 2.0, 1.0], [0.2, 0.1, 3.0])
    alpha = imtl_g_weights(skewed)
    aggregated = alpha @ skewed
    projections = skewed @ aggregated / skewed.norm(dim=1)
    assert float(alpha.sum()) == pytest.approx(1.0)
    assert projections.tolist() == pytest.approx([float(projections[0])] * 3, rel=1e-8)


def test_nash_weights_solve_the_bargaining_equation() -> None:
    _, g = gram([1.0, 0.0], [0.0, 2.0])
    assert nash_weights(g).tolist() == pytest.approx([1.0, 0.5])  # G alpha = (1, 2) = 1 / alpha
    for rows in (([1.0, 0.3], [0.4, -2.0]), ([1.0, 0.5, 0.0], [-0.3, 2.0, 1.0], [0.2, 0.1, 3.0])):
        _, g = gram(*rows)
        alpha = nash_weights(g)
        assert bool((alpha > 0).all())
        assert (g @ alpha).tolist() == pytest.approx((1 / alpha).tolist(), rel=1e-8)


def test_aligned_mtl_balances_to_the_smallest_singular_value() -> None:
    _, g = gram([1.0, 0.0], [0.0, 2.0])
    assert aligned_weights(g).tolist() == pytest.approx([1.0, 0.5])  # B = diag(1, 1/2)
    grads, g = gram([1.0, 0.3, 0.0], [0.5, 2.0, 1.0])
    values, vectors = torch.linalg.eigh(g)
    balance = values.min().sqrt() * vectors @ torch.diag(values.rsqrt()) @ vectors.T
    aligned = balance @ grads
    assert torch.allclose(aligned @ aligned.T, values.min() * torch.eye(2, dtype=torch.float64), atol=1e-9)
    assert aligned_weights(g).tolist() == pytest.approx(balance.sum(0).tolist())


def test_gradvac_reaches_the_target_cosine() -> None:
    grads = torch.tensor([[1.0, 0.0], [-1.0, 1.0]], dtype=torch.float64)
    update, coefficients, targets = vaccinate(grads, torch.zeros(2, 2, dtype=torch.float64), torch.Generator())
    # target 0: PCGrad's projections, g1' = (0.5, 0.5), g2' = (0, 1)
    assert update.tolist() == pytest.approx([0.5, 1.5])
    assert coefficients.tolist() == pytest.approx([2.0, 1.5])
    assert targets[0, 1].item() == pytest.approx(0.01 * -math.sqrt(0.5))
    orthogonal = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    target = torch.tensor([[0.0, 0.5], [0.5, 0.0]], dtype=torch.float64)
    update, coefficients, _ = vaccinate(orthogonal, target, torch.Generator())
    first = torch.tensor([1.0, coefficients[1].item() - 1], dtype=torch.float64)  # g1' = g1 + w g2
    assert first[1].item() == pytest.approx(0.5 / math.sqrt(0.75))
    assert float(first @ orthogonal[1] / first.norm()) == pytest.approx(0.5)  # cosine = target


def test_db_mtl_buffer_and_balancing() -> None:
    grads = torch.tensor([[3.0, 4.0], [0.0, 1.0]])
    update, scales, buffer = db_mtl_update(grads, None, 1)
    assert torch.allclose(buffer, torch.tensor([[0.3, 0.4], [0.0, 0.1]]))  # g + 0.9 (0 - g)
    assert scales.tolist() == pytest.approx([1.0, 5.0], rel=1e-6)
    assert update.tolist() == pytest.approx([0.3, 0.9], rel=1e-6)
    _, _, second = db_mtl_update(grads, buffer, 2)
    assert torch.allclose(second, grads * (1 - 0.9 * 0.9 / math.sqrt(2)))


def test_gradnorm_weight_gradient() -> None:
    gradient = gradnorm_weight_gradient(torch.ones(2), torch.tensor([2.0, 1.0]), torch.tensor([1.0, 1.0]),
                                        torch.tensor([2.0, 1.0]))
    # G = (2, 1), mean 1.5; r = (2/3, 4/3); target = 1.5 r^1.5 = (0.816, 2.309): signs (+, -)
    assert gradient.tolist() == [2.0, -1.0]


def orthogonal_toy() -> TwoHeads:
    """Heads a = (1, 0) and b = (0, 2): orthogonal tasks of different gradient norms."""
    return TwoHeads(second_head=(0.0, 2.0))


def _step(name: str, model: TwoHeads, config: TrainConfig = CONFIG) -> tuple[list[float], torch.Tensor]:
    combiner = registered_method(name, ("a", "b")).make_combiner(config)
    combiner.attach(model, 0)
    losses = list(model(torch.tensor([[1.0, 1.0]])))
    result = combiner.backward(losses, CONTEXT)
    return result.weights, model.trunk.weight.grad.clone()


def test_mgda_ub_weights_come_from_the_representation() -> None:
    model = orthogonal_toy()
    weights, trunk_grad = _step("mgda-ub", model)
    # grad_z L_1 = (1, 0), grad_z L_2 = (0, 2): min-norm weights (0.8, 0.2)
    assert weights == pytest.approx([0.8, 0.2])
    # d(0.8 L_1 + 0.2 L_2)/dW = (0.8 a + 0.2 b) x^T with x = (1, 1)
    assert torch.allclose(trunk_grad, torch.tensor([[0.8, 0.8], [0.4, 0.4]]))
    assert torch.allclose(model.heads[1].weight.grad, torch.tensor([[0.2, 0.2]]))


def test_nash_and_aligned_on_the_toy_model() -> None:
    # parameter gradients: L_1 -> [[1, 1], [0, 0]], L_2 -> [[0, 0], [2, 2]]: |g|^2 = 2 and 8, orthogonal
    weights, trunk_grad = _step("nash-mtl", orthogonal_toy())
    assert weights == pytest.approx([1 / math.sqrt(2), 1 / math.sqrt(8)])
    weights, trunk_grad = _step("aligned-mtl", orthogonal_toy())
    assert weights == pytest.approx([1.0, 0.5])  # sqrt(2) * diag(1/sqrt 2, 1/sqrt 8)
    assert torch.allclose(trunk_grad, torch.ones(2, 2))


def test_imtl_scales_losses_and_learns_the_scales() -> None:
    model = orthogonal_toy()
    weights, _ = _step("imtl", model)
    assert weights == pytest.approx([2 / 3, 1 / 3])  # s = 0 at the first step: alpha only
    combiner = registered_method("imtl", ("a", "b")).make_combiner(CONFIG)
    combiner.attach(model, 0)
    losses = list(model(torch.tensor([[1.0, 1.0]])))  # L = (1, 2)
    combiner.backward(losses, CONTEXT)
    # d/ds (e^s L - s) at s = 0 is L - 1 = (0, 1); SGD lr 0.1 with weight decay on 0 gives (0, -0.1)
    assert combiner.scales.detach().tolist() == pytest.approx([0.0, -0.1], abs=1e-7)


def test_gradnorm_combiner_steps_and_renormalises() -> None:
    model = orthogonal_toy()
    combiner = registered_method("gradnorm", ("a", "b")).make_combiner(CONFIG)
    combiner.attach(model, 0)
    losses = list(model(torch.tensor([[1.0, 1.0]])))
    result = combiner.backward(losses, CONTEXT)
    assert result.weights == [1.0, 1.0]  # the step uses the weights before their update
    # first step: L = L(0), r = 1; |grad_W L_i| = sqrt 2, sqrt 8: G = (1.41, 2.83), target 2.12: signs (-, +)
    raw = torch.tensor([1 + 0.1 * math.sqrt(2), 1 - 0.1 * math.sqrt(8)])
    assert combiner.weights.detach().tolist() == pytest.approx((2 * raw / raw.sum()).tolist(), rel=1e-6)


def test_famo_weights_and_update() -> None:
    famo = FAMOCombiner()
    assert famo.effective_weights(torch.tensor([2.0, 1.0])).tolist() == pytest.approx([1 / 3, 2 / 3])
    parameter = nn.Parameter(torch.tensor([1.0, 1.0]))
    losses = [2 * parameter[0], parameter[1]]
    result = famo.backward(losses, CONTEXT)
    assert result.weights == pytest.approx([1 / 3, 2 / 3])
    assert parameter.grad.tolist() == pytest.approx([2 / 3, 2 / 3])
    famo.after_step([torch.tensor(1.0), torch.tensor(0.9)])  # task 1 fell by log 2, task 2 by log(1/0.9)
    logits = famo.logits.detach()
    assert logits[1] > 0 > logits[0]  # the task that improved least gains weight
    assert logits.tolist() == pytest.approx([-0.025, 0.025], rel=1e-3)  # Adam's first step: lr x sign


def test_rlw_draws_seeded_softmax_normal_weights() -> None:
    first = random_weights(2, torch.Generator().manual_seed(3))
    assert float(first.sum()) == pytest.approx(1.0)
    assert first.tolist() == random_weights(2, torch.Generator().manual_seed(3)).tolist()
    normal = torch.randn(2, generator=torch.Generator().manual_seed(3))
    assert first.tolist() == pytest.approx(torch.softmax(normal, 0).tolist())


def _runner(name: str) -> InProcessLossRunner:
    loaded = load_submission(loss_file(name), ("fine", "coarse"))
    return InProcessLossRunner(loaded.loss_class, loaded.path, CONFIG)


def test_loss_level_files() -> None:
    geometric = _runner("geometric")([4.0, 1.0], CONTEXT)
    assert geometric.total == pytest.approx(2.0) and geometric.weights == pytest.approx([0.25, 1.0])
    invariant = _runner("scale-invariant")([4.0, 0.5], CONTEXT)
    assert invariant.total == pytest.approx(math.log(2.0)) and invariant.weights == pytest.approx([0.25, 2.0])
    paper = _runner("uncertainty-paper")
    first = paper([2.0, 0.5], CONTEXT)
    assert first.total == pytest.approx(1.25) and first.weights == pytest.approx([0.5, 0.5])
    # d/ds_i = 0.5 - 0.5 L_i = (-0.5, 0.25): SGD lr 0.1 from 0
    assert paper.module.log_vars.detach().tolist() == pytest.approx([0.05, -0.025], abs=1e-6)


def test_every_baseline_trains_a_few_steps(tmp_path) -> None:
    from harness.run.trainer import train
    from tasks.cifar100_mtl import Cifar100MultiTask

    task = Cifar100MultiTask()
    config = TrainConfig(epochs=1, batch_size=32, data="synthetic", train_size=64, test_size=50)
    for name in registry.methods.names():
        combiner = registered_method(name, task.loss_names).make_combiner(config)
        outcome = train(task, "resnet20", 0, config, combiner, torch.device("cpu"), tmp_path)
        assert outcome.error is None, name
        weights = outcome.epochs[0].task_weights
        assert all(math.isfinite(w) for w in weights.values()), name


def test_readme_baseline_table_matches_the_registry() -> None:
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Baselines", 1)[1].split("\n## ", 1)[0]
    rows = [line.split("|") for line in section.splitlines() if line.startswith("| `")]
    listed = {row[1].strip().strip("`"): row[2].strip().split()[0] for row in rows}
    assert listed == {name: method.level for name, method in registry.methods.load_all()[0].items()}
