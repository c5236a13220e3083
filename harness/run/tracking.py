"""Live TensorBoard curves: a job run with a tensorboard folder (`--tensorboard DIR`, passed
to its worker) writes its run folder while it trains, one flush per epoch, in the layout and
with the scalars and hyper-parameters of the board's export (`harness.report.tensorboard`).

Only the epoch's log is written, the numbers the trainer already brought to the host for it:
no device work, no wait, nothing that could change a run's numbers. The folder is not part of
the job's key. At every start the folder is written afresh from the epochs a checkpoint
restored, so a resumed job holds each epoch once; once the record is saved, the folder's marker
names the record's key and the board's export leaves it as it is. Writing is a convenience:
if it fails (no tensorboard package, a full disk) the job goes on without it and says so once,
and the board's export later writes the folder from the record.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.api.records import EpochLog, JobSpec, MethodSpec, RunRecord
from harness.report.tensorboard import (
    export_records,
    is_in_progress,
    job_folder,
    mark_written,
    open_writer,
    write_epoch,
    write_session_end,
    write_session_start,
)


class LiveBoard:
    """One job's run folder, written while it trains: `start` (after any restore), `epoch`
    after each epoch, `finish` with the saved record, `close` on any way out."""

    def __init__(
        self,
        root: Path,
        method: MethodSpec,
        job: JobSpec,
        key: str,
        device_type: str,
        warn: Callable[[str], None],
    ) -> None:
        self.root, self.method, self.job, self.key = root, method, job, key
        self.device_type = device_type
        self.folder = job_folder(root, method.name, job)
        self.warn = warn
        self.writer: Any = None
        self.failed = False

    def start(self, restored: list[EpochLog]) -> None:
        """Begin the folder afresh (older curves removed) with the epochs restored from a
        checkpoint, if any."""
        if self.failed:
            return

        def begin() -> None:
            self.close()
            self.writer = open_writer(self.folder, self.key)
            write_session_start(self.writer, self.method, self.job, self.device_type)
            for log in restored:
                write_epoch(self.writer, self.job, log)
            self.writer.flush()

        self._guard(begin)

    def epoch(self, log: EpochLog) -> None:
        """One finished epoch, flushed to disk at once."""
        writer = self.writer
        if writer is None:
            return

        def write() -> None:
            write_epoch(writer, self.job, log)
            writer.flush()

        self._guard(write)

    def finish(self, record: RunRecord) -> None:
        """The run's end (its best metric and status), and the marker naming its record. A job
        that never started training is written from its record, as the board's export would."""
        if self.failed:
            return
        writer = self.writer
        if writer is None:
            self._guard(lambda: export_records([record], self.root))
            return

        def end() -> None:
            write_session_end(writer, record)
            self.close()
            if is_in_progress(self.folder, self.key):  # not replaced meanwhile by an export of an older record
                mark_written(self.folder, record.key)

        self._guard(end)

    def close(self) -> None:
        writer, self.writer = self.writer, None
        if writer is not None:
            writer.close()

    def _guard(self, action: Callable[[], object]) -> None:
        try:
            action()
        except Exception as exc:  # the job goes on; the board's export writes the folder later
            self.failed = True
            try:
                self.close()
            except Exception:
                pass
            self.warn(f"tensorboard: stopped writing {self.folder}: {type(exc).__name__}: {exc}")
