from pathlib import Path

import pytest

from harness.contracts import Environment, EpochLog, JobSpec, MethodSpec, RunRecord, TrainConfig
from harness.leaderboard import build_table, column_name, render_markdown
from harness.store import find_record, load_records, save_record
from tasks import task_registry

TASKS = task_registry()
CONFIG = TrainConfig(epochs=2)


def record(method: str, arch: str, seed: int, value: float | None, entry_type: str = "baseline",
           preset: str = "dev", finished: str = "2026-01-01T00:00:00") -> RunRecord:
    status = "ok" if value is not None else "failed"
    epochs = [] if value is None else [
        EpochLog(epoch=0, lr=0.1, train_losses={}, task_weights={}, test_metrics={"fine_acc": value},
                 seconds=1.0, images_per_second=1.0)
    ]
    return RunRecord(
        key=f"{method}{arch}{seed}{preset}".ljust(64, "0"),
        method=MethodSpec(name=method, entry_type=entry_type, kind="loss_module", source_path="x.py",
                          source_sha256="0" * 64),
        job=JobSpec(task="cifar100-mtl", arch=arch, seed=seed, preset=preset, config=CONFIG),
        status=status, error=None if value is not None else "boom", epochs=epochs,
        primary_metric="fine_acc", best_primary=value, started_at=finished, finished_at=finished,
        wall_seconds=1.0,
        environment=Environment(python="3", torch="t", torchvision="v", harness="h", device="cpu",
                                device_name="cpu", sandbox="in-process"),
    )


def test_table_shape_mean_std_failed_and_order() -> None:
    records = [
        record("mine", "resnet20", 1, 60.0, "agent"),
        record("mine", "resnet20", 2, 62.0, "agent"),
        record("mine", "resnet56", 1, None, "agent"),
        record("dwa", "resnet20", 1, 67.96),
        record("dwa", "resnet56", 1, 72.39),
        record("dwa", "vgg16bn", 1, 73.78),  # hidden: not shown
        record("other", "resnet20", 1, 50.0, preset="smoke"),
    ]
    table = build_table(records, TASKS, "dev")
    r20, r56 = column_name(TASKS["cifar100-mtl"], "resnet20"), column_name(TASKS["cifar100-mtl"], "resnet56")
    assert list(table.columns) == ["method", "type", r20, r56]
    assert r20 == "test acc resnet20-cifar100mt ↑"
    assert table["method"].tolist() == ["dwa", "mine"]
    mine = table.set_index("method").loc["mine"]
    assert mine[r20] == "61.00 ± 1.41" and mine[r56] == "failed"
    assert table.set_index("method").loc["dwa", r20] == "67.960"
    assert "vgg16bn" not in " ".join(build_table(records, TASKS, "dev").columns)
    assert "vgg16bn" in " ".join(build_table(records, TASKS, "dev", include_hidden=True).columns)


def test_latest_record_of_a_run_wins() -> None:
    records = [
        record("mine", "resnet20", 1, 10.0, finished="2026-01-01T00:00:00"),
        record("mine", "resnet20", 1, 20.0, finished="2026-02-01T00:00:00"),
    ]
    table = build_table(records, TASKS, "dev")
    assert table.iloc[0, 2] == "20.000"


def test_markdown_document_has_table_and_notes() -> None:
    text = render_markdown([record("dwa", "resnet20", 1, 67.96)], TASKS, "dev")
    assert "| dwa " in text and "test acc resnet20-cifar100mt ↑" in text
    assert "Seeds per cell: 1" in text
    assert "No run records" in render_markdown([], TASKS, "dev")


def test_records_round_trip_and_garbage_is_reported(tmp_path: Path) -> None:
    saved = record("dwa", "resnet20", 1, 67.96)
    path = save_record(tmp_path, saved)
    assert path.is_file() and not list(path.parent.glob("*.tmp"))
    assert find_record(tmp_path, "dev", "dwa", saved.key) == saved
    assert find_record(tmp_path, "dev", "dwa", "f" * 64) is None
    (path.parent / "broken.json").write_text('{"key": "trunc')
    (path.parent / "other.json").write_text("[]")
    loaded = load_records(tmp_path)
    assert loaded.records == [saved]
    assert len(loaded.problems) == 2 and any("broken.json" in p for p in loaded.problems)
