"""Gradient-level submissions through the sandbox: the ported PCGrad and CAGrad files
follow the trusted baselines' trajectories, and the trainer checks every answer."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from torch import nn

from baselines.cagrad import CAGradCombiner
from baselines.pcgrad import PCGradCombiner
from harness.api.errors import SubmissionError
from harness.api.method import Combiner, StepContext
from harness.api.records import TrainConfig
from harness.api.sandbox import OracleLimits, Sandbox
from harness.methods.gradient_level import GradientLevelCombiner, check_coefficients, check_direction
from harness.oracle.backends.bwrap import BwrapSandbox
from harness.oracle.backends.docker import DockerSandbox
from harness.oracle.backends.process import ProcessSandbox
from harness.oracle.gradient_client import OracleGradientRunner
from harness.oracle.guest.gradient import declared_format
from harness.oracle.guest.loader import SubmissionFault
from tasks.cifar100_mtl.models import MultiHeadNet

FILES = Path(__file__).resolve().parents[3] / "baselines" / "gradient_files"
LOSSES = ("fine", "coarse")
CONFIG = TrainConfig(epochs=5)
STEPS = 50


def tiny_model() -> MultiHeadNet:
    trunk = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    return MultiHeadNet(trunk, 8, (10, 4))


def trajectory(make: Callable[[], Combiner]) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """50 SGD steps on random batches: the final parameters and each step's weights."""
    torch.manual_seed(0)
    model = tiny_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    combiner = make()
    reported = []
    try:
        combiner.attach(model, seed=3)
        data = torch.Generator().manual_seed(1)
        for step in range(STEPS):
            images = torch.randn(16, 3, 8, 8, generator=data)
            fine, coarse = torch.randint(0, 10, (16,), generator=data), torch.randint(0, 4, (16,), generator=data)
            outputs = model(images)
            losses = [nn.functional.cross_entropy(outputs[0], fine), nn.functional.cross_entropy(outputs[1], coarse)]
            optimizer.zero_grad(set_to_none=True)
            result = combiner.backward(losses, StepContext(epoch=step // 10, total_epochs=5, lr=0.1))
            optimizer.step()
            reported.append(torch.as_tensor(result.weights, dtype=torch.float32))
    finally:
        combiner.close()
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()]), reported


def sandboxed(name: str, sandbox: Sandbox) -> Callable[[], Combiner]:
    path = FILES / f"{name}.py"
    level = declared_format(path, path.read_text())
    return lambda: GradientLevelCombiner(OracleGradientRunner(path, LOSSES, CONFIG, sandbox, OracleLimits(), level))


@pytest.mark.parametrize(
    "sandbox", [ProcessSandbox(), BwrapSandbox(), DockerSandbox()], ids=["process", "bwrap", "docker"]
)
def test_pcgrad_file_through_the_sandbox_follows_the_trusted_baseline(sandbox: Sandbox) -> None:
    """Through docker the segment's descriptor crosses into the container over the
    bind-mounted socket (SCM_RIGHTS works across the mount: one kernel)."""
    reason = type(sandbox).available()
    if reason:
        pytest.skip(reason)
    trusted, _ = trajectory(PCGradCombiner)
    through, reported = trajectory(sandboxed("pcgrad", sandbox))
    assert torch.allclose(through, trusted, atol=1e-5, rtol=0)
    assert not torch.equal(through, trajectory(GradientLevelCombinerOfEqual)[0])  # the surgery mattered
    assert all(r.shape == (2,) and torch.isfinite(r).all() for r in reported)  # effective coefficients


def test_cagrad_gram_file_through_the_sandbox_follows_the_trusted_baseline() -> None:
    trusted, trusted_weights = trajectory(CAGradCombiner)
    through, weights = trajectory(sandboxed("cagrad", ProcessSandbox()))
    assert torch.allclose(through, trusted, atol=1e-5, rtol=0)
    assert torch.allclose(torch.stack(weights), torch.stack(trusted_weights), atol=1e-5)


class GradientLevelCombinerOfEqual(PCGradCombiner):
    """The plain sum of the task gradients: what PCGrad's projections change."""

    def direction(self, losses, grads, context):  # type: ignore[no-untyped-def]
        from harness.api.gradients import Direction

        return Direction(grads.sum(0), None, [1.0, 1.0])


def test_the_file_states_its_format_by_its_class(tmp_path: Path) -> None:
    assert declared_format(FILES / "pcgrad.py", (FILES / "pcgrad.py").read_text()) == "gradient"
    assert declared_format(FILES / "cagrad.py", (FILES / "cagrad.py").read_text()) == "gram"
    assert declared_format(tmp_path / "l.py", "class MultiTaskLoss: pass\n") == "loss"
    with pytest.raises(SubmissionFault, match="defines GradientCombiner and MultiTaskLoss"):
        declared_format(tmp_path / "b.py", "class MultiTaskLoss: pass\nclass GradientCombiner: pass\n")


def test_answers_past_the_norm_bound_are_refused() -> None:
    norms = torch.tensor([1.0, 2.0], dtype=torch.float64)
    check_direction(299.0, norms, 0)  # within 100 x (1 + 2)
    with pytest.raises(SubmissionError, match="exceeds 100 times"):
        check_direction(301.0, norms, 3)
    check_coefficients(torch.tensor([100.0, 100.0], dtype=torch.float64), norms, 0)
    with pytest.raises(SubmissionError, match="exceeds 100 times"):
        check_coefficients(torch.tensor([1.0, 200.0], dtype=torch.float64), norms, 0)
    with pytest.raises(SubmissionError, match="exceeds 100 times"):
        check_direction(float("nan"), norms, 0)  # NaN fails the comparison
    zero = torch.tensor([0.0, 2.0], dtype=torch.float64)  # a task with no gradient at all
    with pytest.raises(SubmissionError, match="exceeds the bound"):
        check_coefficients(torch.tensor([1e39, 1.0], dtype=torch.float64), zero, 0)  # inf in float32
    with pytest.raises(SubmissionError, match="exceeds the bound"):
        check_coefficients(torch.tensor([float("inf"), 1.0], dtype=torch.float64), zero, 0)


def test_untrusted_messages_and_states_cannot_recurse_the_trainer_to_death() -> None:
    import socket as sockets

    from harness.oracle.client import MAX_STATE_NESTING, nesting
    from harness.oracle.guest.protocol import ProtocolError, recv_message, send_message

    deep: object = 1
    for _ in range(5000):
        deep = [deep]
    left, right = sockets.socketpair()
    with left, right:
        right.sendall(__import__("struct").pack(">I", 10001) + b"[" * 5000 + b"1" + b"]" * 5000)
        with pytest.raises(ProtocolError, match="nests too deeply"):
            recv_message(left, timeout=5)
        send_message(right, {"ok": [[1]]})
        assert recv_message(left, timeout=5) == {"ok": [[1]]}
    assert nesting(deep) > MAX_STATE_NESTING and nesting({"a": [1, {"b": 2}]}) == 3


def test_validate_reports_cosines_before_and_after_and_coefficients(tmp_path: Path) -> None:
    from harness.methods.validate_gradient import validate_gradient

    surgery = validate_gradient(FILES / "pcgrad.py", LOSSES, ProcessSandbox(), OracleLimits(), "gradient", 3, 4)
    assert not surgery.problems and len(surgery.steps) == 12
    assert all(s["before"] < 0 for s in surgery.steps)  # the synthetic gradients conflict
    assert all(min(s["after"]) >= -1e-6 for s in surgery.steps)  # PCGrad's sum conflicts with neither task
    assert list(surgery.table().columns)[:3] == ["cos before", "cos after fine", "cos after coarse"]

    plain = tmp_path / "plain.py"
    plain.write_text("class GradientCombiner:\n    def combine(self, grads, losses, epoch, total_epochs, step):\n"
                     "        return grads.sum(0)\n")  # fmt: skip
    summed = validate_gradient(plain, LOSSES, ProcessSandbox(), OracleLimits(), "gradient", 3, 4)
    assert any("points against task fine" in warning for warning in summed.warnings)

    broken = tmp_path / "broken.py"
    broken.write_text("import torch\nclass GramCombiner:\n    def combine(self, gram, losses, epoch, total_epochs, step):\n"
                      "        return torch.tensor([float('nan'), 1.0]) if epoch == 1 else torch.ones(2)\n")  # fmt: skip
    failed = validate_gradient(broken, LOSSES, ProcessSandbox(), OracleLimits(), "gram", 3, 4)
    assert len(failed.steps) == 4 and "non-finite value at epoch 1" in failed.problems[0]


def test_submit_runs_a_gradient_file_end_to_end(
    tmp_path: Path, data_root: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.helpers import records, run_main

    results = tmp_path / "results"
    code, out, err = run_main(
        capsys, monkeypatch, "submit", FILES / "cagrad.py", "--name", "cagrad-file", "--preset", "tiny",
        "--tasks", "cifar100-mtl", "--no-baselines", "--sandbox", "process", "--results", results,
        "--data-root", data_root,
    )  # fmt: skip
    assert code == 0, err
    (record,) = records(results)
    assert record["status"] == "ok" and record["method"]["kind"] == "gram_module"
    assert all(0.0 < w < 2.0 for w in record["epochs"][-1]["task_weights"].values())  # CAGrad: T times a convex mix


SEED_STYLE_PCGRAD = '''import torch
from torch import nn


class MultiTaskLoss(nn.Module):
    """The seed's pattern: find the shared parameters by walking the loss's graph."""

    def forward(self, fine_loss, coarse_loss, epoch, total_epochs):
        stack, params = [fine_loss.grad_fn], []
        while stack:
            node = stack.pop()
            for child, _ in getattr(node, "next_functions", ()):
                if child is not None:
                    stack.append(child)
        grads = [torch.autograd.grad(loss, params, retain_graph=True) for loss in (fine_loss, coarse_loss)]
        return fine_loss + coarse_loss
'''


def test_a_seed_style_graph_walking_loss_is_pointed_to_the_gradient_format(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.helpers import run_main

    path = tmp_path / "seed_pcgrad.py"
    path.write_text(SEED_STYLE_PCGRAD)
    for command in (["validate", path], ["submit", path, "--preset", "tiny", "--tasks", "cifar100-mtl",
                                         "--no-baselines", "--results", tmp_path / "results"]):  # fmt: skip
        code, out, err = run_main(capsys, monkeypatch, *command)
        message = out + err
        assert code == 2, message
        assert "GradientCombiner" in message and "submissions/example_gradient.py" in message
        assert ".grad_fn, line 9" in message  # the first construct found
    assert not (tmp_path / "results" / "runs").exists()  # nothing trained


STATEFUL = """import torch


class GradientCombiner:
    def __init__(self, seed):
        self.generator = torch.Generator().manual_seed(seed)
        self.average = None

    def combine(self, grads, losses, epoch, total_epochs, step):
        scale = 0.5 + torch.rand(2, generator=self.generator)
        self.average = grads.norm(dim=1) if self.average is None else 0.9 * self.average + 0.1 * grads.norm(dim=1)
        return scale * (1 + 0.01 * (step % 7)) * self.average.mean() / grads.norm(dim=1).clamp_min(1e-12)
"""


@pytest.mark.slow  # two trainings; quick: test_checkpoint.py's pcgrad, test_pcgrad_file_through_the_sandbox_follows_the_trusted_baseline
def test_an_interrupted_gradient_level_run_resumes_to_the_same_numbers(tmp_path: Path, data_root: Path) -> None:
    """The combiner's state (a generator and a running average, through the state codec)
    and the step count are checkpointed with the job: a resumed run ends as one never
    stopped (each of the three changes the answers, so a lost one changes the numbers)."""
    from harness.methods.resolve import submission_method
    from harness.run.trainer import train
    from tasks.cifar100_mtl import Cifar100MultiTask

    task = Cifar100MultiTask()
    config = TrainConfig(epochs=3, batch_size=64, data="synthetic", train_size=192, test_size=100)
    path = tmp_path / "stateful.py"
    path.write_text(STATEFUL)
    method = submission_method(path, "stateful", "submission", task.loss_names, ProcessSandbox(), OracleLimits())

    class Stop(Exception):
        pass

    def stop_after_first(log) -> None:  # type: ignore[no-untyped-def]
        if log.epoch == 0:
            raise Stop()

    def numbers(outcome) -> list[dict]:  # type: ignore[no-untyped-def]
        return [e.model_dump(exclude={"seconds", "images_per_second"}) for e in outcome.epochs]

    cpu = torch.device("cpu")
    combiners = [method.make_combiner(config) for _ in range(3)]
    checkpoint = tmp_path / "ck.pt"
    try:
        full = train(task, "resnet20", 1, config, combiners[0], cpu, data_root)
        with pytest.raises(Stop):
            train(task, "resnet20", 1, config, combiners[1], cpu, data_root, stop_after_first, None, checkpoint)
        resumed = train(task, "resnet20", 1, config, combiners[2], cpu, data_root, checkpoint=checkpoint)
    finally:
        for combiner in combiners:  # train() leaves closing to its caller (run_job)
            combiner.close()
    assert resumed.resumed_from == 1 and full.error is None
    assert numbers(resumed) == numbers(full)


def test_a_vgg_sized_payload_fits_the_default_limits_through_bwrap() -> None:
    """VGG-16-BN has about 15M shared parameters: two tasks' gradients are 120 MB in the
    segment, and PCGrad's copies must fit the oracle's default memory limit and per-call
    time. Fails if the shared mapping or the guest's working copies hit RLIMIT_DATA."""
    reason = BwrapSandbox.available()
    if reason:
        pytest.skip(reason)
    width = 15_000_000
    runner = OracleGradientRunner(FILES / "pcgrad.py", LOSSES, CONFIG, BwrapSandbox(), OracleLimits(), "gradient")
    try:
        runner.attach(width, seed=0)
        grads = torch.zeros(2, width)
        grads[0, 0], grads[0, 1], grads[1, 0] = 1.0, 1.0, -1.0  # conflicting: g0 = (1, 1), g1 = (-1, 0)
        kind, answer = runner.combine(grads, [1.0, 1.0], StepContext(epoch=0, total_epochs=5, lr=0.1), 0)
    finally:
        runner.close()
    # g0 - (g0.g1/|g1|^2) g1 = (0, 1); g1 - (g1.g0/|g0|^2) g0 = (-0.5, 0.5): sum (-0.5, 1.5)
    assert kind == "direction" and answer.shape == (width,)
    assert answer[:2].tolist() == [-0.5, 1.5] and not answer[2:].any()


def test_the_cagrad_file_solves_as_the_trusted_baseline_beyond_two_tasks() -> None:
    """The file carries its own copy of the exact simplex solver (a submission imports no
    harness code): for 3 and 5 tasks its coefficients are the trusted baseline's."""
    import importlib.util

    from baselines.cagrad import cagrad_coefficients

    spec = importlib.util.spec_from_file_location("cagrad_file", FILES / "cagrad.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for tasks, scale in ((3, 1.0), (5, 1.0), (3, 1e8)):  # 1e8: gradients too large to skip the centring
        grads = scale * torch.randn(tasks, 20, dtype=torch.float64, generator=torch.Generator().manual_seed(tasks))
        gram = grads @ grads.T
        answer = module.GramCombiner().combine(gram, [1.0] * tasks, 0, 1, 0)
        assert torch.allclose(answer, cagrad_coefficients(gram), atol=1e-10, rtol=0)
