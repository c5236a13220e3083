"""Run records on disk: one JSON file per job, written atomically, never edited."""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from harness.api.records import RunRecord

RUNS_FOLDER = "runs"


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "unnamed"


def current_umask() -> int:
    """The process's umask, read without changing it (os.umask would, for a moment, in
    every thread)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: Path, data: bytes, mode: int = 0o666) -> None:
    """Write via a temporary file in the same folder and rename: readers never see half.
    The file gets `mode` less the umask (mkstemp's own 0600 would hide it on a shared folder)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fchmod(out.fileno(), mode & ~current_umask())
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def record_path(results: Path, record: RunRecord) -> Path:
    job = record.job
    variant = "" if job.variant is None else f"-{slug(job.variant)}"
    name = f"{slug(job.task)}-{slug(job.arch)}-seed{job.seed}{variant}-{record.key[:16]}.json"
    return results / RUNS_FOLDER / slug(job.preset) / slug(record.method.name) / name


def save_record(results: Path, record: RunRecord) -> Path:
    path = record_path(results, record)
    atomic_write_text(path, record.model_dump_json(indent=1))
    return path


@dataclass(frozen=True)
class UnreadableRecord:
    """A record file that could not be read. Its place in `record_path`'s layout still
    names the preset and the method (as slugs), and its file name the task, architecture
    and seed: the board counts it as a failed run of that method, never as no run, so a
    run that breaks its own record cannot hide (a bad seed left out of the mean)."""

    path: Path
    reason: str
    preset: str  # slug(preset), from the folder; "" where the path is not in the layout
    method: str  # slug(method name), from the folder

    def matches(self, task: str, arch: str) -> bool:
        """Whether the file name is a record of `task` on `arch` (`record_path`'s form)."""
        return self.path.name.startswith(f"{slug(task)}-{slug(arch)}-seed")

    def __str__(self) -> str:
        """One line of printable text: a file name in a shared folder may hold a newline
        or an escape sequence, and this reaches consoles and boards."""
        text = f"{self.path}: {self.reason}"
        return "".join(ch if ch.isprintable() else "?" for ch in text)


@dataclass
class LoadedRecords:
    records: list[RunRecord]
    problems: list[str]  # files that could not be read, with the reason
    unreadable: list[UnreadableRecord] = field(default_factory=list)  # the same files, placed in the layout


def _unreadable(folder: Path, path: Path, exc: Exception) -> UnreadableRecord:
    reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    parts = path.relative_to(folder).parts
    preset, method = (parts[0], parts[1]) if len(parts) == 3 else ("", "")
    return UnreadableRecord(path, reason, preset, method)


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
            problem = _unreadable(folder, path, exc)
            loaded.unreadable.append(problem)
            loaded.problems.append(str(problem))
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
