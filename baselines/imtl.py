"""IMTL (Liu et al., "Towards Impartial Multi-task Learning", ICLR 2021): IMTL-L + IMTL-G.

IMTL-L: each task loss becomes L_i' = exp(s_i) L_i - s_i with a learnable scale s_i
(starting at 0), trained on sum_i L_i' with the protocol's SGD settings (lr, momentum,
weight decay, schedule), like a submission's parameters.
IMTL-G: with g_i the gradient of L_i' with respect to the shared representation z (the
heads' input, as the paper does for efficiency), u_i = g_i / |g_i|, D = [g_1 - g_t],
U = [u_1 - u_t] (t = 2..T): alpha_{2:T} = g_1 U^T (D U^T)^{-1}, alpha_1 = 1 - sum alpha_{2:T};
the aggregated gradient then has equal projections on every u_i. The shared layers are
trained on sum_i alpha_i L_i', each head on its own L_i'.
Scale: sum_i alpha_i = 1 (a combination like an average, alpha may leave [0, 1]).
Reported weights: alpha_i exp(s_i), the weight on the raw loss L_i in the shared update.
Cost per step: T backward passes through the heads, a (T-1)-square solve.
Source: the paper (IMTL-L and IMTL-G; no authors' code found) and LibMTL/weighting/IMTL.py.
Deviations: IMTL-G on z's gradients (the paper's cheaper variant) flattened over the batch, (T, B*D), where LibMTL's
default (rep_grad False) uses the shared parameters and its rep_grad mode sums z's gradient over the batch first,
(T, D); (D U^T)^-1 by pseudo-inverse where LibMTL calls torch.inverse; s takes the protocol's SGD where LibMTL trains
its loss_scale with the model's optimizer (default Adam, lr 1e-4, weight decay 1e-5).
"""

from __future__ import annotations

import torch
from torch import nn

from baselines import trusted
from baselines.gradient_base import SharedGradientCombiner, flat_gradients
from baselines.solvers import imtl_g_products, imtl_g_solve
from harness.api import StepContext, StepResult, TrainConfig, to_device, to_host


class IMTLCombiner(SharedGradientCombiner):
    uses_representation = True

    def __init__(self, config: TrainConfig, tasks: int = 2) -> None:
        super().__init__()
        self.config = config
        self._place(torch.zeros(tasks))

    def _place(self, scales: torch.Tensor) -> None:
        """(Re)create the scales and their optimizer; before the first step it has no state."""
        self.scales = nn.Parameter(scales)
        config = self.config
        self.optimizer = torch.optim.SGD(
            [self.scales], lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay
        )

    def attach(self, model: nn.Module, seed: int) -> None:
        super().attach(model, seed)
        self._place(to_device(self.scales.detach(), next(model.parameters()), "setup"))

    def prepare_losses(self, losses: list[torch.Tensor]) -> list[torch.Tensor]:
        return [torch.exp(self.scales[i]) * loss.float() - self.scales[i] for i, loss in enumerate(losses)]

    def backward(self, losses: list[torch.Tensor], context: StepContext) -> StepResult:
        scaled = self.prepare_losses(losses)
        assert self.representation is not None, "the model's heads were not called"
        products = to_host(imtl_g_products(flat_gradients(scaled, [self.representation])), "step")
        alpha = to_device(imtl_g_solve(products).to(scaled[0].dtype), scaled[0])
        shared_total = (torch.stack(scaled) * alpha).sum()
        torch.autograd.backward(shared_total, inputs=self.shared, retain_graph=True)
        torch.autograd.backward(torch.stack(scaled).sum(), inputs=[*self.heads, self.scales])
        reported = alpha.detach() * torch.exp(self.scales.detach())  # this step's scales, on the device
        for group in self.optimizer.param_groups:
            group["lr"] = context.lr
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return StepResult(torch.stack([loss.detach() for loss in losses]).sum(), reported)

    def state(self) -> object:
        return {"scales": self.scales.detach(), "optimizer": self.optimizer.state_dict()}

    def load_state(self, state: object) -> None:
        restored = state
        with torch.no_grad():
            self.scales.copy_(restored["scales"])
        self.optimizer.load_state_dict(restored["optimizer"])


METHOD = trusted(
    "imtl",
    __file__,
    lambda config, tasks: IMTLCombiner(config, tasks),
    "IMTL-L + IMTL-G (Liu et al. 2021)",
    "gradient",
)
