"""RLW (baselines/rlw.py): seeded softmax-normal weights."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from baselines.rlw import random_weights

from .asserts import assert_resume_is_exact


def test_rlw_draws_seeded_softmax_normal_weights() -> None:
    first = random_weights(2, torch.Generator().manual_seed(3))
    assert float(first.sum()) == pytest.approx(1.0)
    assert first.tolist() == random_weights(2, torch.Generator().manual_seed(3)).tolist()
    normal = torch.randn(2, generator=torch.Generator().manual_seed(3))
    assert first.tolist() == pytest.approx(torch.softmax(normal, 0).tolist())


def test_resume_is_exact(tmp_path: Path) -> None:
    # the draws continue from the checkpointed generator, not from the seed
    assert_resume_is_exact("rlw", tmp_path / "ck.pt", tasks=3)
