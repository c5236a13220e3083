"""The trainer's side of the oracle: a LossRunner whose MultiTaskLoss lives in a sandbox.

Every answer is untrusted: it must arrive within the per-call time-out and the job's
time budget, carry the request id, one finite weight per task and a finite total.
Anything else ends the job with a specific reason.
"""

from __future__ import annotations

import select
import shutil
import signal
import socket
import tempfile
import time
from pathlib import Path

from harness.api.errors import SubmissionError
from harness.api.method import StepContext, StepResult
from harness.api.records import TrainConfig
from harness.api.sandbox import LaunchRequest, OracleLimits, OracleProcess, Sandbox
from harness.oracle.guest import GUEST_DIR
from harness.oracle.guest.protocol import (
    CallTimeout,
    PeerClosed,
    ProtocolError,
    clean_text,
    finite_float,
    recv_message,
    send_message,
)

_SIGNAL_REASONS: dict[int, str] = {
    signal.SIGKILL: "killed (SIGKILL: out of memory or processes, or killed from outside)",
    signal.SIGXCPU: "CPU time limit exceeded (SIGXCPU)",
    signal.SIGXFSZ: "file size limit exceeded (SIGXFSZ)",
    signal.SIGSEGV: "crashed (SIGSEGV)",
}


class StateUnavailable(Exception):
    """The loss class keeps state a checkpoint cannot hold; the job runs without resume."""


class OracleLossRunner:
    """Starts the sandboxed oracle for one submission and asks it for every step."""

    def __init__(
        self,
        submission: Path,
        loss_names: tuple[str, ...],
        config: TrainConfig,
        sandbox: Sandbox,
        limits: OracleLimits,
    ) -> None:
        self.sandbox = sandbox.name
        self.limits = limits
        self.task_count = len(loss_names)
        self.budget_left = limits.job_budget_s
        self.calls = 0
        self.call_seconds = 0.0
        self._next_id = 0
        self._work = Path(tempfile.mkdtemp(prefix="mtl-oracle-"))
        self._ipc = self._work / "ipc"
        self._ipc.mkdir()
        private = self._work / "submission"
        private.mkdir()
        self._submission = private / submission.name
        shutil.copyfile(submission, self._submission)  # the file cannot change under the run
        request = LaunchRequest(self._ipc, self._submission, GUEST_DIR, limits)
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(str(request.socket_path))
        self._listener.listen(1)
        self._conn: socket.socket | None = None
        self._process: OracleProcess | None = None
        try:
            self._process = sandbox.launch(request)
            self._start(loss_names, config)
        except BaseException:
            self.close()
            raise

    # -- start-up ---------------------------------------------------------------------
    def _accept(self, deadline: float) -> socket.socket:
        assert self._process is not None
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self._listener], [], [], 0.2)
            if ready:
                conn, _ = self._listener.accept()
                self._listener.close()
                return conn
            if self._process.poll() is not None:
                lines = [line for line in self._process.output_tail().splitlines() if line.strip()]
                last = f": {clean_text(lines[-1], 200)}" if lines else ""
                raise self._died(f"before it connected{last}")
        raise self._fail(f"the oracle did not start within {self.limits.init_timeout_s:.0f}s")

    def _start(self, loss_names: tuple[str, ...], config: TrainConfig) -> None:
        deadline = time.monotonic() + self.limits.init_timeout_s
        self._conn = self._accept(deadline)
        send_message(
            self._conn,
            {
                "loss_names": list(loss_names),
                "lr": config.lr,
                "momentum": config.momentum,
                "weight_decay": config.weight_decay,
            },
        )
        reply = self._receive(max(deadline - time.monotonic(), 0.01), "loading the submission")
        if "error" in reply:
            raise self._fail(clean_text(reply["error"], 600), clean_text(reply.get("details", ""), 4000))
        if reply.get("ready") is not True:
            raise self._fail("protocol violation: the oracle's first answer is not `ready`")

    # -- steps ------------------------------------------------------------------------
    def __call__(self, values: list[float], context: StepContext) -> StepResult:
        assert self._conn is not None
        self._next_id += 1
        request_id = self._next_id
        started = time.monotonic()
        try:
            send_message(
                self._conn,
                {
                    "op": "step",
                    "id": request_id,
                    "values": values,
                    "epoch": context.epoch,
                    "total_epochs": context.total_epochs,
                    "lr": context.lr,
                },
            )
        except OSError:
            raise self._died(f"at epoch {context.epoch}") from None
        timeout = min(self.limits.call_timeout_s, self.budget_left)
        reply = self._receive(timeout, f"forward at epoch {context.epoch}")
        elapsed = time.monotonic() - started
        self.budget_left -= elapsed
        self.calls += 1
        self.call_seconds += elapsed
        if "error" in reply:
            raise self._fail(clean_text(reply["error"], 600), clean_text(reply.get("details", ""), 4000))
        return self._parse(reply, request_id, context)

    def _request(self, message: dict, what: str) -> dict:
        assert self._conn is not None
        self._next_id += 1
        message["id"] = self._next_id
        try:
            send_message(self._conn, message)
        except OSError:
            raise self._died(f"during {what}") from None
        reply = self._receive(self.limits.call_timeout_s, what)
        if reply.get("id") != message["id"]:
            raise self._fail(f"protocol violation during {what}: wrong answer id")
        return reply

    def get_state(self) -> object:
        """The loss class's state (untrusted JSON, stored but never executed)."""
        reply = self._request({"op": "get_state"}, "saving the loss state")
        if "error" in reply:
            raise StateUnavailable(clean_text(reply["error"], 300))
        return reply.get("state")

    def set_state(self, state: object) -> None:
        reply = self._request({"op": "set_state", "state": state}, "restoring the loss state")
        if reply.get("ok") is not True:
            raise self._fail("the oracle could not restore the loss state")

    def _parse(self, reply: dict, request_id: int, context: StepContext) -> StepResult:
        try:
            if reply.get("id") != request_id:
                raise ProtocolError(f"answer id {reply.get('id')!r}, expected {request_id}")
            weights = reply.get("weights")
            if not isinstance(weights, list) or len(weights) != self.task_count:
                raise ProtocolError(f"expected {self.task_count} weights, got {clean_text(weights, 80)}")
            parsed = [finite_float(w, "d total / d loss") for w in weights]
            total = finite_float(reply.get("total"), "the total loss")
        except ProtocolError as exc:
            raise self._fail(f"protocol violation at epoch {context.epoch}: {exc}") from None
        return StepResult(total, parsed)

    def _receive(self, timeout: float, doing: str) -> dict:
        assert self._conn is not None
        try:
            return recv_message(self._conn, timeout)
        except CallTimeout:
            if self.budget_left <= timeout + 1e-9 and doing.startswith("forward"):
                raise self._fail(
                    f"the loss oracle's time budget of {self.limits.job_budget_s:.0f}s for the "
                    f"job ran out during {doing}"
                ) from None
            limit = self.limits.call_timeout_s if doing.startswith("forward") else self.limits.init_timeout_s
            raise self._fail(f"time-out: {doing} took longer than {limit:.0f}s") from None
        except PeerClosed:
            raise self._died(f"during {doing}") from None
        except ProtocolError as exc:
            raise self._fail(f"protocol violation during {doing}: {exc}") from None

    # -- failures and shutdown ----------------------------------------------------------
    def _died(self, when: str) -> SubmissionError:
        assert self._process is not None
        code = None
        for _ in range(50):
            code = self._process.poll()
            if code is not None:
                break
            time.sleep(0.05)
        if code is None:
            reason = "closed its connection"
        elif code < 0:
            reason = _SIGNAL_REASONS.get(-code, f"killed by signal {-code}")
        else:
            reason = f"exited with code {code}"
        return self._fail(f"the loss oracle {reason} {when}")

    def _fail(self, message: str, details: str = "") -> SubmissionError:
        tail = self._process.output_tail() if self._process is not None else ""
        self.close()
        if tail.strip():
            details = (details + "\n" if details else "") + "oracle output (last lines):\n" + clean_text(tail, 4000)
        return SubmissionError(message, details)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if self._process is not None:
            self._process.kill()
        try:
            self._listener.close()
        except OSError:
            pass
        shutil.rmtree(self._work, ignore_errors=True)
