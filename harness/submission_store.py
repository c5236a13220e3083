"""One immutable copy of each submission, stored under its content's hash.

`submit` reads the file's bytes once, hashes them and stores them at
`<queue>/submissions/<sha256>/<file name>`; the sandboxed check and every job run that
copy, never the user's file again. A file swapped after the check therefore never runs
under the first file's hash, and two different files of the same name never share a
copy (their hashes differ). A stored copy is verified against its hash whenever it is
used: one changed in place (by anything with write access to the results folder) is
refused, and a fresh copy is written only from bytes that hash right.
"""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from harness.api.errors import SubmissionError
from harness.oracle.guest.loader import too_large_message
from harness.store import atomic_write_bytes

FOLDER = "submissions"


@dataclass(frozen=True)
class StoredSubmission:
    path: Path  # the stored copy
    sha256: str


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_bounded(path: Path, limit: int, follow: bool = True) -> bytes:
    """The file's bytes, or a SubmissionError if it is missing, not a regular file or over
    `limit` bytes (read no further than that: a huge file, or /dev/zero, never fills the
    host's memory). Without `follow`, a symbolic link is refused too (a stored copy is never
    one: a link planted in its place could point anywhere)."""
    flags = os.O_RDONLY | (0 if follow else os.O_NOFOLLOW)
    try:
        descriptor = os.open(path, flags)
    except FileNotFoundError:
        raise SubmissionError(f"submission file not found: {path}") from None
    except OSError as exc:
        raise SubmissionError(f"submission file {path} cannot be read: {exc.strerror}") from None
    status = os.fstat(descriptor)
    if not stat.S_ISREG(status.st_mode):  # before fdopen, which refuses a folder
        os.close(descriptor)
        raise SubmissionError(f"submission path is not a file: {path}")
    if status.st_size > limit:  # refused unread
        os.close(descriptor)
        raise SubmissionError(too_large_message(path.name, status.st_size, limit))
    with os.fdopen(descriptor, "rb") as handle:
        data = handle.read(limit + 1)  # the file may have grown meanwhile
        size = max(len(data), os.fstat(handle.fileno()).st_size)
    if len(data) > limit:
        raise SubmissionError(too_large_message(path.name, size, limit))
    return data


def store_submission(path: Path, root: Path, limit: int) -> StoredSubmission:
    """Read `path` once and keep its bytes under their hash in `root` (read-only)."""
    return keep(read_bounded(path, limit), path.name, root)


def keep(data: bytes, name: str, root: Path) -> StoredSubmission:
    """`data` stored as `root/submissions/<sha256>/<name>`, unless an intact copy is there."""
    stored = StoredSubmission(root / FOLDER / sha256_of(data) / name, sha256_of(data))
    _write_verified(stored, data, len(data))
    return stored


def verified_copy(path: Path, sha256: str, limit: int) -> bytes:
    """The bytes of the stored copy at `path` (a regular file, not a link, at most `limit`
    bytes), if they still hash to `sha256`; else a SubmissionError."""
    data = read_bounded(path, limit, follow=False)
    if sha256_of(data) != sha256:
        raise SubmissionError(
            f"the stored copy of {path.name} changed after it was checked (sha256 {sha256_of(data)[:12]}, "
            f"recorded {sha256[:12]}): it is not run"
        )
    return data


def _write_verified(stored: StoredSubmission, data: bytes, limit: int) -> None:
    """Write the copy unless an intact one is there (one that was changed is replaced)."""
    if stored.path.exists() or stored.path.is_symlink():
        try:
            verified_copy(stored.path, stored.sha256, limit)
            return
        except SubmissionError:
            pass
    atomic_write_bytes(stored.path, data, mode=0o444)
