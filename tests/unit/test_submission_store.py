"""One immutable copy per submission, under its hash: a file swapped after it was read
never runs under the first file's hash, same-named files never share a copy, and a copy
changed in place is refused, wherever it is used."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from harness.api.errors import SubmissionError
from harness.api.records import JobSpec, TrainConfig
from harness.api.sandbox import OracleLimits, Sandbox
from harness.methods.resolve import submission_method
from harness.oracle.backends.process import ProcessSandbox
from harness.oracle.client import OracleClient
from harness.queue.jobqueue import JobQueue
from harness.queue.worker import entry_for
from harness.run.jobs import plan
from harness.submission_store import sha256_of, store_submission, verified_copy
from tasks.cifar100_mtl import Cifar100MultiTask

TASK = Cifar100MultiTask()
PLAIN = "import torch.nn as nn\n\nclass MultiTaskLoss(nn.Module):\n    def forward(self, a, b, epoch, total):\n        return a + b\n"
SWAPPED = PLAIN.replace("return a + b", "raise RuntimeError('the swapped payload ran')")
LIMIT = 256 * 1024
JOB = JobSpec(task=TASK.name, arch="resnet20", seed=0, preset="t", config=TrainConfig(epochs=1))


def write_submission(folder: Path, body: str, name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(body)
    return folder / name


def test_the_copy_is_taken_once_and_a_swap_of_the_file_changes_nothing(tmp_path: Path) -> None:
    original = write_submission(tmp_path / "user", PLAIN, "loss.py")
    stored = store_submission(original, tmp_path / "queue", LIMIT)
    original.write_text(SWAPPED)  # the file swapped after it was read
    assert stored.path.read_text() == PLAIN and stored.sha256 == sha256_of(PLAIN.encode())
    assert stored.path.name == "loss.py" and stored.path.parent.name == stored.sha256
    assert not stat.S_IMODE(stored.path.stat().st_mode) & 0o222  # read-only


def test_two_files_of_one_name_never_share_a_copy(tmp_path: Path) -> None:
    first = store_submission(write_submission(tmp_path / "a", PLAIN, "loss.py"), tmp_path / "queue", LIMIT)
    second = store_submission(write_submission(tmp_path / "b", SWAPPED, "loss.py"), tmp_path / "queue", LIMIT)
    assert first.path != second.path
    assert first.path.read_text() == PLAIN and second.path.read_text() == SWAPPED


def test_a_copy_changed_in_place_is_refused_and_replaced_when_stored_again(tmp_path: Path) -> None:
    original = write_submission(tmp_path / "user", PLAIN, "loss.py")
    stored = store_submission(original, tmp_path / "queue", LIMIT)
    os.chmod(stored.path, 0o644)
    stored.path.write_text(SWAPPED)  # planted by whoever can write the results folder
    with pytest.raises(SubmissionError, match="changed after it was checked"):
        verified_copy(stored.path, stored.sha256, LIMIT)
    again = store_submission(original, tmp_path / "queue", LIMIT)  # a later, clean submit of the file
    assert again.path == stored.path and again.path.read_text() == PLAIN


def test_the_stored_copy_honours_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o077)
    try:
        stored = store_submission(write_submission(tmp_path, PLAIN, "loss.py"), tmp_path / "queue", LIMIT)
    finally:
        os.umask(old)
    assert stat.S_IMODE(stored.path.stat().st_mode) == 0o400


def test_a_file_over_the_limit_is_refused_without_reading_it_all(tmp_path: Path) -> None:
    big = tmp_path / "big.py"
    big.write_bytes(b"#" * (LIMIT + 1))
    with pytest.raises(SubmissionError, match="more than the 256 KiB"):
        store_submission(big, tmp_path / "queue", LIMIT)


def _method(path: Path, sandbox: Sandbox):  # type: ignore[no-untyped-def]
    return submission_method(path, "attacker", "submission", TASK.loss_names, sandbox, OracleLimits(), check=False)


def test_the_oracle_runs_only_the_bytes_of_the_recorded_hash(tmp_path: Path) -> None:
    stored = store_submission(write_submission(tmp_path, PLAIN, "loss.py"), tmp_path / "queue", LIMIT)
    method = _method(stored.path, ProcessSandbox())
    os.chmod(stored.path, 0o644)
    stored.path.write_text(SWAPPED)  # after the method (and its key) were made
    with pytest.raises(SubmissionError, match="changed after it was checked"):
        method.make_combiner(JOB.config)


def test_a_job_is_never_queued_from_a_changed_copy(tmp_path: Path) -> None:
    stored = store_submission(write_submission(tmp_path, PLAIN, "loss.py"), tmp_path / "queue", LIMIT)
    planned = plan(_method(stored.path, ProcessSandbox()), [JOB])[0]
    queue = JobQueue(tmp_path / "queue")
    entry = entry_for(planned, queue, tmp_path, tmp_path)
    assert entry.submission_copy is not None and Path(entry.submission_copy).read_text() == PLAIN
    os.chmod(stored.path, 0o644)
    stored.path.write_text(SWAPPED)
    with pytest.raises(SubmissionError, match="changed after it was checked"):
        entry_for(planned, queue, tmp_path, tmp_path)


class SwappingSandbox(ProcessSandbox):
    """A backend that mounts another file than the one it was asked to: the oracle's own
    report of what it loaded must give it away."""

    name = "swapping"

    def __init__(self, other: Path) -> None:
        self.other = other

    def launch(self, request):  # type: ignore[no-untyped-def]
        from dataclasses import replace

        return super().launch(replace(request, submission=self.other))


def test_an_oracle_that_loaded_other_bytes_fails_at_start(tmp_path: Path) -> None:
    path = write_submission(tmp_path / "a", PLAIN, "loss.py")
    other = write_submission(tmp_path / "b", PLAIN + "# another file\n", "loss.py")
    with pytest.raises(SubmissionError, match="oracle reports loading sha256 .* not the submission's"):
        OracleClient(
            path,
            TASK.loss_names,
            JOB.config,
            SwappingSandbox(other),
            OracleLimits(),
        ).close()


def test_a_link_planted_in_place_of_a_copy_is_never_read(tmp_path: Path) -> None:
    """A symbolic link where a stored copy should be (to /dev/zero, or to a file of the
    right hash elsewhere) is refused without reading it, and storing the file again puts a
    real copy back."""
    original = write_submission(tmp_path / "user", PLAIN, "loss.py")
    stored = store_submission(original, tmp_path / "queue", LIMIT)
    stored.path.unlink()
    stored.path.symlink_to("/dev/zero")
    with pytest.raises(SubmissionError, match="cannot be read"):
        verified_copy(stored.path, stored.sha256, LIMIT)
    again = store_submission(original, tmp_path / "queue", LIMIT)
    assert not again.path.is_symlink() and again.path.read_text() == PLAIN


def test_a_device_is_not_a_submission(tmp_path: Path) -> None:
    with pytest.raises(SubmissionError, match="not a file"):
        store_submission(Path("/dev/zero"), tmp_path / "queue", LIMIT)


def test_the_method_keeps_the_hash_of_the_bytes_read_once(tmp_path: Path) -> None:
    """The stored copy replaced (a rename needs only the folder) between the read and the
    method: refused, never recorded under the first bytes' name with another hash."""
    stored = store_submission(write_submission(tmp_path, PLAIN, "loss.py"), tmp_path / "queue", LIMIT)
    replacement = write_submission(tmp_path / "other", SWAPPED, "loss.py")
    os.replace(replacement, stored.path)
    with pytest.raises(SubmissionError, match="changed after it was read"):
        submission_method(
            stored.path,
            "x",
            "submission",
            TASK.loss_names,
            ProcessSandbox(),
            OracleLimits(),
            check=False,
            expected_sha256=stored.sha256,
        )


def test_a_folder_is_not_a_submission(tmp_path: Path) -> None:
    with pytest.raises(SubmissionError, match="not a file"):
        store_submission(tmp_path, tmp_path / "queue", LIMIT)
    assert not (tmp_path / "queue").exists()
