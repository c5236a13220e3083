"""Console progress: one line per finished epoch, a live step counter on a terminal."""

from __future__ import annotations

import sys
from typing import TextIO

from harness.api.records import EpochLog
from harness.oracle.guest.protocol import clean_text

MESSAGE_LIMIT = 4000


class JobProgress:
    def __init__(self, label: str, total_epochs: int, stream: TextIO | None = None) -> None:
        self.label = clean_text(label, 300)  # a method's name is the user's
        self.total_epochs = total_epochs
        self.stream = stream or sys.stdout
        self.live = self.stream.isatty()
        self.epoch = 0

    def step(self, step: int, steps_per_epoch: int) -> None:
        if self.live and (step % 5 == 0 or step == steps_per_epoch):
            self.stream.write(
                f"\r{self.label} | epoch {self.epoch + 1}/{self.total_epochs} | step {step}/{steps_per_epoch}"
            )
            self.stream.flush()

    def epoch_done(self, log: EpochLog) -> None:
        self.epoch = log.epoch + 1
        losses = " ".join(f"{k} {v:.3f}" for k, v in log.train_losses.items())
        weights = "/".join(f"{v:.2f}" for v in log.task_weights.values())
        metrics = " ".join(f"{k} {v:.2f}" for k, v in log.test_metrics.items() if not k.endswith("_loss"))
        prefix = "\r\033[K" if self.live else ""
        self.stream.write(
            f"{prefix}{self.label} | epoch {log.epoch + 1}/{self.total_epochs} | loss {losses} | "
            f"weights {weights} | {metrics} | {log.seconds:.1f}s ({log.images_per_second:.0f} img/s)\n"
        )
        self.stream.flush()

    def message(self, text: str) -> None:
        """One line, whatever `text` holds (errors quote the oracle): it cannot forge another."""
        self.stream.write(clean_text(text, MESSAGE_LIMIT) + "\n")
        self.stream.flush()
