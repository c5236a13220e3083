"""The oracle gives the same training trajectory as the in-process call, and the docker
backend's container options (its engine-level tests run where an engine answers)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from harness.api.errors import HarnessError
from harness.api.method import StepContext, StepResult
from harness.api.records import TrainConfig
from harness.api.sandbox import LaunchRequest, OracleLimits, Sandbox
from harness.methods.loss_level import InProcessLossRunner, LossLevelCombiner
from harness.oracle.backends.bwrap import BwrapSandbox
from harness.oracle.backends.docker import DockerSandbox
from harness.oracle.backends.process import ProcessSandbox
from harness.oracle.choose import choose_sandbox
from harness.oracle.client import OracleClient
from harness.oracle.guest import GUEST_DIR
from harness.oracle.guest.loader import load_submission
from harness.run.trainer import train
from tasks.cifar100_mtl import Cifar100MultiTask
from tests.helpers import loss_file

TASK = Cifar100MultiTask()
CONFIG = TrainConfig(epochs=3, batch_size=64, data="synthetic", train_size=192, test_size=100)
BWRAP_REASON = BwrapSandbox.available()
DOCKER_REASON = DockerSandbox.available()


class Recording:
    """Wraps a loss runner and keeps every step's weights and total."""

    def __init__(self, runner) -> None:
        self.runner = runner
        self.sandbox = runner.sandbox
        self.steps: list[StepResult] = []

    def __call__(self, values: list[float], context: StepContext) -> StepResult:
        result = self.runner(values, context)
        self.steps.append(result)
        return result

    def check_budget(self, when: str) -> None:
        self.runner.check_budget(when)

    def close(self) -> None:
        self.runner.close()


def trajectory(runner, data_root: Path):
    recording = Recording(runner)
    outcome = train(TASK, "resnet20", 7, CONFIG, LossLevelCombiner(recording), torch.device("cpu"), data_root)
    recording.close()
    assert outcome.error is None
    return outcome, recording.steps


SANDBOXES = [
    pytest.param(
        BwrapSandbox(), marks=pytest.mark.skipif(BWRAP_REASON is not None, reason=str(BWRAP_REASON)), id="bwrap"
    ),
    pytest.param(ProcessSandbox(), marks=pytest.mark.slow, id="process"),  # quick: the bwrap run
]


@pytest.mark.parametrize("sandbox", SANDBOXES)
@pytest.mark.parametrize("baseline", [pytest.param("uncertainty", marks=pytest.mark.slow), "dwa"])  # quick: dwa
def test_oracle_and_in_process_give_the_same_run(baseline: str, sandbox: Sandbox, data_root: Path) -> None:
    source = loss_file(baseline)
    loaded = load_submission(source, ("fine", "coarse"))
    local, local_steps = trajectory(InProcessLossRunner(loaded.loss_class, source, CONFIG), data_root)
    remote, remote_steps = trajectory(OracleClient(source, TASK.loss_names, CONFIG, sandbox, OracleLimits()), data_root)
    assert len(local_steps) == len(remote_steps) == 9
    for a, b in zip(local_steps, remote_steps):
        assert a.weights == pytest.approx(b.weights, abs=1e-6)
        assert float(a.total) == pytest.approx(float(b.total), abs=1e-6)
    for a, b in zip(local.epochs, remote.epochs):
        assert a.train_losses == pytest.approx(b.train_losses, abs=1e-6)
        assert a.test_metrics == pytest.approx(b.test_metrics, abs=1e-6)
    if baseline == "dwa":  # epoch 2 uses loss ratios: the state in the oracle carried over
        assert local.epochs[2].task_weights["fine"] != 1.0


def test_default_sandbox_is_bwrap_where_it_works() -> None:
    warnings: list[str] = []
    if BWRAP_REASON is not None:
        with pytest.raises(HarnessError, match="--sandbox process"):
            choose_sandbox(None, warn=warnings.append)
        return
    chosen = choose_sandbox(None, warn=warnings.append)
    assert chosen.name == "bwrap" and not warnings


def test_the_process_sandbox_never_runs_unless_named(monkeypatch: pytest.MonkeyPatch) -> None:
    """Where bwrap cannot run, the default fails (one line, the choices named) instead of
    falling back to a backend that isolates nothing; naming `process` runs it, with a warning."""
    monkeypatch.setattr(BwrapSandbox, "available", classmethod(lambda cls: "bwrap is not installed"))
    warnings: list[str] = []
    with pytest.raises(HarnessError) as refused:
        choose_sandbox(None, warn=warnings.append)
    assert "bwrap is not installed" in str(refused.value) and "--sandbox process" in str(refused.value)
    assert "\n" not in str(refused.value) and not warnings
    assert choose_sandbox("process", warn=warnings.append).name == "process"
    assert "isolates nothing" in warnings[0]


def test_docker_options_lock_the_container_down(tmp_path: Path) -> None:
    submission = tmp_path / "loss.py"
    submission.write_text("")
    request = LaunchRequest(tmp_path, submission, GUEST_DIR, OracleLimits(memory_mb=512, processes=32))
    options = DockerSandbox().run_options(request)
    assert options["network_mode"] == "none" and options["read_only"] is True
    assert options["cap_drop"] == ["ALL"] and options["security_opt"] == ["no-new-privileges"]
    assert options["mem_limit"] == 512 << 20 and options["pids_limit"] == 32 and options["user"] == "65534:65534"
    assert {v["mode"] for v in options["volumes"].values()} == {"ro"}  # the socket's folder too
    assert set(options["volumes"]) == {str(tmp_path), str(submission), str(GUEST_DIR)}  # never the harness
    assert options["volumes"][str(GUEST_DIR)]["bind"] == "/sandbox/guest"


@pytest.mark.services  # the tests' Docker engine
@pytest.mark.skipif(DOCKER_REASON is not None, reason=f"docker backend not testable here: {DOCKER_REASON}")
def test_docker_oracle_matches_in_process(data_root: Path) -> None:
    source = loss_file("uncertainty")
    loaded = load_submission(source, ("fine", "coarse"))
    local, local_steps = trajectory(InProcessLossRunner(loaded.loss_class, source, CONFIG), data_root)
    remote, remote_steps = trajectory(
        OracleClient(source, TASK.loss_names, CONFIG, DockerSandbox(), OracleLimits()), data_root
    )
    for a, b in zip(local_steps, remote_steps):
        assert a.weights == pytest.approx(b.weights, abs=1e-6)


@pytest.mark.services  # the tests' Docker engine
@pytest.mark.skipif(DOCKER_REASON is not None, reason=f"docker backend not testable here: {DOCKER_REASON}")
def test_docker_oracle_has_no_network(tmp_path: Path) -> None:
    from harness.api.errors import SubmissionError

    path = tmp_path / "net.py"
    path.write_text(
        "import socket\nimport torch.nn as nn\n\nclass MultiTaskLoss(nn.Module):\n"
        "    def forward(self, a, b, epoch, total):\n"
        "        socket.create_connection(('127.0.0.1', 9), timeout=1)\n        return a + b\n"
    )
    with pytest.raises(SubmissionError, match="OSError|ConnectionRefused|unreachable"):
        OracleClient(path, TASK.loss_names, CONFIG, DockerSandbox(), OracleLimits()).close()
