"""The trusted face metrics (all from predictions already turned back into years / labels)."""

from __future__ import annotations

import torch

RMSE_CAP = 30.0


def rmse(predicted: torch.Tensor, target: torch.Tensor) -> float:
    return float(torch.sqrt(torch.mean((predicted.double() - target.double()) ** 2)))


def mae(predicted: torch.Tensor, target: torch.Tensor) -> float:
    return float(torch.mean(torch.abs(predicted.double() - target.double())))


def accuracy(predicted: torch.Tensor, target: torch.Tensor) -> float:
    return float((predicted == target).double().mean())


def macro_f1(predicted: torch.Tensor, target: torch.Tensor, classes: int = 2) -> float:
    """Unweighted mean of the per-class F1 scores; a class never predicted nor present
    scores 0 (sklearn's zero_division=0)."""
    scores = []
    for label in range(classes):
        tp = int(((predicted == label) & (target == label)).sum())
        fp = int(((predicted == label) & (target != label)).sum())
        fn = int(((predicted != label) & (target == label)).sum())
        scores.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return sum(scores) / classes


def harmonic_score(age_rmse: float, gender_f1: float) -> float:
    """The competition's score: 2ag/(a+g), a = 1 - min(RMSE, 30)/30, g = gender macro-F1."""
    a = 1.0 - min(age_rmse, RMSE_CAP) / RMSE_CAP
    g = gender_f1
    return 0.0 if a + g == 0 else 2 * a * g / (a + g)


def one_off_accuracy(predicted: torch.Tensor, target: torch.Tensor) -> float:
    """Adience 1-off: the predicted age group is the true one or adjacent to it."""
    return float(((predicted - target).abs() <= 1).double().mean())
