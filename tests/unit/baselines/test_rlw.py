"""RLW (baselines/rlw.py): seeded softmax-normal weights."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from baselines.rlw import random_weights
from harness.api import stream_seed
from harness.methods.resolve import registered_method

from .asserts import CONFIG, TwoHeads, assert_resume_is_exact, combiner_backward


def test_rlw_draws_seeded_softmax_normal_weights() -> None:
    first = random_weights(2, torch.Generator().manual_seed(3))
    assert float(first.sum()) == pytest.approx(1.0)
    assert first.tolist() == random_weights(2, torch.Generator().manual_seed(3)).tolist()
    normal = torch.randn(2, generator=torch.Generator().manual_seed(3))
    assert first.tolist() == pytest.approx(torch.softmax(normal, 0).tolist())


def test_rlw_draws_from_its_own_stream_not_the_data_generators() -> None:
    # the trainer seeds the data generator and torch with the job's seed; RLW's first draw must
    # not be the data stream's first normals
    combiner = registered_method("rlw", ("a", "b")).make_combiner(CONFIG)
    model = TwoHeads()
    combiner.attach(model, 7)
    weights = combiner_backward(combiner, model, list(model(torch.tensor([[1.0, 1.0]])))).result.weights
    same_stream = random_weights(2, torch.Generator().manual_seed(7))
    assert weights != pytest.approx(same_stream.tolist())
    assert weights == pytest.approx(random_weights(2, torch.Generator().manual_seed(stream_seed(7, "rlw"))).tolist())
    assert stream_seed(7, "rlw") != stream_seed(8, "rlw") and stream_seed(7, "rlw") != stream_seed(7, "other")


def test_resume_is_exact(tmp_path: Path) -> None:
    # the draws continue from the checkpointed generator, not from the seed
    assert_resume_is_exact("rlw", tmp_path / "ck.pt", tasks=3)
