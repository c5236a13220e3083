"""Turn a submission file into a `MultiTaskLoss` class, with clear errors.

This loader imports the file in the current process: inside the sandboxed oracle for a
submission, in the trainer's process only for the harness's own (trusted) baseline files.
It is part of the guest package, so it imports nothing from the harness: its errors are
`SubmissionFault`, which the host side turns into `SubmissionError`.
"""

from __future__ import annotations

import ast
import hashlib
import inspect
import math
import sys
import traceback
import types
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn


class SubmissionFault(Exception):
    """The submission cannot be used: a one-line message and the submission's traceback."""

    def __init__(self, message: str, details: str = "") -> None:
        super().__init__(message)
        self.details = details


CLASS_NAME = "MultiTaskLoss"
FORWARD_ARGS = ("epoch", "total_epochs")
# A submission is a few KB; parsing costs memory (about 600 bytes per byte of source in the
# host), so a bigger file is refused before anything parses or decodes it. The front doors
# (`submit`, `final`, `validate`) refuse a file over their limit: MAX_SOURCE_BYTES unless
# --max-file-size or $MTL_BENCH_MAX_SUBMISSION_BYTES says otherwise, never more than
# SOURCE_BYTES_CEILING. What they accepted is stored under its hash; every later reader (the
# worker, the oracle's host side, the guest here) reads at most the ceiling, so a file the
# front door accepted is never refused later, and no reader holds more than the ceiling.
MAX_SOURCE_BYTES = 1024 * 1024
SOURCE_BYTES_CEILING = 4 * 1024 * 1024
# What Python's parser raises beyond SyntaxError on hostile input: null bytes (ValueError),
# deep nesting (RecursionError, or MemoryError from the parser's own stack), huge numbers.
PARSE_ERRORS = (SyntaxError, ValueError, RecursionError, MemoryError, OverflowError)


@dataclass(frozen=True)
class LoadedSubmission:
    path: Path
    source: str
    sha256: str
    loss_class: type[nn.Module]


def read_source(path: Path, limit: int | None = SOURCE_BYTES_CEILING) -> tuple[str, str]:
    """The file's text and its sha256, or a SubmissionFault saying why it can't be read.
    At most `limit` bytes are read (None: a trusted file, only hashed): the size is checked
    before any parse, here and in the oracle alike. The default is the ceiling: the stored
    copy of a file the front door accepted under its own limit (commands/requests.py)."""
    if not path.exists():
        raise SubmissionFault(f"submission file not found: {path}")
    if not path.is_file():
        raise SubmissionFault(f"submission path is not a file: {path}")
    size = path.stat().st_size
    if limit is not None and size > limit:
        raise SubmissionFault(_too_large(path, size, limit))
    with path.open("rb") as handle:
        raw = handle.read() if limit is None else handle.read(limit + 1)  # the file may grow meanwhile
    if limit is not None and len(raw) > limit:
        raise SubmissionFault(_too_large(path, len(raw), limit))
    try:
        source = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SubmissionFault(f"{path} is not UTF-8 text: {exc}") from None
    return source, hashlib.sha256(raw).hexdigest()


def _too_large(path: Path, size: int, limit: int) -> str:
    return too_large_message(path.name, size, limit)


def size_text(size: int) -> str:
    """`1 MiB`, `512 KiB`, `1,000 bytes`: a size as a person writes it."""
    for unit, factor in (("MiB", 1024 * 1024), ("KiB", 1024)):
        if size >= factor and size % factor == 0:
            return f"{size // factor:,} {unit}"
    return f"{size:,} bytes"


def too_large_message(name: str, size: int, limit: int) -> str:
    """The one line for a file over `limit` (below the ceiling, with how to raise it)."""
    message = f"{name} has {size:,} bytes, more than the {size_text(limit)} a submission file may have"
    if limit < SOURCE_BYTES_CEILING:
        message += (
            f" (--max-file-size or $MTL_BENCH_MAX_SUBMISSION_BYTES raise it, up to {size_text(SOURCE_BYTES_CEILING)})"
        )
    return message


def submission_traceback(exc: BaseException, path: Path) -> str:
    """The traceback lines that point into the submission file, plus the exception line."""
    frames = [
        frame
        for frame in traceback.extract_tb(exc.__traceback__)
        if Path(frame.filename).name == path.name or frame.filename == str(path)
    ]
    lines = traceback.format_list(frames) + traceback.format_exception_only(type(exc), exc)
    return "".join(lines).rstrip()


def _describe(exc: BaseException, path: Path) -> str:
    """`Type: first line of message (file line N)`, N the last line run in the submission."""
    text = str(exc).strip().splitlines()
    described = f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
    lines = [
        frame.lineno for frame in traceback.extract_tb(exc.__traceback__) if Path(frame.filename).name == path.name
    ]
    return f"{described} ({path.name} line {lines[-1]})" if lines else described


def _parse_fault(path: Path, exc: BaseException) -> SubmissionFault:
    """One line for any of PARSE_ERRORS: a syntax error where it is one, else the nesting or
    the size that Python's parser could not take."""
    if not isinstance(exc, (SyntaxError, ValueError)):
        return SubmissionFault(
            f"{path.name} cannot be parsed: it nests too deeply or an expression is too large "
            f"for Python's parser ({type(exc).__name__})"
        )
    line = getattr(exc, "lineno", None)
    where = f" line {line}" if line else ""
    message = " ".join(str(getattr(exc, "msg", exc)).split())
    return SubmissionFault(
        f"syntax error in {path.name}{where}: {message}",
        "".join(traceback.format_exception_only(type(exc), exc)).rstrip(),
    )


def check_syntax(path: Path, source: str) -> types.CodeType:
    """Compile without running anything; whatever the parser raises becomes a SubmissionFault."""
    try:
        return compile(source, str(path), "exec")
    except PARSE_ERRORS as exc:
        raise _parse_fault(path, exc) from None


def parse_tree(path: Path, source: str) -> ast.Module:
    """The file's syntax tree (no code runs), or the SubmissionFault `check_syntax` raises."""
    try:
        return ast.parse(source, str(path))
    except PARSE_ERRORS as exc:
        raise _parse_fault(path, exc) from None


def _import_module(path: Path, source: str, sha256: str) -> types.ModuleType:
    code = check_syntax(path, source)
    module = types.ModuleType(f"mtl_submission_{sha256[:16]}")
    module.__file__ = str(path)
    sys.modules[module.__name__] = module
    try:
        exec(code, module.__dict__)
    except BaseException as exc:  # untrusted code may raise anything, SystemExit included
        if isinstance(exc, KeyboardInterrupt):
            raise
        raise SubmissionFault(
            f"{path.name} raised {_describe(exc, path)} while being imported",
            submission_traceback(exc, path),
        ) from None
    return module


def _check_signature(loss_class: type[nn.Module], path: Path, loss_names: tuple[str, ...]) -> None:
    expected = ", ".join((*[f"{name}_loss" for name in loss_names], *FORWARD_ARGS))
    try:
        signature = inspect.signature(loss_class.forward)
    except (TypeError, ValueError):
        return
    try:
        signature.bind(None, *range(len(loss_names) + len(FORWARD_ARGS)))
    except TypeError:
        raise SubmissionFault(
            f"{path.name}: {CLASS_NAME}.forward{signature} cannot be called as "
            f"forward({expected}); it must take these {len(loss_names) + 2} positional arguments"
        ) from None


def check_output(total: object, epoch: int) -> torch.Tensor:
    """Raise a SubmissionFault unless `total` is a finite scalar tensor with a gradient."""
    if not isinstance(total, torch.Tensor):
        raise SubmissionFault(
            f"forward returned {type(total).__name__} at epoch {epoch}; expected a scalar torch.Tensor"
        )
    if total.numel() != 1:
        raise SubmissionFault(
            f"forward returned a tensor of shape {tuple(total.shape)} at epoch {epoch}; expected a scalar"
        )
    if not total.requires_grad:
        raise SubmissionFault(
            f"forward's output at epoch {epoch} has no gradient: it does not depend on the task losses"
        )
    value = float(total.detach())
    if not math.isfinite(value):
        raise SubmissionFault(f"forward returned {value} at epoch {epoch}; expected a finite value")
    return total.reshape(())


def load_submission(path: Path, loss_names: tuple[str, ...]) -> LoadedSubmission:
    """Load, check and probe a submission; every problem becomes a SubmissionFault."""
    path = Path(path)
    source, sha256 = read_source(path)
    module = _import_module(path, source, sha256)
    loss_class = getattr(module, CLASS_NAME, None)
    if loss_class is None:
        raise SubmissionFault(f"{path.name} defines no class named {CLASS_NAME}")
    if not (isinstance(loss_class, type) and issubclass(loss_class, nn.Module)):
        raise SubmissionFault(f"{path.name}: {CLASS_NAME} must be a subclass of torch.nn.Module")
    _check_signature(loss_class, path, loss_names)
    probe(loss_class, path, len(loss_names))
    return LoadedSubmission(path, source, sha256, loss_class)


def instantiate(loss_class: type[nn.Module], path: Path) -> nn.Module:
    try:
        return loss_class()
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt):
            raise
        raise SubmissionFault(
            f"{CLASS_NAME}() raised {_describe(exc, path)}", submission_traceback(exc, path)
        ) from None


def call_forward(
    module: nn.Module, path: Path, losses: list[torch.Tensor], epoch: int, total_epochs: int
) -> torch.Tensor:
    """Call forward positionally and check what it returned."""
    try:
        total = module(*losses, epoch, total_epochs)
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt):
            raise
        raise SubmissionFault(
            f"{CLASS_NAME}.forward raised {_describe(exc, path)} at epoch {epoch}",
            submission_traceback(exc, path),
        ) from None
    return check_output(total, epoch)


def probe(loss_class: type[nn.Module], path: Path, task_count: int) -> None:
    """Call a fresh instance on typical values at the first and last epoch."""
    module = instantiate(loss_class, path)
    for epoch, values in ((0, [4.6, 3.0]), (9, [1.2, 0.8])):
        leaves = [torch.tensor(values[i % 2], requires_grad=True) for i in range(task_count)]
        total = call_forward(module, path, leaves, epoch, 10)
        try:
            total.backward()
        except RuntimeError as exc:
            raise SubmissionFault(f"backward through forward's output failed: {exc}") from None
