"""The MultiTaskLoss-file baselines (baselines/loss_files.py: equal, uncertainty, dwa,
uncertainty-paper, geometric, scale-invariant) against values computed by hand."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from harness.api.method import StepContext

from .asserts import CONTEXT, assert_resume_is_exact, loss_runner


def test_equal_weighting_sums() -> None:
    result = loss_runner("equal")([2.5, 1.5], StepContext(0, 10, 0.1))
    assert result.total == pytest.approx(4.0)
    assert result.weights == [1.0, 1.0]


def test_uncertainty_weighting_values_gradients_and_update() -> None:
    run = loss_runner("uncertainty")
    first = run([2.0, 0.5], StepContext(0, 10, 0.1))
    # s = (0, 0): total = L1 + L2, weights exp(-s) = 1
    assert first.total == pytest.approx(2.5)
    assert first.weights == pytest.approx([1.0, 1.0])
    # d total / d s_i = 1 - exp(-s_i) L_i = (-1, 0.5); SGD(lr 0.1, momentum, wd 5e-4) step from 0
    s = run.module.log_vars.detach()
    assert s.tolist() == pytest.approx([0.1, -0.05], abs=1e-6)
    second = run([2.0, 0.5], StepContext(0, 10, 0.1))
    assert second.weights == pytest.approx([math.exp(-0.1), math.exp(0.05)], rel=1e-5)
    assert second.total == pytest.approx(math.exp(-0.1) * 2 + 0.1 + math.exp(0.05) * 0.5 - 0.05, rel=1e-5)


def test_dwa_equal_for_two_epochs_then_softmax_of_loss_ratios() -> None:
    run = loss_runner("dwa")
    for value in ([3.0, 1.0], [1.0, 3.0]):  # epoch 0: means (2, 2)
        assert run(value, StepContext(0, 10, 0.1)).weights == [1.0, 1.0]
    for value in ([1.0, 1.5], [1.0, 0.5]):  # epoch 1: means (1, 1)
        assert run(value, StepContext(1, 10, 0.1)).weights == [1.0, 1.0]
    # epoch 2: ratios (1/2, 1/2) -> equal; epoch 3 after epoch-2 means (0.5, 1.0)
    assert run([0.5, 1.0], StepContext(2, 10, 0.1)).weights == pytest.approx([1.0, 1.0])
    weights = run([0.5, 1.0], StepContext(3, 10, 0.1)).weights
    r1, r2 = 0.5 / 1.0, 1.0 / 1.0
    e1, e2 = math.exp(r1 / 2), math.exp(r2 / 2)
    assert weights == pytest.approx([2 * e1 / (e1 + e2), 2 * e2 / (e1 + e2)], rel=1e-6)


def test_geometric_mean_weights_each_loss_by_the_mean_over_itself() -> None:
    geometric = loss_runner("geometric")([4.0, 1.0], CONTEXT)
    assert geometric.total == pytest.approx(2.0) and geometric.weights == pytest.approx([0.25, 1.0])


def test_scale_invariant_divides_each_gradient_by_its_loss() -> None:
    invariant = loss_runner("scale-invariant")([4.0, 0.5], CONTEXT)
    assert invariant.total == pytest.approx(math.log(2.0)) and invariant.weights == pytest.approx([0.25, 2.0])


@pytest.mark.parametrize("name", ["geometric", "scale-invariant"])
def test_log_based_files_survive_a_batch_loss_of_exactly_zero(name: str) -> None:
    # log(0) = -inf made the weights NaN (0 / 0 for geometric, inf for scale-invariant): the run failed
    result = loss_runner(name)([0.0, 1.0], CONTEXT)
    assert math.isfinite(float(result.total)) and all(math.isfinite(w) for w in result.weights), result
    if name == "scale-invariant":
        assert result.weights == pytest.approx([1e8, 1.0], rel=1e-3)  # 1 / (L + 1e-8)


def test_uncertainty_paper_halves_weights_and_log_variance_gradient() -> None:
    paper = loss_runner("uncertainty-paper")
    first = paper([2.0, 0.5], CONTEXT)
    assert first.total == pytest.approx(1.25) and first.weights == pytest.approx([0.5, 0.5])
    # d/ds_i = 0.5 - 0.5 L_i = (-0.5, 0.25): SGD lr 0.1 from 0
    assert paper.module.log_vars.detach().tolist() == pytest.approx([0.05, -0.025], abs=1e-6)


@pytest.mark.parametrize(
    ("name", "tasks", "state_matters"),
    [
        ("equal", 3, False),
        ("uncertainty", 2, True),  # max_tasks=2
        ("dwa", 3, True),
        ("uncertainty-paper", 2, True),  # max_tasks=2
        ("geometric", 3, False),
        ("scale-invariant", 3, False),
    ],
)
def test_resume_is_exact(name: str, tasks: int, state_matters: bool, tmp_path: Path) -> None:
    assert_resume_is_exact(name, tmp_path / "ck.pt", tasks, state_matters)
