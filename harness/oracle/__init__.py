"""The loss oracle: untrusted MultiTaskLoss code runs in its own sandboxed process and
sees only the loss values, the epoch, the number of epochs and the learning rate."""
