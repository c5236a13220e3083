"""`--tensorboard DIR`: each run record's per-epoch curves as TensorBoard event files.

One run folder per job, DIR/PRESET/METHOD/TASK-ARCH-seedS[-VARIANT], with the scalars
`train_loss/<task loss>`, `task_weight/<task loss>` (the effective weights the record keeps)
and `test/<metric>`, stepped by epoch. Written from the records, so it is the same for a
run trained here, on other workers or under Slurm, and a record exported twice is written
once (a marker file holds the record's key). Needs the optional `tensorboard` package
(`pip install -e ".[tensorboard]"`).
"""

from __future__ import annotations

from pathlib import Path

from harness.api.errors import HarnessError
from harness.api.records import RunRecord
from harness.store import slug

MARKER = "record-key.txt"


def run_folder(root: Path, record: RunRecord) -> Path:
    job = record.job
    name = f"{job.task}-{job.arch}-seed{job.seed}" + (f"-{slug(job.variant)}" if job.variant else "")
    preset = job.preset if job.protocol.standard else f"{job.preset}-{job.protocol.key}"
    return root / slug(preset) / slug(record.method.name) / name


def export_records(records: list[RunRecord], root: Path) -> int:
    """Write the records not exported yet; the number written."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise HarnessError('--tensorboard needs the tensorboard package: pip install -e ".[tensorboard]"') from None
    written = 0
    for record in records:
        folder = run_folder(root, record)
        marker = folder / MARKER
        if marker.is_file() and marker.read_text().strip() == record.key:
            continue
        if folder.exists():  # an older record of the same run: its curves are replaced
            for old in folder.glob("events.out.tfevents.*"):
                old.unlink()
        writer = SummaryWriter(log_dir=str(folder))
        scored = "val" if record.job.protocol.evaluation == "heldout" else "test"
        try:
            for epoch in record.epochs:
                for name, value in epoch.train_losses.items():
                    writer.add_scalar(f"train_loss/{name}", value, epoch.epoch)
                for name, value in epoch.task_weights.items():
                    writer.add_scalar(f"task_weight/{name}", value, epoch.epoch)
                for name, value in epoch.test_metrics.items():
                    writer.add_scalar(f"{scored}/{name}", value, epoch.epoch)
                writer.add_scalar("lr", epoch.lr, epoch.epoch)
        finally:
            writer.close()
        marker.write_text(record.key + "\n")
        written += 1
    return written
