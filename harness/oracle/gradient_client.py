"""The trainer's side of a gradient-level submission in the sandboxed oracle.

Start-up, limits and failures are the oracle client's (`OracleClient`); once the model
is known, `attach` sends the width P and the job's seed, and for a GradientCombiner the
job's shared-memory segment (harness/oracle/guest/segment.py). Each step `combine` puts
the (T, P) gradients in the segment (or sends the (T, T) Gram matrix of a GramCombiner)
and returns the answer, copied out of the segment before anyone looks at it.
"""

from __future__ import annotations

from pathlib import Path

import torch

from harness.api.method import StepContext
from harness.api.records import FileFormat, TrainConfig
from harness.api.sandbox import OracleLimits, Sandbox
from harness.oracle.client import OracleClient
from harness.oracle.guest.protocol import ProtocolError, clean_details, clean_text, finite_float, send_message
from harness.oracle.guest.segment import Segment


class OracleGradientRunner(OracleClient):
    """The oracle client of a GradientCombiner or GramCombiner file (`file_format`)."""

    def __init__(
        self,
        submission: Path,
        loss_names: tuple[str, ...],
        config: TrainConfig,
        sandbox: Sandbox,
        limits: OracleLimits,
        file_format: FileFormat,
        expected_sha256: str | None = None,
    ) -> None:
        self.segment: Segment | None = None
        super().__init__(submission, loss_names, config, sandbox, limits, file_format, expected_sha256)

    def attach(self, width: int, seed: int) -> None:
        """Send the shape, the seed and (gradient level) the segment; wait for `ok`."""
        assert self._conn is not None
        if width <= self.task_count:  # a (P,) answer could not be told from (T,) coefficients
            raise ValueError(f"{width} shared parameters for {self.task_count} tasks: too few for a gradient method")
        if self.file_format == "gradient":
            self.segment = Segment.create(self.task_count, width)
        self._next_id += 1
        message = {"op": "attach", "id": self._next_id, "width": width, "seed": seed}
        try:
            send_message(self._conn, message)
            if self.segment is not None:
                self.segment.send(self._conn)
        except TimeoutError:
            raise self._fail("the loss oracle stopped reading its requests (while starting the combiner)") from None
        except OSError:
            raise self._died("while starting the combiner") from None
        timeout = self.limits.init_timeout_s  # the combiner's __init__ runs now
        doing = "starting the combiner"
        reply = self._receive(timeout, doing, f"time-out: {doing} took longer than {timeout:.0f}s")
        if "error" in reply:
            raise self._fail(clean_text(reply["error"], 600), clean_details(reply.get("details", ""), 4000))
        if reply.get("id") != message["id"] or reply.get("ok") is not True:
            raise self._fail(f"protocol violation while {doing}")

    def combine(
        self, inputs: torch.Tensor, losses: list[float], context: StepContext, step: int
    ) -> tuple[str, torch.Tensor]:
        """`inputs` on the host: the (T, P) gradients or the (T, T) Gram matrix. The answer:
        ("direction", (P,) float32) or ("coefficients", (T,) float64), finite; the trainer
        checks the norm bound."""
        message: dict = {
            "op": "combine",
            "losses": losses,
            "epoch": context.epoch,
            "total_epochs": context.total_epochs,
            "step": step,
        }
        if self.segment is not None:
            self.segment.gradients.copy_(inputs)
        else:
            message["gram"] = inputs.tolist()
        reply = self._call(message, context.epoch, f"combine at epoch {context.epoch}")
        try:
            if reply.get("kind") == "direction" and self.segment is not None:
                answer = self.segment.answer.clone()  # copied out before it is checked
                if not bool(torch.isfinite(answer).all()):
                    raise ProtocolError("the answer in the shared segment is not finite")
                return "direction", answer
            if reply.get("kind") != "coefficients":
                raise ProtocolError(f"answer kind {clean_text(reply.get('kind'), 30)}")
            values = reply.get("coefficients")
            if not isinstance(values, list) or len(values) != self.task_count:
                raise ProtocolError(f"expected {self.task_count} coefficients, got {clean_text(values, 80)}")
            coefficients = [finite_float(v, "a coefficient") for v in values]
            return "coefficients", torch.tensor(coefficients, dtype=torch.float64)
        except ProtocolError as exc:
            raise self._fail(f"protocol violation at epoch {context.epoch}: {exc}") from None

    def close(self) -> None:
        super().close()
        if self.segment is not None:
            self.segment.close()
            self.segment = None
