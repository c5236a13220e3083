"""DB-MTL (baselines/db_mtl.py): the gradient buffer and the magnitude balancing."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from baselines.db_mtl import db_mtl_update
from harness.methods.resolve import registered_method

from .asserts import CONFIG, TwoHeads, assert_resume_is_exact, combiner_backward


def test_db_mtl_buffer_and_balancing() -> None:
    grads = torch.tensor([[3.0, 4.0], [0.0, 1.0]])
    update, scales, buffer = db_mtl_update(grads, None, 1)
    assert torch.allclose(buffer, torch.tensor([[0.3, 0.4], [0.0, 0.1]]))  # g + 0.9 (0 - g)
    assert scales.tolist() == pytest.approx([1.0, 5.0], rel=1e-6)
    assert update.tolist() == pytest.approx([0.3, 0.9], rel=1e-6)
    _, _, second = db_mtl_update(grads, buffer, 2)
    assert torch.allclose(second, grads * 0.19)  # beta_sigma = 0 (LibMTL): g + 0.9 (0.1 g - g), whatever the step
    _, _, faded = db_mtl_update(grads, buffer, 2, sigma=0.5)  # the fading variant the paper also names
    assert torch.allclose(faded, grads * (1 - 0.9 * 0.9 / math.sqrt(2)))


def test_reported_weights_are_in_the_units_of_the_raw_loss_gradients() -> None:
    # TwoHeads at x = (1, 1): d L_1 / d W = [[1, 1], [0, 0]] (norm sqrt 2), d L_2 / d W = [[-1, -1], [1, 1]]
    # (norm 2); the losses, shifted, are L_1 = 1 + 1 and L_2 = 0 + 1. The first buffer is 0.1 g_i / (L_i + 1e-8), so
    # task i's share of the update has norm max_j |h_j| and weight max_j |h_j| / |d L_i / d W|.
    model = TwoHeads()
    combiner = registered_method("db-mtl", ("a", "b")).make_combiner(CONFIG)
    combiner.attach(model, 0)
    first, second = model(torch.tensor([[1.0, 1.0]]))
    losses = [first + 1.0, second + 1.0]  # 2 and 1
    step = combiner_backward(combiner, model, losses)
    buffer_norms = [0.1 * math.sqrt(2) / 2, 0.1 * 2 / 1]
    largest = max(buffer_norms)
    assert step.result.weights == pytest.approx([largest / math.sqrt(2), largest / 2], rel=1e-5)
    # the update: each buffered log-loss gradient scaled to the largest norm, summed
    h1 = torch.tensor([1.0, 1.0, 0.0, 0.0]) * 0.1 / 2
    h2 = torch.tensor([-1.0, -1.0, 1.0, 1.0]) * 0.1 / 1
    expected = h1 * largest / buffer_norms[0] + h2 * largest / buffer_norms[1]
    assert step.trunk is not None
    assert step.trunk.reshape(-1).tolist() == pytest.approx(expected.tolist(), rel=1e-5)


def test_resume_is_exact(tmp_path: Path) -> None:
    # the buffer travels as a checkpoint tensor, the step count in the JSON state
    assert_resume_is_exact("db-mtl", tmp_path / "ck.pt", tasks=3)
