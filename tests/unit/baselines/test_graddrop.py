"""GradDrop (baselines/graddrop.py): purity, sign selection with sign(A), the per-feature
mask over the batch, and the seeded draws."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from baselines.graddrop import sign_dropout
from harness.api import stream_seed
from harness.methods.resolve import registered_method

from .asserts import CONFIG, TwoHeads, assert_resume_is_exact, combiner_backward


def test_sign_dropout_keeps_the_sign_picked_by_purity() -> None:
    per_sample = torch.tensor([[[1.0, -1.0, 2.0]], [[1.0, 1.0, -1.0]]])  # T = 2, B = 1, F = 3
    uniform = torch.tensor([0.3, 0.6, 0.5])
    # P = 1/2 (1 + (2, 0, 1) / (2, 2, 3)) = (1, 1/2, 2/3): positives, negatives, positives
    new, kept = sign_dropout(per_sample, torch.ones(1, 3), uniform)
    assert new.tolist() == [pytest.approx([2.0, -1.0, 2.0])]
    assert float(kept) == pytest.approx(4 / 6)
    # sign(A) = -1 on feature 3 flips nabla there to (-2, 1): P = 1/3 > U = 0.2 keeps task 2's
    # positive nabla, i.e. its raw gradient -1
    new, kept = sign_dropout(per_sample, torch.tensor([[1.0, 1.0, -1.0]]), torch.tensor([0.3, 0.6, 0.2]))
    assert new.tolist() == [pytest.approx([2.0, -1.0, -1.0])]
    assert float(kept) == pytest.approx(4 / 6)


def test_the_mask_is_per_feature_from_the_batch_sum() -> None:
    per_sample = torch.tensor([[[1.0], [1.0]], [[-3.0], [1.0]]])  # T = 2, B = 2, F = 1: nabla = (2, -2)
    ones = torch.ones(2, 1)
    new, _ = sign_dropout(per_sample, ones, torch.tensor([0.4]))  # P = 1/2 > U: task 1 only
    assert new.tolist() == [[1.0], [1.0]]
    new, _ = sign_dropout(per_sample, ones, torch.tensor([0.6]))  # P < U: task 2, both samples
    assert new.tolist() == [[-3.0], [1.0]]


def test_graddrop_on_the_toy() -> None:
    model = TwoHeads()  # z = (1, 1) > 0; dL/dz = (1, 0) and (-1, 1): P = (1/2, 1)
    combiner = registered_method("graddrop", ("a", "b")).make_combiner(CONFIG)
    combiner.attach(model, 1)  # the method's stream: stream_seed(1, "gradient-method")
    draws = torch.rand(2, generator=torch.Generator().manual_seed(stream_seed(1, "gradient-method")))
    assert float(draws[0]) < 0.5  # this draw keeps task a's positive gradient on feature 1
    step = combiner_backward(combiner, model, list(model(torch.tensor([[1.0, 1.0]]))))
    # z's gradient (1, 1), where `equal` gives (0, 1); the trunk's is that times x = (1, 1)
    assert step.trunk is not None and step.trunk.tolist() == [[1.0, 1.0], [1.0, 1.0]]
    assert step.result.weights == [1.0, 1.0]
    assert float(step.result.extras["kept_fraction"]) == pytest.approx(2 / 3)
    assert [head.tolist() for head in step.heads if head is not None] == [[[1.0, 1.0]], [[1.0, 1.0]]]


def test_resume_is_exact(tmp_path: Path) -> None:
    # the draws continue from the checkpointed generator
    # seed 2: a job whose draws after the restart differ from a fresh stream's (over two steps some
    # seeds draw the same orders or masks again, and a forgetful resume would pass unseen)
    assert_resume_is_exact("graddrop", tmp_path / "ck.pt", tasks=3, seed=2)
