"""Attack: the loss state holds an integer of __DIGITS__ digits. Forged (__FORGE__): the
oracle's own runner is patched to send it raw; else it is an attribute of the loss, which
the oracle's codec refuses."""

import sys

import torch.nn as nn

if __FORGE__:
    sys.set_int_max_str_digits(0)  # so that the oracle's json.dumps writes it out
    for module in list(sys.modules.values()):
        runner = getattr(module, "LossModuleRunner", None)
        if isinstance(runner, type):
            runner.get_state = lambda self: {"big": 10**__DIGITS__}


class MultiTaskLoss(nn.Module):
    def __init__(self):
        super().__init__()
        self.big = 10**__DIGITS__

    def forward(self, fine_loss, coarse_loss, epoch, total_epochs):
        return fine_loss + coarse_loss
