"""Errors that reach the user as one readable line, never as a traceback."""

from __future__ import annotations


class HarnessError(Exception):
    """Bad input or a missing resource: the CLI prints the message and exits non-zero."""

    exit_code = 2


class SubmissionError(HarnessError):
    """The submission file cannot be used (it fails to load, or misbehaves when called)."""

    def __init__(self, message: str, details: str = "") -> None:
        super().__init__(message)
        self.details = details


class DataNotFoundError(HarnessError):
    """A data set is not where the harness expects it."""


class PluginError(HarnessError):
    """A registered task, method or sandbox cannot be used (unknown, broken or mistyped)."""


class InfrastructureError(HarnessError):
    """The machine failed the job (out of memory, a CUDA or driver fault, a lost worker), not
    the method: the job is retried and never blamed on the submission."""

    def __init__(self, message: str, details: str = "") -> None:
        super().__init__(message)
        self.details = details
