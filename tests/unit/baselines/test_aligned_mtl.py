"""Aligned-MTL (baselines/aligned_mtl.py): the balance matrix by hand and on the toy model."""

from __future__ import annotations

import pytest
import torch

from baselines.solvers import aligned_weights

from .asserts import assert_stateless, gram, orthogonal_toy, toy_step


def test_aligned_mtl_balances_to_the_smallest_singular_value() -> None:
    _, g = gram([1.0, 0.0], [0.0, 2.0])
    assert aligned_weights(g).tolist() == pytest.approx([1.0, 0.5])  # B = diag(1, 1/2)
    grads, g = gram([1.0, 0.3, 0.0], [0.5, 2.0, 1.0])
    values, vectors = torch.linalg.eigh(g)
    balance = values.min().sqrt() * vectors @ torch.diag(values.rsqrt()) @ vectors.T
    aligned = balance @ grads
    assert torch.allclose(aligned @ aligned.T, values.min() * torch.eye(2, dtype=torch.float64), atol=1e-9)
    assert aligned_weights(g).tolist() == pytest.approx(balance.sum(0).tolist())


def test_aligned_on_the_toy_model() -> None:
    # parameter gradients: L_1 -> [[1, 1], [0, 0]], L_2 -> [[0, 0], [2, 2]]: |g|^2 = 2 and 8, orthogonal
    weights, trunk_grad = toy_step("aligned-mtl", orthogonal_toy())
    assert weights == pytest.approx([1.0, 0.5])  # sqrt(2) * diag(1/sqrt 2, 1/sqrt 8)
    assert torch.allclose(trunk_grad, torch.ones(2, 2))


def test_has_no_state_to_resume() -> None:
    assert_stateless("aligned-mtl")


def test_a_near_degenerate_direction_is_cut_as_the_authors_do() -> None:
    # lambda_min / lambda_max ~ 2e-10 is below T * float32 eps (the authors' cut-off): rank 1 is kept and the
    # balance matrix is v v^T, v ~ (1, 1) / sqrt(2), so alpha ~ (1, 1); keeping lambda_min (a float64 cut-off)
    # scaled the whole update by sqrt(lambda_min / lambda_max) ~ 1e-5
    grads = torch.tensor([[1.0, 0.0], [1.0, 3e-5]], dtype=torch.float64)
    assert aligned_weights(grads @ grads.T).tolist() == pytest.approx([1.0, 1.0], abs=1e-4)
