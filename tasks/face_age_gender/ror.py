"""RoR-34: Residual Networks of Residual Networks on torchvision's ResNet-34 (Zhang et al.,
"Age Group and Gender Estimation in the Wild with Deep RoR Architecture", 2017).

The 16 basic blocks of ResNet-34 keep their own (final-level) shortcuts. RoR adds, with
m = 3 levels, one middle-level shortcut over each of the four block groups and one
root-level shortcut over all of them; each is added at the junction of its group's last
block, before that block's ReLU (the paper's equation 1). The upper-level shortcuts are
type B, as in the paper's ImageNet RoR: a projection (1x1 convolution + BN) where the
shape changes, the identity where it does not (group 1).

Starting from ImageNet ResNet-34 weights, the added shortcuts start switched off (their
BN scale, and the identity's gate, at zero), so the network begins as the pre-trained
ResNet and learns how much of each to use. From scratch they start on.

Stochastic depth (optional) follows the paper's rule: block l of L = 16 survives with
probability p_l = 1 - (l / L)(1 - p_L), p_L = 0.5, one draw per mini-batch; the residual
is scaled by 1 / p_l while training (inverted), so evaluation runs every block unscaled
(the same expectation as scaling at test time) and pre-trained weights stay as they are.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

FINAL_SURVIVAL = 0.5  # p_L of the linear decay rule


class Projection(nn.Sequential):
    """A type B shortcut across a change of shape: 1x1 convolution with stride, then BN."""

    def __init__(self, channels_in: int, channels_out: int, stride: int, start_on: bool) -> None:
        super().__init__(
            nn.Conv2d(channels_in, channels_out, kernel_size=1, stride=stride, bias=False),
            nn.BatchNorm2d(channels_out),
        )
        # He initialisation, as torchvision gives ResNet's own convolutions
        nn.init.kaiming_normal_(self[0].weight, mode="fan_out", nonlinearity="relu")
        if not start_on:
            nn.init.zeros_(self[1].weight)


class GatedIdentity(nn.Module):
    """A type B shortcut where the shape stays: the identity, times a learned gate (one
    parameter, our addition: the paper's identity has none) so that it can start at zero on
    pre-trained weights; from scratch it starts at 1, the paper's identity."""

    def __init__(self, start_on: bool) -> None:
        super().__init__()
        self.gate = nn.Parameter(torch.tensor(1.0 if start_on else 0.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate


def survival_probabilities(blocks: int, final: float = FINAL_SURVIVAL) -> list[float]:
    """The paper's linear decay rule: p_0 = 1 (the input), p_L = `final`."""
    return [1.0 - (index / blocks) * (1.0 - final) for index in range(1, blocks + 1)]


class RoRBackbone(nn.Module):
    """ResNet-34's stem and blocks (in `.resnet`, so its state dict loads unchanged) with the
    root-level and middle-level shortcuts; returns the pooled 512 features."""

    GROUP_CHANNELS = (64, 128, 256, 512)

    def __init__(self, resnet: nn.Module, stochastic_depth: bool, start_on: bool) -> None:
        super().__init__()
        resnet.fc = nn.Identity()
        self.resnet = resnet
        middle: list[nn.Module] = []
        channels_in = self.GROUP_CHANNELS[0]
        for group, channels_out in enumerate(self.GROUP_CHANNELS):
            if group == 0:
                middle.append(GatedIdentity(start_on))
            else:
                middle.append(Projection(channels_in, channels_out, 2, start_on))
            channels_in = channels_out
        self.middle = nn.ModuleList(middle)
        self.root = Projection(self.GROUP_CHANNELS[0], self.GROUP_CHANNELS[-1], 8, start_on)
        self.groups = [resnet.layer1, resnet.layer2, resnet.layer3, resnet.layer4]
        blocks = sum(len(group) for group in self.groups)
        self.survival = survival_probabilities(blocks) if stochastic_depth else [1.0] * blocks

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        r = self.resnet
        x = r.maxpool(r.relu(r.bn1(r.conv1(images))))
        root_input = x
        index = 0
        for group, blocks in enumerate(self.groups):
            group_input = x
            for position, block in enumerate(blocks):
                extra = None
                if position == len(blocks) - 1:  # the group's junction (equation 1)
                    extra = self.middle[group](group_input)
                    if group == len(self.groups) - 1:
                        extra = extra + self.root(root_input)
                x = self._block(block, x, extra, self.survival[index])
                index += 1
        return torch.flatten(r.avgpool(x), 1)

    def _block(self, block: Any, x: torch.Tensor, extra: torch.Tensor | None, survival: float) -> torch.Tensor:
        """torchvision's BasicBlock.forward with the upper-level shortcuts added at its
        junction and, when training with stochastic depth, its residual dropped or scaled."""
        residual = block.bn2(block.conv2(block.relu(block.bn1(block.conv1(x)))))
        if self.training and survival < 1.0:
            # a tensor draw, not a Python branch: no wait for the device
            keep = (torch.rand((), device=x.device) < survival).to(residual.dtype)
            residual = residual * (keep / survival)
        shortcut = x if block.downsample is None else block.downsample(x)
        out = residual + shortcut
        if extra is not None:
            out = out + extra
        return block.relu(out)
