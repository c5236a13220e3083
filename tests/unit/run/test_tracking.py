"""Live TensorBoard curves (`--tensorboard DIR` on the workers): a job writes each epoch's
scalars while it trains, with its hyper-parameters for the HParams plugin; a resumed job and
the board's later export write no epoch twice; the run's numbers do not change. The event
files are read raw (every scalar event of every file in the folder): TensorBoard's reader
would hide a duplicated step by purging out-of-order events."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from harness.api.records import EpochLog, JobSpec, RunRecord, TrainConfig
from harness.methods.resolve import registered_method
from harness.queue.jobqueue import JobQueue
from harness.queue.local import Execution, worker_command
from harness.queue.slurm import Bundle
from harness.queue.worker import entry_for, slot_main
from harness.report.tensorboard import MARKER, export_records, job_folder, run_folder
from harness.run.jobs import JobInterrupted, PlannedJob, plan, run_job
from harness.run.progress import JobProgress
from harness.store import find_record
from tasks.cifar100_mtl import Cifar100MultiTask

pytest.importorskip("tensorboard")


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """One CPU thread (slot_main sets it too): the machine's cores are shared; then restore."""
    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(saved)


TASK = Cifar100MultiTask()
CPU = torch.device("cpu")
EPOCHS = 3
CONFIG = TrainConfig(epochs=EPOCHS, batch_size=16, data="synthetic", train_size=32, test_size=16)
JOB = JobSpec(task=TASK.name, arch="resnet20", seed=3, preset="tracking-test", config=CONFIG)


def planned_job() -> PlannedJob:
    return plan(registered_method("uncertainty", TASK.loss_names), [JOB], CPU)[0]


def events(folder: Path) -> list:
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

    found = []
    for path in sorted(folder.glob("events.out.tfevents.*")):
        found.extend(EventFileLoader(str(path)).Load())
    return found


def raw_scalars(folder: Path) -> dict[str, list[tuple[int, float]]]:
    """Every scalar event in the folder's event files, by tag, in the order written."""
    scalars: dict[str, list[tuple[int, float]]] = {}
    for event in events(folder):
        for value in event.summary.value:
            if value.metadata.plugin_data.plugin_name == "hparams":
                continue
            number = value.simple_value if value.HasField("simple_value") else value.tensor.float_val[0]
            scalars.setdefault(value.tag, []).append((event.step, number))
    return scalars


def hparams(folder: Path) -> tuple[dict[str, object], list[int]]:
    """The HParams plugin's session start (its hyper-parameters) and session end statuses."""
    from tensorboard.plugins.hparams import plugin_data_pb2

    start: dict[str, object] = {}
    ends: list[int] = []
    for event in events(folder):
        for value in event.summary.value:
            if value.metadata.plugin_data.plugin_name != "hparams":
                continue
            data = plugin_data_pb2.HParamsPluginData.FromString(value.metadata.plugin_data.content)
            if data.HasField("session_start_info"):
                assert not start, "one session start per run folder"
                for name, given in data.session_start_info.hparams.items():
                    start[name] = getattr(given, given.WhichOneof("kind"))
            if data.HasField("session_end_info"):
                ends.append(data.session_end_info.status)
    return start, ends


def numbers(record: RunRecord) -> dict:
    return record.model_dump(
        include={"key", "status", "best_primary", "best_epoch", "final_metrics", "epochs"},
        exclude={"epochs": {"__all__": {"seconds", "images_per_second"}}},
    )


def run(planned: PlannedJob, tmp_path: Path, data_root: Path, tensorboard: Path | None, **kwargs) -> RunRecord:
    progress = JobProgress("t", EPOCHS, io.StringIO())
    return run_job(planned, TASK, CPU, data_root, tmp_path / "results", progress, tensorboard=tensorboard, **kwargs)


def expected_scalars(record: RunRecord) -> dict[str, list[tuple[int, float]]]:
    want: dict[str, list[tuple[int, float]]] = {}
    for log in record.epochs:
        for name, value in log.train_losses.items():
            want.setdefault(f"train_loss/{name}", []).append((log.epoch, value))
        for name, value in log.task_weights.items():
            want.setdefault(f"task_weight/{name}", []).append((log.epoch, value))
        for name, value in log.test_metrics.items():
            want.setdefault(f"test/{name}", []).append((log.epoch, value))
        want.setdefault("lr", []).append((log.epoch, log.lr))
    assert record.best_primary is not None
    want[f"best/{record.primary_metric}"] = [(record.epochs[-1].epoch, record.best_primary)]
    return want


def close(got: dict[str, list[tuple[int, float]]], want: dict[str, list[tuple[int, float]]]) -> bool:
    """Equal tags and steps, values equal as float32 (the event files' precision)."""
    if got.keys() != want.keys():
        return False
    for tag, points in want.items():
        if [step for step, _ in got[tag]] != [step for step, _ in points]:
            return False
        if any(abs(a - b) > 1e-6 * max(1.0, abs(b)) for (_, a), (_, b) in zip(got[tag], points, strict=True)):
            return False
    return True


def test_a_job_writes_its_curves_while_it_trains_with_its_hyperparameters_once(tmp_path: Path, data_root: Path) -> None:
    planned = planned_job()
    board = tmp_path / "tb"
    folder = job_folder(board, planned.method.spec.name, JOB)
    seen: list[int] = []

    def look(log: EpochLog) -> None:  # called after each epoch, before the job ends
        seen.append(len(raw_scalars(folder).get("test/fine_acc", [])))
        assert (folder / MARKER).read_text().split() == [planned.key, "training"]  # not final yet

    record = run(planned, tmp_path, data_root, board, on_epoch=look)
    assert record.status == "ok" and len(record.epochs) == EPOCHS
    assert seen == [1, 2, 3]  # each epoch on disk as soon as it ended
    assert (
        folder == run_folder(board, record) == board / "tracking-test" / "uncertainty" / "cifar100-mtl-resnet20-seed3"
    )
    got = raw_scalars(folder)
    assert close(got, expected_scalars(record))  # each epoch's values, steps 0..E-1 exactly once
    start, ends = hparams(folder)
    assert {
        "method": "uncertainty",
        "task": TASK.name,
        "arch": "resnet20",
        "seed": 3.0,
        "preset": "tracking-test",
        "protocol": "standard",
        "epochs": float(EPOCHS),
        "batch_size": 16.0,
        "lr": CONFIG.lr,
        "optimizer": "sgd",
        "device_type": "cpu",
        "precision": "fp32",
    }.items() <= start.items()
    assert start["method_kind"] == planned.method.spec.kind.value
    assert ends == [1]  # STATUS_SUCCESS, once
    assert (folder / MARKER).read_text().strip() == record.key
    # the board's export afterwards finds the live folder written for this record
    assert export_records([record], board) == 0
    assert raw_scalars(folder) == got and len(list(folder.glob("events.out.tfevents.*"))) == 1
    # and the folder it would write from the record looks the same
    assert export_records([record], tmp_path / "exported") == 1
    exported = run_folder(tmp_path / "exported", record)
    assert raw_scalars(exported) == got
    assert hparams(exported) == (start, ends)


def test_the_numbers_are_the_same_with_and_without_tensorboard(tmp_path: Path, data_root: Path) -> None:
    planned = planned_job()
    without = run(planned, tmp_path / "a", data_root, None)
    with_board = run(planned, tmp_path / "b", data_root, tmp_path / "tb")
    assert numbers(with_board) == numbers(without)
    assert run_folder(tmp_path / "tb", with_board).is_dir() and not (tmp_path / "a" / "tb").exists()


def test_a_resumed_job_writes_each_epoch_once(tmp_path: Path, data_root: Path) -> None:
    """Lost after epoch 2 of 3 (its curves written up to there), the job resumes from its
    checkpoint: the folder then holds epochs 0, 1, 2 once each, the restored ones included."""
    planned = planned_job()
    board = tmp_path / "tb"
    checkpoint = tmp_path / "ck.pt"
    folder = job_folder(board, planned.method.spec.name, JOB)

    def lose_lease(log: EpochLog) -> None:
        if log.epoch == 1:
            raise JobInterrupted("lease lost")

    with pytest.raises(JobInterrupted):
        run(planned, tmp_path, data_root, board, on_epoch=lose_lease, checkpoint=checkpoint)
    assert [step for step, _ in raw_scalars(folder)["test/fine_acc"]] == [0, 1]
    assert (folder / MARKER).read_text().split() == [planned.key, "training"]
    assert export_records([], board) == 0
    resumed_epochs: list[int] = []
    record = run(
        planned,
        tmp_path,
        data_root,
        board,
        checkpoint=checkpoint,
        on_epoch=lambda log: resumed_epochs.append(log.epoch),
    )
    assert resumed_epochs == [2]  # only the last epoch trained again
    assert close(raw_scalars(folder), expected_scalars(record))
    assert hparams(folder)[1] == [1]
    assert export_records([record], board) == 0


def test_an_export_of_an_older_record_meanwhile_is_not_taken_for_the_live_run(tmp_path: Path, data_root: Path) -> None:
    """`leaderboard --tensorboard` exports an older record of the same run (another key) while
    the job trains: the job does not mark the folder, which holds the older curves, as its
    own, and the next export writes its record."""
    planned = planned_job()
    board = tmp_path / "tb"
    older = run(planned, tmp_path / "older", data_root, None).model_copy(update={"key": "0" * 64})

    def export_meanwhile(log: EpochLog) -> None:
        if log.epoch == 1:
            assert export_records([older], board) == 1

    record = run(planned, tmp_path, data_root, board, on_epoch=export_meanwhile)
    folder = run_folder(board, record)
    assert (folder / MARKER).read_text().strip() == older.key
    assert export_records([record], board) == 1
    assert close(raw_scalars(folder), expected_scalars(record))
    assert (folder / MARKER).read_text().strip() == record.key


def test_a_failure_to_write_costs_the_curves_not_the_job(
    tmp_path: Path, data_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A full disk while writing: the job trains on and says so once; its folder stays marked
    unfinished, and the board's export writes it from the record."""
    from harness.run import tracking

    def full_disk(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(tracking, "write_epoch", full_disk)
    planned = planned_job()
    stream = io.StringIO()
    progress = JobProgress("t", EPOCHS, stream)
    record = run_job(planned, TASK, CPU, data_root, tmp_path / "results", progress, tensorboard=tmp_path / "tb")
    assert record.status == "ok" and len(record.epochs) == EPOCHS
    assert stream.getvalue().count("tensorboard: stopped writing") == 1
    assert "No space left on device" in stream.getvalue()
    folder = run_folder(tmp_path / "tb", record)
    assert (folder / MARKER).read_text().split() == [record.key, "training"]
    monkeypatch.undo()
    assert export_records([record], tmp_path / "tb") == 1
    assert close(raw_scalars(folder), expected_scalars(record))


def test_the_workers_take_the_folder_locally_and_under_slurm(tmp_path: Path, data_root: Path) -> None:
    """submit's local workers and Slurm bundles get `--tensorboard DIR` (absolute); a worker
    slot given it writes its jobs' folders live; the folder is not in the queued job."""
    from harness.commands.planning import execution
    from harness.commands.requests import JobsRequest

    how = execution(JobsRequest(command="baselines", results=tmp_path, device="cpu", tensorboard=Path("tb")))
    assert how.tensorboard == Path("tb")
    command = worker_command(how)
    assert command[command.index("--tensorboard") + 1] == str(Path("tb").resolve())
    assert "--tensorboard" not in worker_command(Execution(tmp_path, tmp_path, "cpu"))
    bundle = Bundle("/r", "/k", "cpu", 1, 1, tensorboard="/shared/tb").command()
    assert bundle[bundle.index("--tensorboard") + 1] == "/shared/tb"
    assert "--tensorboard" not in Bundle("/r", "/k", "cpu", 1, 1).command()

    config = CONFIG.model_copy(update={"epochs": 1})
    job = JOB.model_copy(update={"config": config})
    planned = plan(registered_method("equal", TASK.loss_names), [job], CPU)[0]
    queue = JobQueue(tmp_path / "queue")
    entry = entry_for(planned, queue, tmp_path / "results", data_root)
    assert "tb" not in entry.model_dump_json()
    assert queue.enqueue(entry)
    assert (
        slot_main(str(queue.root), "cpu", "cpu#0", 60.0, True, 0.05, threads=1, tensorboard=str(tmp_path / "tb")) == 0
    )
    record = find_record(tmp_path / "results", job.preset, "equal", planned.key)
    assert record is not None and record.status == "ok"
    folder = run_folder(tmp_path / "tb", record)
    assert (folder / MARKER).read_text().strip() == record.key
    assert [step for step, _ in raw_scalars(folder)["test/fine_acc"]] == [0]
