"""Run records on disk: one JSON file per job, written atomically, never edited."""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from harness.api.records import RunRecord

RUNS_FOLDER = "runs"


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "unnamed"


def atomic_write_text(path: Path, text: str) -> None:
    """Write via a temporary file in the same folder and rename: readers never see half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def record_path(results: Path, record: RunRecord) -> Path:
    job = record.job
    variant = "" if job.variant is None else f"-{slug(job.variant)}"
    name = f"{slug(job.task)}-{slug(job.arch)}-seed{job.seed}{variant}-{record.key[:16]}.json"
    return results / RUNS_FOLDER / slug(job.preset) / slug(record.method.name) / name


def save_record(results: Path, record: RunRecord) -> Path:
    path = record_path(results, record)
    atomic_write_text(path, record.model_dump_json(indent=1))
    return path


@dataclass
class LoadedRecords:
    records: list[RunRecord]
    problems: list[str]  # files that could not be read, with the reason


def load_records(results: Path) -> LoadedRecords:
    """Every readable record under `results`; unreadable files are reported, not fatal."""
    loaded = LoadedRecords([], [])
    folder = results / RUNS_FOLDER
    if not folder.is_dir():
        return loaded
    for path in sorted(folder.rglob("*.json")):
        try:
            loaded.records.append(RunRecord.model_validate_json(path.read_bytes()))
        except (ValidationError, ValueError, OSError) as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            loaded.problems.append(f"{path}: {reason}")
    return loaded


def find_record(results: Path, preset: str, method_name: str, key: str) -> RunRecord | None:
    """The stored record with this cache key, if a readable one exists."""
    folder = results / RUNS_FOLDER / slug(preset) / slug(method_name)
    for path in folder.glob(f"*-{key[:16]}.json"):
        try:
            record = RunRecord.model_validate_json(path.read_bytes())
        except (ValidationError, ValueError, OSError):
            continue
        if record.key == key:
            return record
    return None
