"""CAGrad's host solve on plain floats (baselines/cagrad.py, issue 34) against the torch and
NumPy one it replaced, which stays in baselines/solvers.py (`cagrad_weights`, the new solve's
fallback) and is copied here for the coefficients (`old_coefficients`, the old module's
`cagrad_coefficients`): two tasks, the same bits; more tasks, the same minimiser to 1e-10,
on random Gram matrices, T = 2 to 8, with conflicting, ill-conditioned, rank-deficient,
identical, opposite and zero gradients, scaled from 1e-9 to 1e3."""

from __future__ import annotations

import math

import pytest
import torch

import baselines.cagrad
from baselines.cagrad import C, cagrad_coefficients, cagrad_weights
from baselines.solvers import cagrad_weights as old_weights


def old_coefficients(gram: torch.Tensor, w: torch.Tensor, c: float = C) -> torch.Tensor:
    """baselines/cagrad.py's `cagrad_coefficients` before issue 34, torch tensors throughout,
    from the old weights `w` (`old_weights(gram, c)`)."""
    gram = gram.double()
    count = gram.shape[0]
    root_phi = c * torch.sqrt(gram.mean() + 1e-8) + 1e-8
    gw_norm = torch.sqrt((w @ gram @ w).clamp_min(0.0))
    lam = root_phi / (gw_norm + 1e-8)
    return count * (torch.full((count,), 1.0 / count, dtype=torch.float64) + lam * w) / (1 + c**2)


def objective(gram: torch.Tensor, w: list[float], c: float = C) -> tuple[float, float]:
    """The weights' objective, w.G g_0 + sqrt(phi) sqrt(w^T G w + 1e-8), and the size of its
    terms (what its rounding is relative to: the two terms cancel where 0 is near the hull)."""
    weights = torch.tensor(w, dtype=torch.float64)
    root_phi = c * math.sqrt(float(gram.mean()) + 1e-8)
    mean_row = gram.mean(dim=1)
    value = float(weights @ mean_row + root_phi * torch.sqrt(weights @ gram @ weights + 1e-8))
    return value, float(weights @ mean_row.abs()) + root_phi * math.sqrt(float(gram.abs().max()) + 1e-8)


def gradient_sets(tasks: int, seed: int) -> list[tuple[str, torch.Tensor]]:
    """(kind, (T, P) float64 gradients): the cases every T is checked on."""
    generator = torch.Generator().manual_seed(seed)

    def randn(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=generator, dtype=torch.float64)

    cases = []
    for index in range(40):
        scale = 10 ** (-5 + 8 * index / 39)  # norms 1e-5 to 1e3
        shared = randn(1, 64) * (index % 4)  # 0: independent; 3: mostly aligned
        cases.append(("random", scale * (shared + randn(tasks, 64))))
    for index in range(6):
        base = randn(1, 64)
        cases.append(("ill-conditioned", base + 10.0 ** (-3 - index) * randn(tasks, 64)))  # nearly collinear
    cases.append(("rank-deficient", randn(tasks, max(1, tasks - 2))))  # more tasks than dimensions
    cases.append(("rank-deficient", randn(tasks, 1)))
    same = randn(1, 64)
    cases.append(("identical", same.expand(tasks, 64).clone()))
    cases.append(("opposite", torch.cat([same, -same, randn(tasks - 2, 64)])))
    cases.append(("one zero", torch.cat([torch.zeros(1, 64, dtype=torch.float64), randn(tasks - 1, 64)])))
    cases.append(("all zero", torch.zeros(tasks, 64, dtype=torch.float64)))
    cases.append(("tiny", 1e-9 * randn(tasks, 64)))
    return cases


def float32_gram(grads: torch.Tensor) -> torch.Tensor:
    """As host_gram builds it from the trunk's float32 gradients (not exactly symmetric)."""
    flat = grads.float()
    return flat.double() @ flat.double().T


@pytest.mark.parametrize("seed", [0, 107])  # 107: a case where torch's root turns a comparison
def test_two_tasks_give_the_same_bits(seed: int) -> None:
    """The golden-section search on floats rounds every value as the torch one did (seed
    107 holds a case where torch's root turns a comparison: the check that calls it must
    keep its ulps)."""
    for kind, grads in gradient_sets(2, seed):
        for gram in (grads @ grads.T, float32_gram(grads)):
            before = old_weights(gram, C)
            assert cagrad_weights(gram, C) == before.tolist(), kind
            assert torch.equal(cagrad_coefficients(gram), old_coefficients(gram, before)), kind


@pytest.mark.parametrize("tasks", range(3, 9))
def test_more_tasks_reach_the_same_minimum_to_1e_10(tasks: int) -> None:
    """Where the minimiser is unique (full-rank gradients), the weights and the coefficients
    agree to 1e-10 (the coefficients relative to their size, at least 1); everywhere the
    objective agrees to 1e-13 of its terms' size and the shared update, sum_i coefficient_i
    g_i, to 1e-10 of the largest gradient or the update (rank-deficient, identical or zero
    gradients leave the weights free along the gradients' null space, where the update does
    not move)."""
    for seed in (10 * tasks, 10 * tasks + 1) if tasks <= 4 else (10 * tasks,):
        for kind, grads in gradient_sets(tasks, seed):
            gram = grads @ grads.T
            weights = old_weights(gram, C)
            new, old = cagrad_weights(gram, C), weights.tolist()
            assert all(x >= 0 for x in new) and sum(new) == pytest.approx(1.0, abs=1e-14), kind
            (new_value, size), (old_value, _) = objective(gram, new), objective(gram, old)
            assert abs(new_value - old_value) <= 1e-13 * size, kind
            coefficients, before = cagrad_coefficients(gram), old_coefficients(gram, weights)
            update = before @ grads
            norm = max(float(grads.norm(dim=1).max()), float(update.norm()), 1e-300)
            assert float((coefficients @ grads - update).norm()) <= 1e-10 * norm, kind
            if kind in ("random", "ill-conditioned", "one zero") and bool(torch.linalg.matrix_rank(gram) == tasks):
                assert max(abs(x - y) for x, y in zip(new, old)) <= 1e-10, kind
                size = max(1.0, float(before.abs().max()))
                assert float((coefficients - before).abs().max()) <= 1e-10 * size, kind


def test_where_the_fast_solve_declines_the_old_one_answers_unchanged(monkeypatch: pytest.MonkeyPatch) -> None:
    """T >= 3: where the active-set Newton method is not clear-cut (None), the answer is the
    old solver's, bit for bit."""
    monkeypatch.setattr(baselines.cagrad, "_face_minimum", lambda a, b, rho: None)
    for tasks in (3, 5):
        for kind, grads in gradient_sets(tasks, 99)[::7]:
            gram = grads @ grads.T
            assert cagrad_weights(gram, C) == old_weights(gram, C).tolist(), kind


def test_the_fast_solve_answers_most_random_cases() -> None:
    """The fallback is the exception: the active-set method answers on its own (the cost
    the benchmark measures) for well-conditioned gradients."""
    answered = 0
    for tasks in (3, 8):
        for kind, grads in gradient_sets(tasks, 7):
            if kind == "random":
                gram = grads @ grads.T
                root_phi = C * math.sqrt(float(gram.mean()) + 1e-8)
                answer = baselines.cagrad._face_minimum(gram.tolist(), gram.mean(dim=1).tolist(), root_phi)
                answered += answer is not None
    assert answered >= 70  # of 80
