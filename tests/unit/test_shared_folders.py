"""Shared folders (issue 33, item 4): everything the harness writes into a results folder
honours the umask (022: files 0644, folders 0755; stored submissions 0444), and
`--group-writable` (umask 002) makes them 0664 / 0775 for a team; checked by the mode bits
of every file a tiny run writes and, where the test runs as root, by a second user of the
team's group reading a record and (group-writable only) adding a file to the queue."""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch

from harness.queue import slurm
from harness.run.checkpoint import TrainingState, save_checkpoint
from tests.helpers import REPO, records, run_main

EXAMPLE = REPO / "submissions" / "example_loss.py"
TEAM_GID, OTHER_UID = 4242, 4243  # numeric ids: no account needed
IS_ROOT = os.geteuid() == 0


@pytest.fixture
def umask_022() -> Iterator[None]:
    """The usual umask for the test; restored after it (--group-writable changes this process's)."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


@pytest.fixture
def team_folder() -> Iterator[Path]:
    """A folder a second user can reach (pytest's own tmp folder is 0700): group TEAM_GID and
    setgid where the test may set them (root), as an admin sets up a team's folder."""
    folder = Path(tempfile.mkdtemp(prefix="mtl-team-", dir="/tmp"))
    try:
        if IS_ROOT:
            os.chown(folder, -1, TEAM_GID)
        folder.chmod(0o2775)
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def modes(root: Path) -> dict[str, set[Path]]:
    """Every file and folder under `root` by its permission bits (setgid left out)."""
    found: dict[str, set[Path]] = {}
    for path in [root, *root.rglob("*")]:
        mode = stat.S_IMODE(path.lstat().st_mode) & 0o777
        found.setdefault(f"{'d' if path.is_dir() else 'f'}{mode:o}", set()).add(path)
    return found


def tiny_run(
    results: Path, data_root: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch, *extra: str
) -> None:
    """A tiny CPU job (the run record, the queue, the stored submission, the boards and the
    TensorBoard files), then `leaderboard` writing markdown, HTML and CSV."""
    code, _, err = run_main(
        capsys, monkeypatch, "submit", EXAMPLE, "--preset", "tiny", "--tasks", "cifar100-mtl", "--no-baselines",
        "--sandbox", "process", "--results", results, "--data-root", data_root, "--tensorboard", results / "tb", *extra,
    )  # fmt: skip
    assert code == 0, err
    code, _, err = run_main(
        capsys, monkeypatch, "leaderboard", "--preset", "tiny", "--results", results, "--out", results / "b.md",
        "--html", results / "b.html", "--csv", results / "b.csv", *extra,
    )  # fmt: skip
    assert code == 0, err


def as_other_user(action: Callable[[], object]) -> int:
    """`action` in a forked child running as OTHER_UID in TEAM_GID: 0 done, 13 refused."""
    pid = os.fork()
    if pid == 0:  # the child: no pytest, no return
        code = 1
        try:
            os.setgroups([TEAM_GID])
            os.setgid(TEAM_GID)
            os.setuid(OTHER_UID)
            action()
            code = 0
        except PermissionError:
            code = 13
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


@pytest.mark.parametrize(
    "group_writable",
    [  # a tiny run each (slow); the inner loop keeps the board-writing test below
        pytest.param(False, id="umask-022", marks=pytest.mark.slow),
        pytest.param(True, id="group-writable", marks=pytest.mark.slow),
    ],
)
def test_every_file_a_run_writes_honours_the_umask(
    group_writable: bool,
    umask_022: None,
    team_folder: Path,
    data_root: Path,
    capsys: pytest.CaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    results = team_folder / "results"
    tiny_run(results, data_root, capsys, monkeypatch, *(["--group-writable"] if group_writable else []))
    found = modes(results)
    stored = {p for p in results.rglob("*") if p.is_file() and "submissions" in p.relative_to(results).parts}
    file_mode, folder_mode = ("f664", "d775") if group_writable else ("f644", "d755")
    assert stored and found.pop("f444") == stored  # the immutable copy: read-only, for the group too
    assert set(found) == {file_mode, folder_mode}, {k: sorted(map(str, v))[:5] for k, v in found.items()}
    written = {p.relative_to(results).as_posix() for p in found[file_mode]}
    for expected in ("b.md", "b.html", "b.csv", "leaderboard-tiny.md", "leaderboard-tiny.html", "queue/queue.lock"):
        assert expected in written, sorted(written)
    kinds = ("runs/tiny/example_loss/", "queue/done/", "queue/names/", "tb/tiny/example_loss/")
    for prefix in kinds:  # the record, the queue entry and its name, the event files
        assert any(path.startswith(prefix) for path in written), (prefix, sorted(written))
    assert any("events.out.tfevents" in path for path in written)
    if not IS_ROOT:
        return  # a second user needs root to become; the mode bits above say what it could do
    (record,) = (p for p in results.rglob("*.json") if "runs" in p.parts)
    assert as_other_user(record.read_bytes) == 0  # a team member reads the records either way
    assert records(results)[0]["status"] == "ok"
    entry = results / "queue" / "pending" / "from-a-colleague.json"
    # a team member adds to the queue only in a group-writable folder
    assert as_other_user(lambda: entry.write_text("{}")) == (0 if group_writable else 13)


@pytest.mark.parametrize("group_writable", [False, True])
def test_the_boards_a_leaderboard_writes_honour_the_umask(
    group_writable: bool,
    umask_022: None,
    team_folder: Path,
    capsys: pytest.CaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The quick check of the same rule: records saved, then `leaderboard` writing its files
    into new folders, with and without --group-writable."""
    from harness.store import save_record
    from tests.unit.report.test_leaderboard_and_store import record

    results = team_folder / "results"
    save_record(results, record("equal", "resnet20", 1, 60.0))
    out = results / "boards" / "new"
    extra = ["--group-writable"] if group_writable else []
    code, _, err = run_main(
        capsys, monkeypatch, "leaderboard", "--preset", "dev", "--results", results, "--out", out / "b.md",
        "--html", out / "b.html", "--csv", out / "b.csv", *extra,
    )  # fmt: skip
    assert code == 0, err
    file_mode, folder_mode = (0o664, 0o775) if group_writable else (0o644, 0o755)
    for name in ("b.md", "b.html", "b.csv"):
        assert stat.S_IMODE((out / name).stat().st_mode) == file_mode, name
    assert stat.S_IMODE(out.stat().st_mode) & 0o777 == folder_mode


@pytest.mark.parametrize("mask, expected", [(0o022, 0o644), (0o002, 0o664)])
def test_a_checkpoint_honours_the_umask(tmp_path: Path, mask: int, expected: int, umask_022: None) -> None:
    """torch.save opens its file like open(): 0666 less the umask."""
    os.umask(mask)
    state = TrainingState(
        epoch=1,
        model={},
        optimizer={},
        scheduler={},
        data_generator=torch.zeros(1),
        torch_rng=torch.zeros(1),
        cuda_rng=[],
        epochs=[],
        combiner=None,
    )
    path = tmp_path / "checkpoints" / "job.pt"
    save_checkpoint(path, state)
    assert stat.S_IMODE(path.stat().st_mode) == expected
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o777 & ~mask


def test_a_slurm_bundle_runs_its_worker_under_the_submitters_umask(
    tmp_path: Path, umask_022: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Slurm gives a job its submitter's umask (SLURM_UMASK); the bundle carries it too, for a
    node where that does not hold."""
    os.umask(0o002)  # --group-writable at submission
    bundle = slurm.Bundle(str(tmp_path), str(tmp_path / "keys"), "cpu", 1, 1)
    os.umask(0o077)  # the compute node's own
    seen: list[int] = []

    class Worker:
        pid = 0

        def __init__(self, command: list[str], **kwargs: object) -> None:
            mask = os.umask(0)
            os.umask(mask)
            seen.append(mask)

        def wait(self, timeout: float | None = None) -> int:
            return 0

    monkeypatch.setattr(slurm.subprocess, "Popen", Worker)
    monkeypatch.setattr(slurm, "stop_group", lambda process: None)
    assert bundle() == 0 and seen == [0o002]


@pytest.mark.parametrize("command", ["submit", "final", "baselines", "leaderboard", "worker", "import-published"])
def test_group_writable_is_documented_on_every_command_that_writes_results(
    command: str, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(SystemExit):
        run_main(capsys, monkeypatch, command, "--help")
    out = " ".join(capsys.readouterr().out.split())
    assert "--group-writable" in out and "umask to 002" in out and "0644" in out


@pytest.mark.parametrize("group_writable", [False, True])
def test_imported_published_rows_honour_the_umask(
    group_writable: bool,
    umask_022: None,
    team_folder: Path,
    capsys: pytest.CaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tests.helpers import FIXTURES

    results = team_folder / "results"
    extra = ["--group-writable"] if group_writable else []
    published = FIXTURES / "mls-bench-cv-multitask-loss.json"
    code, _, err = run_main(capsys, monkeypatch, "import-published", published, "--results", results, *extra)
    assert code == 0, err
    found = modes(results)
    assert set(found) == ({"f664", "d775"} if group_writable else {"f644", "d755"}), found
