"""The runner as a user runs it: a subprocess, its exit code and what it prints."""

import os
import subprocess
from pathlib import Path

import pytest

from tests.helpers import PYTHON, REPO, records, run_main, runner, write_submission


@pytest.fixture(scope="module")
def smoke_results(tmp_path_factory: pytest.TempPathFactory, data_root: Path) -> Path:
    """The example submission and one baseline through the real CLI (tiny preset)."""
    results = tmp_path_factory.mktemp("results")
    first = runner(
        "submit",
        "submissions/example_loss.py",
        "--no-baselines",
        "--preset",
        "tiny",
        "--tasks",
        "cifar100-mtl",
        "--results",
        results,
        "--data-root",
        data_root,
    )
    assert first.returncode == 0, first.stderr
    second = runner(
        "baselines",
        "--only",
        "equal",
        "--preset",
        "tiny",
        "--tasks",
        "cifar100-mtl",
        "--results",
        results,
        "--data-root",
        data_root,
    )
    assert second.returncode == 0, second.stderr
    return results


@pytest.mark.slow  # the smoke preset end to end (smoke_results); quick: test_submit_runs_a_gradient_file_end_to_end
def test_submit_writes_records_and_prints_the_leaderboard(smoke_results: Path) -> None:
    saved = records(smoke_results)
    assert {(r["method"]["name"], r["status"]) for r in saved} == {("example_loss", "ok"), ("equal", "ok")}
    example = next(r for r in saved if r["method"]["name"] == "example_loss")
    assert len(example["epochs"]) == 2
    assert example["best_primary"] == max(e["test_metrics"]["fine_acc"] for e in example["epochs"])
    assert example["environment"]["device"] == "cpu" and example["job"]["preset"] == "tiny"
    assert example["environment"]["git_commit"] not in ("", "unknown")  # the suite runs in a checkout
    assert example["device_hours"] == pytest.approx(example["wall_seconds"] / 3600)
    board = (smoke_results / "leaderboard-tiny.md").read_text()
    assert "| example_loss | submission |" in board and "| equal        | baseline   |" in board


@pytest.mark.slow  # the smoke preset end to end (smoke_results); quick: test_submit_runs_a_gradient_file_end_to_end
def test_rerun_is_served_from_the_records(smoke_results: Path, data_root: Path) -> None:
    again = runner(
        "submit",
        "submissions/example_loss.py",
        "--no-baselines",
        "--preset",
        "tiny",
        "--tasks",
        "cifar100-mtl",
        "--results",
        smoke_results,
        "--data-root",
        data_root,
    )
    assert again.returncode == 0
    assert "1 jobs: 1 already recorded (use --force to rerun), 0 enqueued" in again.stdout
    assert "every job already recorded, not checked again" in again.stdout  # no sandbox started
    assert len(records(smoke_results)) == 2


@pytest.mark.slow  # the smoke preset end to end (smoke_results); quick: test_submit_runs_a_gradient_file_end_to_end
def test_leaderboard_command_renders_to_a_file(smoke_results: Path, tmp_path: Path) -> None:
    out = tmp_path / "board.md"
    done = runner("leaderboard", "--preset", "tiny", "--results", smoke_results, "--out", out)
    assert done.returncode == 0 and "example_loss" in out.read_text()


@pytest.mark.slow  # end to end; quick: test_unloadable_submission_is_one_line_and_no_record
def test_failing_submission_is_recorded_and_other_records_survive(
    smoke_results: Path, data_root: Path, tmp_path: Path
) -> None:
    before = {p: p.read_bytes() for p in (smoke_results / "runs").rglob("*.json")}
    path = write_submission(
        tmp_path,
        "import torch.nn as nn\n\nclass MultiTaskLoss(nn.Module):\n"
        "    def forward(self, fine_loss, coarse_loss, epoch, total_epochs):\n"
        "        if epoch == 1 and total_epochs == 2:\n"
        "            raise ValueError('gave up in epoch two')\n"
        "        return fine_loss + coarse_loss\n",
        name="quitter.py",
    )
    done = runner(
        "submit",
        path,
        "--no-baselines",
        "--preset",
        "tiny",
        "--tasks",
        "cifar100-mtl",
        "--results",
        smoke_results,
        "--data-root",
        data_root,
    )
    assert done.returncode == 1
    assert (
        "FAILED: MultiTaskLoss.forward raised ValueError: gave up in epoch two (quitter.py line 6) at epoch 1"
        in done.stdout
    )
    assert "Traceback" not in done.stderr
    failed = [r for r in records(smoke_results) if r["method"]["name"] == "quitter"]
    assert len(failed) == 1 and failed[0]["status"] == "failed" and len(failed[0]["epochs"]) == 1
    assert "| quitter " in done.stdout and "failed" in done.stdout
    for path_, content in before.items():
        assert path_.read_bytes() == content


@pytest.mark.parametrize(
    "args, message",
    [
        (["submit", "missing.py"], "error: submission file not found: missing.py"),
        (["submit", "submissions/example_loss.py", "--archs", "vgg16bn"], "is hidden"),
        (["submit", "submissions/example_loss.py", "--archs", "resnet21"], "unknown architecture resnet21"),
        (
            ["submit", "submissions/example_loss.py", "--tasks", "cifar100-mtl", "--archs", "resnet18"],
            "unknown architecture resnet18",
        ),
        (["submit", "submissions/example_loss.py", "--seeds", "x"], "--seeds takes integers"),
        (["submit", "submissions/example_loss.py", "--name", "dwa"], "belongs to a registered method"),
        (["submit", "submissions/example_loss.py", "--tasks", "mnist"], "unknown task"),
        (["submit", "submissions/example_loss.py", "--device", "cuda:7"], "cuda"),
        (["baselines", "--only", "gradnorm2"], "unknown method 'gradnorm2' (did you mean 'gradnorm'?)"),
        (
            ["submit", "submissions/example_loss.py", "--preset", "dev", "--data-root", "/nonexistent"],
            "CIFAR-100 not found: expected /nonexistent/cifar100/cifar-100-python/train",
        ),
    ],
)
def test_bad_input_gives_one_line_and_non_zero_exit(
    args: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, _, err = run_main(capsys, monkeypatch, *args, "--results", tmp_path)
    assert code == 2
    assert message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "runs").exists()


def test_syntax_error_in_submission(tmp_path: Path) -> None:
    path = write_submission(tmp_path, "class MultiTaskLoss(:\n    pass\n")
    done = runner("submit", path, "--results", tmp_path, timeout=60)
    assert done.returncode == 2 and "syntax error in submission.py line 1" in done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_unloadable_submission_is_one_line_and_no_record(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_submission(tmp_path, "x = 1\nraise RuntimeError('boom')\n")
    results = tmp_path / "results"
    code, _, err = run_main(capsys, monkeypatch, "submit", path, "--tasks", "cifar100-mtl", "--results", results)
    assert code == 2
    assert err.strip() == "error: submission.py raised RuntimeError: boom (submission.py line 2) while being imported"
    assert records(results) == []  # rejected before training: no run record, so no board row
    code, _, err = run_main(capsys, monkeypatch, "--verbose", "submit", path, "--results", results)
    assert "raise RuntimeError('boom')" in err


def test_data_command_writes_the_synthetic_set(tmp_path: Path) -> None:
    done = runner("data", "cifar100", "--synthetic", "--root", tmp_path, timeout=120)
    assert done.returncode == 0
    assert {p.name for p in (tmp_path / "cifar-100-python").iterdir()} == {"train", "test", "meta"}


def test_help_explains_the_commands() -> None:
    done = runner("--help", timeout=60)
    assert done.returncode == 0
    for command in ("submit", "baselines", "leaderboard", "data"):
        assert command in done.stdout
    sub = runner("submit", "--help", timeout=60)
    assert "--preset" in sub.stdout and "smoke" in sub.stdout


def test_validate_prints_weights_and_passes_a_good_file(tmp_path: Path) -> None:
    plot = tmp_path / "weights.png"
    done = runner("validate", "baselines/uncertainty.py", "--plot", plot, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "in the bwrap sandbox" in done.stdout or "in the process sandbox" in done.stdout
    assert "w fine" in done.stdout and "w coarse" in done.stdout and "no problems found" in done.stdout
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    "forward, problem",
    [
        ("return fine_loss + 0.0 * coarse_loss", "task coarse has weight 0 at every step"),
        ("return self.scale * 1.0", "no gradient to any task loss"),
        ("time.sleep(0.02)\n        return fine_loss + coarse_loss", "too slow"),
    ],
)
def test_validate_reports_problems(
    tmp_path: Path, forward: str, problem: str, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_submission(
        tmp_path,
        "import time\nimport torch\nimport torch.nn as nn\n\nclass MultiTaskLoss(nn.Module):\n"
        "    def __init__(self):\n        super().__init__()\n        self.scale = nn.Parameter(torch.ones(()))\n\n"
        f"    def forward(self, fine_loss, coarse_loss, epoch, total_epochs):\n        {forward}\n",
    )
    code, out, _ = run_main(capsys, monkeypatch, "validate", path, "--epochs", "2")
    assert code == 1
    assert "PROBLEM: " in out and problem in out


def test_validate_shows_the_submissions_traceback(tmp_path: Path) -> None:
    path = write_submission(
        tmp_path,
        "import torch.nn as nn\n\nclass MultiTaskLoss(nn.Module):\n"
        "    def forward(self, fine_loss, coarse_loss, epoch, total_epochs):\n"
        "        return {}['weights']\n",
    )
    done = runner("validate", path, timeout=120)
    assert done.returncode == 2
    assert "PROBLEM: MultiTaskLoss.forward raised KeyError: 'weights' (submission.py line 5)" in done.stdout
    assert "return {}['weights']" in done.stdout  # the submission's own traceback line
    assert "harness/" not in done.stdout  # and none of ours


def test_unusable_sandbox_is_a_one_line_error(tmp_path: Path) -> None:
    """No engine at DOCKER_HOST: one line that says what to do, before any job."""
    done = subprocess.run(
        [PYTHON, "runner.py", "submit", "submissions/example_loss.py", "--sandbox", "docker", "--results", tmp_path],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "DOCKER_HOST": f"unix://{tmp_path}/no-engine.sock"},
    )
    assert done.returncode == 2 and "sandbox docker is not usable: no Docker engine answers at unix://" in done.stderr
    assert "start dockerd or set DOCKER_HOST" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and not (tmp_path / "runs").exists()


def test_plugins_lists_what_is_registered_and_where_from(
    capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, _ = run_main(capsys, monkeypatch, "plugins")
    assert code == 0
    for name in ("cifar100-mtl", "face-adience", "pcgrad", "uncertainty", "bwrap", "process"):
        assert f"| {name} " in out
    assert "tasks.cifar100_mtl:Cifar100MultiTask" in out and "mtl-loss-bench" in out
    assert "(at most 2 tasks)" in out  # uncertainty's refusal is visible before any run


def test_task_options_appear_only_where_tasks_declare_them(
    capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(SystemExit):
        run_main(capsys, monkeypatch, "submit", "--help")
    help_text = capsys.readouterr().out
    assert "--no-tta" in help_text and "[face-adience, face-age-gender]" in help_text
    assert "--face-dataset" in help_text and "[face-age-gender]" in help_text
    with pytest.raises(SystemExit) as exited:  # a task's switch is no option of `status`
        run_main(capsys, monkeypatch, "status", "--no-tta")
    assert exited.value.code == 2 and "unrecognized arguments: --no-tta" in capsys.readouterr().err
