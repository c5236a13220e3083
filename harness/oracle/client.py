"""The trainer's side of the oracle: `OracleClient` starts a submission's sandboxed oracle
(the guest server), checks that it loaded the very bytes planned, and asks it for every
step. For a MultiTaskLoss file it is the LossRunner of a LossLevelCombiner; a gradient-level
file's client (`gradient_client.OracleGradientRunner`) builds on it, and `check_in_sandbox`
starts one of either format to check a file.

Every answer is untrusted: it must arrive within the per-call time-out (wall time), carry
the request id, one finite weight per task and a finite total, and the oracle must stay
within the job's budget of CPU time. Anything else ends the job with a specific reason.

The job budget counts the oracle's CPU time, not the wall time of the calls: jobs packed
on one machine wait for a core, and a fair submission must not fail for that. The CPU
time counts every process of the oracle, between calls too (children it forked spin on
while the trainer works), so it is read on a schedule: on the first call of every epoch,
at most once a second within an epoch, and after the last epoch (`check_budget`); a file
read on a cgroup, a walk of /proc elsewhere. The cgroup's CPU quota (`cpu_cores`) bounds
what the oracle takes from the trainer and its neighbours until the budget catches it. A
backend that cannot tell the CPU time (`OracleProcess.cpu_seconds()` is None) keeps the
budget on the calls' wall time.

A loss that sleeps uses no CPU time, yet holds the job (and its GPU): the wall time of
all calls together has a backstop of its own (`OracleLimits.job_wall_budget_s`, generous
so that waiting for a core never reaches it), and a call's time-out is the least of its
own (`call_timeout_s`) and what is left of the backstop.
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
from harness.api.records import FileFormat, TrainConfig
from harness.api.sandbox import LaunchRequest, OracleLimits, OracleProcess, Sandbox
from harness.oracle.guest import GUEST_DIR
from harness.oracle.guest.loader import SOURCE_BYTES_CEILING
from harness.oracle.guest.protocol import (
    CallTimeout,
    PeerClosed,
    ProtocolError,
    clean_details,
    clean_text,
    finite_float,
    recv_message,
    send_message,
)
from harness.submission_store import read_bounded, sha256_of, verified_copy

CPU_CHECK_INTERVAL_S = 1.0  # within an epoch, the least wall time between two readings of the CPU time

_SIGNAL_REASONS: dict[int, str] = {
    signal.SIGKILL: "killed (SIGKILL: out of memory or processes, or killed from outside)",
    signal.SIGXCPU: "CPU time limit exceeded (SIGXCPU)",
    signal.SIGXFSZ: "file size limit exceeded (SIGXFSZ)",
    signal.SIGSEGV: "crashed (SIGSEGV)",
}


MAX_STATE_NESTING = 64  # the trainer's codec recurses through a saved state


def nesting(value: object) -> int:
    """How deeply lists and dicts nest in `value` (iteratively: untrusted input)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (list, dict)):
            deepest = max(deepest, depth)
            if depth <= MAX_STATE_NESTING:
                stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


class StateUnavailable(Exception):
    """The loss class keeps state a checkpoint cannot hold; the job runs without resume."""


class OracleClient:
    """Starts the sandboxed oracle for one submission (of any file format) and asks it for
    every step (a MultiTaskLoss's: the total and d total / d loss_i)."""

    def __init__(
        self,
        submission: Path,
        loss_names: tuple[str, ...],
        config: TrainConfig,
        sandbox: Sandbox,
        limits: OracleLimits,
        file_format: FileFormat = "loss",
        expected_sha256: str | None = None,
    ) -> None:
        """`file_format`: the file's (MethodKind.file_format), as the guest is told.
        `expected_sha256`: the hash the job was planned (and its record keyed) with; the
        oracle runs only bytes that hash to it, and must report loading just those."""
        self.file_format = file_format
        self.sandbox = sandbox.name
        self.limits = limits
        self.task_count = len(loss_names)
        self.budget_left = limits.job_budget_s  # of the calls' wall time: the budget where CPU time is unknown
        self.calls = 0
        self.call_seconds = 0.0
        self._cpu_start: float | None = None  # the oracle's CPU time when ready; None: wall time
        self._cpu_read_at = -float("inf")
        self._epoch_checked: int | None = None  # the epoch of the last forced reading
        self._next_id = 0
        self._work = Path(tempfile.mkdtemp(prefix="mtl-oracle-"))
        self._ipc = self._work / "ipc"
        self._ipc.mkdir()
        private = self._work / "submission"
        private.mkdir()
        self._submission = private / submission.name
        try:  # the private copy cannot change under the run; it holds the very bytes hashed
            if expected_sha256:
                data = verified_copy(submission, expected_sha256, SOURCE_BYTES_CEILING)
            else:
                data = read_bounded(submission, SOURCE_BYTES_CEILING)
        except BaseException:
            shutil.rmtree(self._work, ignore_errors=True)
            raise
        self._submission.write_bytes(data)
        self.sha256 = sha256_of(data)
        request = LaunchRequest(self._ipc, self._submission, GUEST_DIR, limits)
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(str(request.socket_path))
        self._listener.listen(1)
        self._conn: socket.socket | None = None
        self._process: OracleProcess | None = None
        try:
            self._process = sandbox.launch(request)
            self._start(loss_names, config)
            self._cpu_start = self._process.cpu_seconds()  # start-up is not the calls' CPU
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
                # a guest that stops reading must not block a send for ever
                conn.settimeout(self.limits.call_timeout_s)
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
                "format": self.file_format,
                "loss_names": list(loss_names),
                "lr": config.lr,
                "momentum": config.momentum,
                "weight_decay": config.weight_decay,
            },
        )
        doing = "loading the submission"
        expired = f"time-out: {doing} took longer than {self.limits.init_timeout_s:.0f}s"
        reply = self._receive(max(deadline - time.monotonic(), 0.01), doing, expired)
        if "error" in reply:
            raise self._fail(clean_text(reply["error"], 600), clean_details(reply.get("details", ""), 4000))
        if reply.get("ready") is not True:
            raise self._fail("protocol violation: the oracle's first answer is not `ready`")
        if reply.get("sha256") != self.sha256:
            raise self._fail(
                f"protocol violation: the oracle reports loading sha256 {clean_text(reply.get('sha256'), 64)}, "
                f"not the submission's {self.sha256}"
            )

    # -- steps ------------------------------------------------------------------------
    def __call__(self, values: list[float], context: StepContext) -> StepResult:
        message = {"op": "step", "values": values, "epoch": context.epoch, "total_epochs": context.total_epochs}
        reply = self._call({**message, "lr": context.lr}, context.epoch, f"forward at epoch {context.epoch}")
        return self._parse(reply, context)

    def _call(self, message: dict, epoch: int, doing: str) -> dict:
        """One timed step call: the answer, checked against the time limits and for an error."""
        assert self._conn is not None
        self._next_id += 1
        message["id"] = self._next_id
        started = time.monotonic()
        try:
            send_message(self._conn, message)
        except TimeoutError:
            raise self._fail(f"the loss oracle stopped reading its requests (at epoch {epoch})") from None
        except OSError:
            raise self._died(f"at epoch {epoch}") from None
        reply = self._receive(*self._call_timeout(doing))
        elapsed = time.monotonic() - started
        self.budget_left -= elapsed
        self.calls += 1
        self.call_seconds += elapsed
        if "error" in reply:
            raise self._fail(clean_text(reply["error"], 600), clean_details(reply.get("details", ""), 4000))
        self._check_budget(doing, force=epoch != self._epoch_checked)
        self._epoch_checked = epoch
        if self.call_seconds > self.limits.job_wall_budget_s:
            raise self._fail(self._backstop_message(doing))
        if reply.get("id") != message["id"]:
            answer = clean_text(reply.get("id"), 20)
            raise self._fail(f"protocol violation at epoch {epoch}: answer id {answer}, expected {message['id']}")
        return reply

    def _call_timeout(self, doing: str) -> tuple[float, str, str]:
        """This call's time-out, `doing` and the failure the time-out means: the least of
        the call's own, what is left of the wall-time backstop and (a backend without CPU
        time) what is left of the job budget in wall time."""
        timeout = self.limits.call_timeout_s
        expired = f"time-out: {doing} took longer than {timeout:.0f}s"
        backstop_left = self.limits.job_wall_budget_s - self.call_seconds
        if backstop_left < timeout:
            timeout, expired = backstop_left, self._backstop_message(doing)
        if self._cpu_start is None and self.budget_left < timeout:
            timeout, expired = self.budget_left, self._wall_budget_message(doing)
        return max(timeout, 0.0), doing, expired

    def check_budget(self, when: str) -> None:
        """Fail if the oracle's CPU time is past the job budget now (what its processes did
        since the last call included): the trainer asks after every epoch."""
        if self._process is not None:
            self._check_budget(when, force=True)

    def _check_budget(self, doing: str, force: bool = False) -> None:
        """Fail if the oracle's CPU time is past the budget (read when `force`, else at most
        once per CPU_CHECK_INTERVAL_S), or, where it cannot be read, the calls' wall time."""
        assert self._process is not None
        budget = self.limits.job_budget_s
        if self._cpu_start is not None:
            now = time.monotonic()
            if not force and now - self._cpu_read_at < CPU_CHECK_INTERVAL_S:
                return
            self._cpu_read_at = now
            used = self._process.cpu_seconds()
            if used is not None:
                if used - self._cpu_start > budget:
                    raise self._fail(
                        f"the loss oracle used more than its CPU-time budget of {budget:g}s for the job "
                        f"(during {doing})"
                    )
                return
            self._cpu_start = None  # no longer readable: wall time decides
        if self.budget_left < 0:
            raise self._fail(self._wall_budget_message(doing))

    def _backstop_message(self, doing: str) -> str:
        return (
            f"the loss oracle's calls took more than the wall-time backstop of {self.limits.job_wall_budget_s:.0f}s "
            f"for the job (during {doing})"
        )

    def _wall_budget_message(self, doing: str) -> str:
        return (
            f"the loss oracle used more than its time budget of {self.limits.job_budget_s:g}s for the job "
            f"(during {doing}; wall time: the {self.sandbox} sandbox does not report CPU time)"
        )

    def _request(self, message: dict, what: str) -> dict:
        assert self._conn is not None
        self._next_id += 1
        message["id"] = self._next_id
        try:
            send_message(self._conn, message)
        except TimeoutError:
            raise self._fail(f"the loss oracle stopped reading its requests (during {what})") from None
        except OSError:
            raise self._died(f"during {what}") from None
        timeout = self.limits.call_timeout_s
        reply = self._receive(timeout, what, f"time-out: {what} took longer than {timeout:.0f}s")
        if reply.get("id") != message["id"]:
            raise self._fail(f"protocol violation during {what}: wrong answer id")
        return reply

    def get_state(self) -> object:
        """The loss class's state (untrusted JSON, stored but never executed)."""
        reply = self._request({"op": "get_state"}, "saving the loss state")
        if "error" in reply:
            raise StateUnavailable(clean_text(reply["error"], 300))
        state = reply.get("state")
        if nesting(state) > MAX_STATE_NESTING:
            raise StateUnavailable(f"the loss state nests more than {MAX_STATE_NESTING} levels")
        return state

    def set_state(self, state: object) -> None:
        reply = self._request({"op": "set_state", "state": state}, "restoring the loss state")
        if reply.get("ok") is not True:
            raise self._fail("the oracle could not restore the loss state")

    def _parse(self, reply: dict, context: StepContext) -> StepResult:
        try:
            weights = reply.get("weights")
            if not isinstance(weights, list) or len(weights) != self.task_count:
                raise ProtocolError(f"expected {self.task_count} weights, got {clean_text(weights, 80)}")
            parsed = [finite_float(w, "d total / d loss") for w in weights]
            total = finite_float(reply.get("total"), "the total loss")
        except ProtocolError as exc:
            raise self._fail(f"protocol violation at epoch {context.epoch}: {exc}") from None
        return StepResult(total, parsed)

    def _receive(self, timeout: float, doing: str, expired: str) -> dict:
        """The next message within `timeout`; `expired`: the failure if none arrives, naming
        the limit that set the time-out."""
        assert self._conn is not None
        try:
            return recv_message(self._conn, timeout)
        except CallTimeout:
            raise self._fail(expired) from None
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
        known = self._process.exit_reason() if code is not None else None
        if known is not None:
            reason = known
        elif code is None:
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
            details = (details + "\n" if details else "") + "oracle output (last lines):\n" + clean_details(tail, 4000)
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
