"""Aligned-MTL from scratch (Senushkin, Patakin, Kuznetsov and Konushin, "Independent
Component Alignment for Multi-Task Learning", CVPR 2023; the authors' SamsungLabs/MTL
ProcrustesSolver with scale_mode "min", pre-defined task weights 1).

The paper's formula on the SVD of the gradient matrix itself (the project and the authors
eigendecompose the Gram matrix instead): G = U S V^T (rows of G are the task gradients),
rank r = the number of singular values with s^2 > max s^2 * T * eps (the authors' tolerance
on the Gram eigenvalues, eps = torch.finfo().eps of float32; at least 1); the aligned
gradients are s_min U_r V_r^T (orthogonal, every one of norm s_min) and the update is their
sum, s_min 1^T U_r V_r^T. A zero task gradient lowers the rank and is dropped.
"""

from __future__ import annotations

import torch

NAME = "aligned-mtl"
EPS = torch.finfo(torch.float32).eps


class Reference:
    def __init__(self, tasks: int, seed: int) -> None:
        self.tasks = tasks

    def step(self, grads: torch.Tensor, losses: torch.Tensor) -> torch.Tensor:
        g = grads.to(torch.float64)
        u, s, vh = torch.linalg.svd(g, full_matrices=False)
        rank = max(1, int((s**2 > s.max() ** 2 * self.tasks * EPS).sum()))
        u, s, vh = u[:, :rank], s[:rank], vh[:rank]
        return s.min() * (u.sum(0) @ vh)
