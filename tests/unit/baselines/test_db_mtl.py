"""DB-MTL (baselines/db_mtl.py): the gradient buffer and the magnitude balancing."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from baselines.db_mtl import db_mtl_update

from .asserts import assert_resume_is_exact


def test_db_mtl_buffer_and_balancing() -> None:
    grads = torch.tensor([[3.0, 4.0], [0.0, 1.0]])
    update, scales, buffer = db_mtl_update(grads, None, 1)
    assert torch.allclose(buffer, torch.tensor([[0.3, 0.4], [0.0, 0.1]]))  # g + 0.9 (0 - g)
    assert scales.tolist() == pytest.approx([1.0, 5.0], rel=1e-6)
    assert update.tolist() == pytest.approx([0.3, 0.9], rel=1e-6)
    _, _, second = db_mtl_update(grads, buffer, 2)
    assert torch.allclose(second, grads * (1 - 0.9 * 0.9 / math.sqrt(2)))


def test_resume_is_exact(tmp_path: Path) -> None:
    # the buffer travels as a checkpoint tensor, the step count in the JSON state
    assert_resume_is_exact("db-mtl", tmp_path / "ck.pt", tasks=3)
