"""From-scratch references of the loss-level baselines, for the loss-level cross-check
(test_loss_level_cross_check.py): written from the papers and the authors' code, importing
nothing from `baselines/` (from `harness/` only `stream_seed`, the seed hash RLW's documented
stream starts from).

Each reference is built as `REFERENCES[name](tasks, seed)` and answers, at every step, the
effective weights d total / d L_i in float64 for the step's loss values and its 0-based epoch
(`weights(values, epoch, lr)`); a method that learns from the step (FAMO) also takes the same
batch's losses after the model's step (`after_step(values)`). Where a rule is a total, the
weights are its autograd gradient in float64 at the loss values (so the reference is the
formula, not a hand-derived weight).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from harness.api import stream_seed

F64 = torch.float64
# TrainConfig's defaults, the protocol's SGD that a loss file's own parameters take
# (the uncertainty log-variances): momentum 0.9, weight decay 5e-4; the lr is the step's.
SGD_MOMENTUM, SGD_WEIGHT_DECAY = 0.9, 5e-4


def gradient_of(total: Callable[[torch.Tensor], torch.Tensor], values: torch.Tensor) -> torch.Tensor:
    """d total / d L at `values` (float64 autograd)."""
    leaf = values.detach().to(F64).clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(total(leaf), leaf)
    return grad


class LossReference:
    def __init__(self, tasks: int, seed: int) -> None:
        self.tasks, self.seed = tasks, seed

    def weights(self, values: torch.Tensor, epoch: int, lr: float) -> torch.Tensor:
        raise NotImplementedError

    def after_step(self, values: torch.Tensor) -> None:
        pass


class Equal(LossReference):
    """Linear scalarisation with unit weights: total = sum_i L_i."""

    def weights(self, values: torch.Tensor, epoch: int, lr: float) -> torch.Tensor:
        return gradient_of(lambda L: L.sum(), values)


class Uncertainty(LossReference):
    """Kendall, Gal and Cipolla 2018 as in the authors' example notebook
    (yaringal/multi-task-learning-example: `torch.exp(-log_var) * loss + log_var`, log_var
    from 0) with `half` = 1; the paper's eq. 7 (0.5 exp(-s) L + 0.5 s) with `half` = 0.5.
    s is trained by plain SGD with momentum and L2 weight decay (torch's SGD: d = g + wd s;
    b = d at the first step, then b = m b + d; s -= lr b) on d total / d s = half (1 - exp(-s) L)."""

    factor = 1.0

    def __init__(self, tasks: int, seed: int) -> None:
        super().__init__(tasks, seed)
        self.s = torch.zeros(tasks, dtype=F64)
        self.buffer: torch.Tensor | None = None

    def weights(self, values: torch.Tensor, epoch: int, lr: float) -> torch.Tensor:
        f, s = self.factor, self.s
        weights = gradient_of(lambda L: (f * torch.exp(-s) * L + f * s).sum(), values)
        grad_s = f * (1.0 - torch.exp(-s) * values.to(F64))
        step = grad_s + SGD_WEIGHT_DECAY * s
        self.buffer = step.clone() if self.buffer is None else SGD_MOMENTUM * self.buffer + step
        self.s = s - lr * self.buffer
        return weights


class UncertaintyPaper(Uncertainty):
    factor = 0.5


class DWA(LossReference):
    """Liu, Johns and Davison 2019, eq. 2: w_k(t) = K exp(r_k(t-1) / T) / sum_i exp(r_i(t-1) / T),
    r_k(t-1) = L_k(t-1) / L_k(t-2) with L_k(t) the epoch's mean training loss, temperature
    T = 2, and w_k = 1 for t = 0, 1 (lorenmt/mtan `multi_task_trainer`: `if index == 0 or
    index == 1: lambda_weight[:, index] = 1.0`)."""

    TEMPERATURE = 2.0

    def __init__(self, tasks: int, seed: int) -> None:
        super().__init__(tasks, seed)
        self.epochs: dict[int, list[torch.Tensor]] = {}

    def weights(self, values: torch.Tensor, epoch: int, lr: float) -> torch.Tensor:
        self.epochs.setdefault(epoch, []).append(values.to(F64))
        if epoch < 2:
            return torch.ones(self.tasks, dtype=F64)
        mean = {e: torch.stack(self.epochs[e]).mean(dim=0) for e in (epoch - 1, epoch - 2)}
        ratio = mean[epoch - 1] / mean[epoch - 2]
        exp = torch.exp(ratio / self.TEMPERATURE)
        fixed = self.tasks * exp / exp.sum()
        return gradient_of(lambda L: (fixed * L).sum(), values)


class Geometric(LossReference):
    """Chennupati et al. 2019, the geometric loss strategy: total = (prod_i L_i)^(1/T)
    (LibMTL GLS.py `torch.pow(losses.prod(), 1./T)`), with the harness's documented guard
    L_i + 1e-8."""

    def weights(self, values: torch.Tensor, epoch: int, lr: float) -> torch.Tensor:
        return gradient_of(lambda L: torch.pow((L + 1e-8).prod(), 1.0 / self.tasks), values)


class ScaleInvariant(LossReference):
    """Navon et al. 2022's scale-invariant baseline: total = sum_i log L_i (the documented
    guard: log(L_i + 1e-8))."""

    def weights(self, values: torch.Tensor, epoch: int, lr: float) -> torch.Tensor:
        return gradient_of(lambda L: torch.log(L + 1e-8).sum(), values)


class RLW(LossReference):
    """Lin, Ye and Zhang 2022 (LibMTL RLW.py): w = softmax(e), e ~ N(0, I_T) afresh every
    step; total = sum_i w_i L_i. The draws: the documented stream, a torch.Generator seeded
    with stream_seed(seed, "rlw"), one randn(T) per step."""

    def __init__(self, tasks: int, seed: int) -> None:
        super().__init__(tasks, seed)
        self.generator = torch.Generator().manual_seed(stream_seed(seed, "rlw"))

    def weights(self, values: torch.Tensor, epoch: int, lr: float) -> torch.Tensor:
        e = torch.randn(self.tasks, generator=self.generator).to(F64)
        w = torch.exp(e) / torch.exp(e).sum()
        return gradient_of(lambda L: (w * L).sum(), values)


class FAMO(LossReference):
    """Liu et al. 2023, Alg. 1 and the authors' famo.py (Cranial-XIX/FAMO): logits xi = 0,
    z = softmax(xi), D_i = L_i - min_i + 1e-8 with min 0, c = sum_i z_i / D_i held constant,
    total = sum_i z_i log(D_i) / c. After the model's step, on the same batch:
    delta_i = log D_i(before) - log D_i(after), xi.grad = J_softmax(xi)^T delta, and one Adam
    step (Kingma and Ba 2015, betas 0.9, 0.999, eps 1e-8, bias-corrected; torch's L2 weight
    decay: grad += gamma xi) with lr 0.025 and gamma 0.01 (famo.py's defaults)."""

    LR, GAMMA, BETAS, EPS = 0.025, 0.01, (0.9, 0.999), 1e-8

    def __init__(self, tasks: int, seed: int) -> None:
        super().__init__(tasks, seed)
        self.xi = torch.zeros(tasks, dtype=F64)
        self.m = torch.zeros(tasks, dtype=F64)
        self.v = torch.zeros(tasks, dtype=F64)
        self.t = 0
        self.before: torch.Tensor | None = None

    def weights(self, values: torch.Tensor, epoch: int, lr: float) -> torch.Tensor:
        z = torch.exp(self.xi) / torch.exp(self.xi).sum()
        d = values.to(F64) + 1e-8
        c = float((z / d).sum())
        self.before = d
        return gradient_of(lambda L: (z * torch.log(L + 1e-8)).sum() / c, values)

    def after_step(self, values: torch.Tensor) -> None:
        assert self.before is not None
        delta = torch.log(self.before) - torch.log(values.to(F64) + 1e-8)
        z = torch.exp(self.xi) / torch.exp(self.xi).sum()
        grad = z * delta - z * float(z @ delta)  # (diag(z) - z z^T) delta
        grad = grad + self.GAMMA * self.xi
        self.t += 1
        b1, b2 = self.BETAS
        self.m = b1 * self.m + (1 - b1) * grad
        self.v = b2 * self.v + (1 - b2) * grad * grad
        m_hat, v_hat = self.m / (1 - b1**self.t), self.v / (1 - b2**self.t)
        self.xi = self.xi - self.LR * m_hat / (v_hat.sqrt() + self.EPS)


class STCH(LossReference):
    """Lin et al. 2024, eq. 5 with unit preferences on log-normalised losses, as the authors'
    STCH_MTL/LibMTL/weighting/STCH.py (mu 1, warm-up epoch 4): epochs 0..4 train on
    sum_i log(L_i + 1e-20); epoch 4's batch losses are averaged into the nadir z; from epoch
    5 on, total = T mu log sum_i exp(log(L_i / z_i + 1e-20) / mu)."""

    MU, WARMUP, EPS = 1.0, 4, 1e-20

    def __init__(self, tasks: int, seed: int) -> None:
        super().__init__(tasks, seed)
        self.warmup: list[torch.Tensor] = []

    def weights(self, values: torch.Tensor, epoch: int, lr: float) -> torch.Tensor:
        if epoch <= self.WARMUP:
            if epoch == self.WARMUP:
                self.warmup.append(values.to(F64))
            return gradient_of(lambda L: torch.log(L + self.EPS).sum(), values)
        z = torch.stack(self.warmup).mean(dim=0)
        mu = self.MU
        return gradient_of(lambda L: self.tasks * mu * torch.logsumexp(torch.log(L / z + self.EPS) / mu, 0), values)


class IGB(LossReference):
    """Dai, Fei and Lu 2023, IGBv1 (YanqiDai/IGB4MTL `ImprovableGapBalancing_v1`, base
    losses the mean training losses of epoch `--base_epoch 1`): total = sum_i w_i log L_i
    with w = 1 until the base losses B exist (set when epoch 1 ends), then
    w = T softmax(L / B) of the detached batch losses; the documented guard log(L + 1e-8)."""

    BASE_EPOCH = 1

    def __init__(self, tasks: int, seed: int) -> None:
        super().__init__(tasks, seed)
        self.base_losses: list[torch.Tensor] = []

    def weights(self, values: torch.Tensor, epoch: int, lr: float) -> torch.Tensor:
        values = values.to(F64)
        if epoch <= self.BASE_EPOCH:
            if epoch == self.BASE_EPOCH:
                self.base_losses.append(values)
            w = torch.ones(self.tasks, dtype=F64)
        else:
            ratio = values / torch.stack(self.base_losses).mean(dim=0)
            w = self.tasks * torch.exp(ratio) / torch.exp(ratio).sum()
        return gradient_of(lambda L: (w * torch.log(L + 1e-8)).sum(), values)


REFERENCES: dict[str, type[LossReference]] = {
    "equal": Equal,
    "uncertainty": Uncertainty,
    "uncertainty-paper": UncertaintyPaper,
    "dwa": DWA,
    "geometric": Geometric,
    "scale-invariant": ScaleInvariant,
    "rlw": RLW,
    "famo": FAMO,
    "stch": STCH,
    "igb": IGB,
}
