"""`--tensorboard DIR`: each run's per-epoch curves and hyper-parameters as TensorBoard event files.

One run folder per job, DIR/PRESET/METHOD/TASK-ARCH-seedS[-VARIANT], with the scalars
`train_loss/<task loss>`, `task_weight/<task loss>` (the effective weights the record keeps),
`test/<metric>` (`val/<metric>` under held-out evaluation) and `lr`, stepped by epoch, then
`best/<primary metric>`; and the job's hyper-parameters for the HParams plugin (a session
start with the method, task, architecture, seed, preset, protocol and training settings, a
session end with the run's status; the plugin reads the metrics from the scalars). A job
trained with `--tensorboard` writes its folder live, epoch by epoch (`harness.run.tracking`,
with the functions here), and the board's export writes the same folder from the records, so
it is the same for a run trained here, on other workers or under Slurm. A marker file holds
the key of the record a folder was written for: a record exported twice, or written live and
exported later, is written once. Needs the optional `tensorboard` package
(`pip install -e ".[tensorboard]"`).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from harness.api.errors import HarnessError
from harness.api.precision import precision_name
from harness.api.records import EpochLog, JobSpec, MethodSpec, RunRecord
from harness.store import slug

MARKER = "record-key.txt"
IN_PROGRESS = "training"  # the marker's second word while a job writes its folder live
MISSING = '--tensorboard needs the tensorboard package: pip install -e ".[tensorboard]"'


def job_folder(root: Path, method_name: str, job: JobSpec) -> Path:
    """DIR/PRESET[-PROTOCOL]/METHOD/TASK-ARCH-seedS[-VARIANT]."""
    name = f"{job.task}-{job.arch}-seed{job.seed}" + (f"-{slug(job.variant)}" if job.variant else "")
    preset = job.preset if job.protocol.standard else f"{job.preset}-{job.protocol.key}"
    return root / slug(preset) / slug(method_name) / name


def run_folder(root: Path, record: RunRecord) -> Path:
    return job_folder(root, record.method.name, record.job)


def is_written(folder: Path, key: str) -> bool:
    """Whether `folder` holds the finished curves of the record with `key`."""
    marker = folder / MARKER
    return marker.is_file() and marker.read_text().strip() == key


def is_in_progress(folder: Path, key: str) -> bool:
    """Whether `folder` is being written live for the record with `key` (nothing replaced it since)."""
    marker = folder / MARKER
    return marker.is_file() and marker.read_text().split() == [key, IN_PROGRESS]


def open_writer(folder: Path, key: str) -> Any:
    """A SummaryWriter on `folder`, emptied of older event files (an older record of the
    same run, or an earlier, interrupted attempt of this one), marked as in progress."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise HarnessError(MISSING) from None
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("events.out.tfevents.*"):
        old.unlink()
    (folder / MARKER).write_text(f"{key} {IN_PROGRESS}\n")
    return SummaryWriter(log_dir=str(folder))


def mark_written(folder: Path, key: str) -> None:
    (folder / MARKER).write_text(key + "\n")


def write_epoch(writer: Any, job: JobSpec, log: EpochLog) -> None:
    """One epoch's scalars, stepped by its epoch number."""
    scored = "val" if job.protocol.evaluation == "heldout" else "test"
    for name, value in log.train_losses.items():
        writer.add_scalar(f"train_loss/{name}", value, log.epoch)
    for name, value in log.task_weights.items():
        writer.add_scalar(f"task_weight/{name}", value, log.epoch)
    for name, value in log.test_metrics.items():
        writer.add_scalar(f"{scored}/{name}", value, log.epoch)
    writer.add_scalar("lr", log.lr, log.epoch)


def hyperparameters(method: MethodSpec, job: JobSpec, device_type: str) -> dict[str, str | float | bool]:
    """What the HParams plugin shows of a job: the method, the job and its training settings."""
    config = job.config
    values: dict[str, str | float | bool | None] = {
        "method": method.name,
        "method_kind": method.kind.value,
        "entry_type": method.entry_type,
        "task": job.task,
        "arch": job.arch,
        "seed": job.seed,
        "variant": job.variant,
        "preset": job.preset,
        "protocol": job.protocol.key,
        "epochs": config.epochs,
        "batch_size": config.batch_size,
        "lr": config.lr,
        "optimizer": "sgd-fused" if config.fused_sgd else "sgd",
        "momentum": config.momentum,
        "weight_decay": config.weight_decay,
        "data": config.data,
        "train_size": config.train_size,
        "test_size": config.test_size,
        "train_fraction": config.train_fraction,
        "heldout_fraction": config.heldout_fraction,
        "eval_batch_size": config.eval_batch_size,
        "channels_last": config.channels_last,
        "compile": config.compile,
        "device_type": device_type,
        "precision": precision_name(config.amp, device_type),
    }
    for name, value in sorted(config.options.items()):
        plain = isinstance(value, str | int | float | bool)
        values[f"option/{name}"] = value if plain else json.dumps(value, sort_keys=True, default=str)
    return {name: value for name, value in values.items() if value is not None}


def _hparams_summary(tag: str, data: Any) -> Any:
    from tensorboard.compat.proto.summary_pb2 import Summary
    from tensorboard.plugins.hparams import metadata

    return Summary(value=[Summary.Value(tag=tag, metadata=metadata.create_summary_metadata(data))])


def write_session_start(writer: Any, method: MethodSpec, job: JobSpec, device_type: str) -> None:
    """The HParams plugin's session start: the job's hyper-parameters, in the run's own folder
    (SummaryWriter.add_hparams would write a subfolder, and an experiment per run)."""
    from tensorboard.plugins.hparams import metadata, plugin_data_pb2

    start = plugin_data_pb2.SessionStartInfo(start_time_secs=time.time())
    for name, value in hyperparameters(method, job, device_type).items():
        if isinstance(value, bool):
            start.hparams[name].bool_value = value
        elif isinstance(value, int | float):
            start.hparams[name].number_value = value
        else:
            start.hparams[name].string_value = value
    data = plugin_data_pb2.HParamsPluginData(session_start_info=start)
    writer.file_writer.add_summary(_hparams_summary(metadata.SESSION_START_INFO_TAG, data))


def write_session_end(writer: Any, record: RunRecord) -> None:
    """The run's best primary metric as a scalar and the plugin's session end (its status)."""
    from tensorboard.plugins.hparams import api_pb2, metadata, plugin_data_pb2

    if record.best_primary is not None and record.epochs:
        writer.add_scalar(f"best/{record.primary_metric}", record.best_primary, record.epochs[-1].epoch)
    status = api_pb2.STATUS_SUCCESS if record.status == "ok" else api_pb2.STATUS_FAILURE
    end = plugin_data_pb2.SessionEndInfo(status=status, end_time_secs=time.time())
    data = plugin_data_pb2.HParamsPluginData(session_end_info=end)
    writer.file_writer.add_summary(_hparams_summary(metadata.SESSION_END_INFO_TAG, data))


def device_type_of(record: RunRecord) -> str:
    return record.environment.device.partition(":")[0]


def export_records(records: list[RunRecord], root: Path) -> int:
    """Write the records not written yet (exported before, or live while they trained); the
    number written."""
    written = 0
    for record in records:
        folder = run_folder(root, record)
        if is_written(folder, record.key):
            continue
        writer = open_writer(folder, record.key)
        try:
            write_session_start(writer, record.method, record.job, device_type_of(record))
            for epoch in record.epochs:
                write_epoch(writer, record.job, epoch)
            write_session_end(writer, record)
        finally:
            writer.close()
        mark_written(folder, record.key)
        written += 1
    return written
