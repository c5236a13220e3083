"""Every way a submission file can be wrong gives a specific, readable error."""

from pathlib import Path

import pytest

from harness.api.errors import SubmissionError
from harness.api.method import StepContext
from harness.api.records import TrainConfig
from harness.methods.loss_level import InProcessLossRunner
from harness.oracle.guest.loader import SubmissionFault, load_submission
from tests.helpers import REPO, write_submission

HEADER = "import torch\nimport torch.nn as nn\n\n"


def loss_file(tmp_path: Path, forward_body: str, extra: str = "") -> Path:
    return write_submission(
        tmp_path,
        HEADER
        + extra
        + "class MultiTaskLoss(nn.Module):\n"
        + "    def forward(self, fine_loss, coarse_loss, epoch, total_epochs):\n"
        + f"        {forward_body}\n",
    )


def error_of(path: Path) -> SubmissionFault:
    with pytest.raises(SubmissionFault) as info:
        load_submission(path, ("fine", "coarse"))
    return info.value


def test_example_submission_loads() -> None:
    loaded = load_submission(REPO / "submissions" / "example_loss.py", ("fine", "coarse"))
    assert loaded.loss_class.__name__ == "MultiTaskLoss" and len(loaded.sha256) == 64


def test_missing_file(tmp_path: Path) -> None:
    assert "not found" in str(error_of(tmp_path / "nope.py"))


def test_syntax_error_names_the_line(tmp_path: Path) -> None:
    path = write_submission(tmp_path, "import torch\n\ndef broken(:\n    pass\n")
    assert "syntax error in submission.py line 3" in str(error_of(path))


def test_import_time_exception_keeps_the_submissions_traceback(tmp_path: Path) -> None:
    path = write_submission(tmp_path, "x = 1\nraise RuntimeError('boom at import')\n")
    error = error_of(path)
    assert "RuntimeError: boom at import" in str(error) and "imported" in str(error)
    assert "line 2" in error.details


def test_no_multitask_loss_class(tmp_path: Path) -> None:
    path = write_submission(tmp_path, HEADER + "class OtherLoss(nn.Module):\n    pass\n")
    assert "no class named MultiTaskLoss" in str(error_of(path))


def test_not_a_module(tmp_path: Path) -> None:
    path = write_submission(tmp_path, "class MultiTaskLoss:\n    pass\n")
    assert "subclass of torch.nn.Module" in str(error_of(path))


def test_wrong_forward_signature(tmp_path: Path) -> None:
    path = write_submission(
        tmp_path,
        HEADER + "class MultiTaskLoss(nn.Module):\n    def forward(self, fine_loss, coarse_loss):\n"
        "        return fine_loss + coarse_loss\n",
    )
    message = str(error_of(path))
    assert "forward(fine_loss, coarse_loss, epoch, total_epochs)" in message


@pytest.mark.parametrize(
    "body, expected",
    [
        ("return fine_loss * float('nan')", "expected a finite value"),
        ("return fine_loss * float('inf')", "expected a finite value"),
        ("return torch.stack([fine_loss, coarse_loss])", "shape (2,)"),
        ("return float(fine_loss + coarse_loss)", "returned float"),
        ("return torch.tensor(1.0)", "no gradient"),
        ("return 1 / 0", "ZeroDivisionError"),
    ],
)
def test_bad_outputs(tmp_path: Path, body: str, expected: str) -> None:
    assert expected in str(error_of(loss_file(tmp_path, body)))


def test_failure_during_training_is_reported_with_epoch(tmp_path: Path) -> None:
    path = loss_file(tmp_path, "return fine_loss + coarse_loss if epoch != 2 else {}['missing']")
    loaded = load_submission(path, ("fine", "coarse"))  # the probe at epochs 0 and 9 passes
    run = InProcessLossRunner(loaded.loss_class, loaded.path, TrainConfig(epochs=5))
    with pytest.raises(SubmissionError, match="at epoch 2") as info:
        run([1.0, 1.0], StepContext(2, 5, 0.1))
    assert "KeyError" in str(info.value) and "submission.py" in info.value.details
