"""RLW, random loss weighting (Lin, Ye and Zhang, "Reasonable Effectiveness of Random
Weighting: A Litmus Test for Multi-Task Learning", TMLR 2022).

Rule: at every step, w = softmax(e) with e ~ N(0, I_T) drawn afresh, and the model is
trained on sum_i w_i L_i. The draws come from a generator of their own, seeded from the
job's seed through `stream_seed(seed, "rlw")` (and checkpointed): a run is reproducible, and
the weights are independent of the data order and the model's initialisation, which the
trainer draws from generators seeded with the job's seed itself.
Scale: sum_i w_i = 1 (a random convex combination: about half of `equal`'s sum for T = 2).
Cost per step: none beyond `equal`.
Source: the authors' library, LibMTL/weighting/RLW.py: `F.softmax(torch.randn(T))` drawn afresh at every step
(standard normal; one version of that file also offers uniform, Dirichlet and Bernoulli draws, normal by default).
Deviations: the draws come from the generator above, seeded by stream_seed(seed, "rlw"), where LibMTL draws from
torch's global generator (shared there with everything else that draws from it).
"""

from __future__ import annotations

import torch
from torch import nn

from baselines import trusted
from harness.api import Combiner, StepContext, StepResult, stream_seed, to_device


def random_weights(tasks: int, generator: torch.Generator) -> torch.Tensor:
    return torch.softmax(torch.randn(tasks, generator=generator), dim=0)


class RLWCombiner(Combiner):
    def __init__(self) -> None:
        self.generator = torch.Generator()

    def attach(self, model: nn.Module, seed: int) -> None:
        self.generator.manual_seed(stream_seed(seed, "rlw"))

    def backward(self, losses: list[torch.Tensor], context: StepContext) -> StepResult:
        weights = random_weights(len(losses), self.generator)  # drawn on the host: one asynchronous copy
        on_device = to_device(weights, losses[0])
        torch.autograd.backward(losses, grad_tensors=[w.to(loss.dtype) for w, loss in zip(on_device.unbind(), losses)])
        total = torch.stack([loss.detach() for loss in losses]).sum()
        return StepResult(total, weights)

    def state(self) -> object:
        return self.generator.get_state()

    def load_state(self, state: object) -> None:
        self.generator.set_state(state)  # type: ignore[arg-type]


METHOD = trusted(
    "rlw",
    __file__,
    lambda config, tasks: RLWCombiner(),
    "random softmax-normal weights (Lin et al. 2022)",
    "loss",
)
