"""The leaf API: everything a task, a method or a sandbox backend implements or receives.

It imports nothing else from the project, so `tasks/`, `baselines/` and plugins depend on
this package alone (`from harness.api import Task, MethodInfo, Sandbox, ...`). The names
are loaded on first use, so that importing `harness.api.errors` (the CLI does) does not
import torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from harness.api.augment import random_crop_flip, to_model_input
    from harness.api.errors import DataNotFoundError, HarnessError, PluginError, SubmissionError
    from harness.api.method import Combiner, MethodFamily, MethodInfo, StepContext, StepResult
    from harness.api.precision import autocast
    from harness.api.records import (
        RECORD_SCHEMA_VERSION,
        EntryType,
        Environment,
        EpochLog,
        FileFormat,
        JobSpec,
        MethodKind,
        MethodLevel,
        MethodSpec,
        Protocol,
        RunRecord,
        TrainConfig,
        job_key,
    )
    from harness.api.sandbox import (
        SOCKET_NAME,
        LaunchRequest,
        OracleLimits,
        OracleProcess,
        Sandbox,
        apply_rlimits,
        clean_environment,
    )
    from harness.api.seeds import stream_seed
    from harness.api.subsets import Subsets, training_subsets
    from harness.api.task import (
        Architecture,
        Batch,
        DataCommand,
        MetricDescription,
        NoOptions,
        Pretraining,
        Task,
        TaskData,
        TaskMetric,
        TaskOption,
    )
    from harness.api.transfer import to_device, to_host

_MODULES = {
    "augment": ("random_crop_flip", "to_model_input"),
    "errors": ("DataNotFoundError", "HarnessError", "PluginError", "SubmissionError"),
    "method": ("Combiner", "MethodFamily", "MethodInfo", "StepContext", "StepResult"),
    "precision": ("autocast",),
    "records": (
        "RECORD_SCHEMA_VERSION",
        "EntryType",
        "Environment",
        "EpochLog",
        "FileFormat",
        "JobSpec",
        "MethodKind",
        "MethodLevel",
        "MethodSpec",
        "Protocol",
        "RunRecord",
        "TrainConfig",
        "job_key",
    ),
    "sandbox": (
        "SOCKET_NAME",
        "LaunchRequest",
        "OracleLimits",
        "OracleProcess",
        "Sandbox",
        "apply_rlimits",
        "clean_environment",
    ),
    "seeds": ("stream_seed",),
    "subsets": ("Subsets", "training_subsets"),
    "task": (
        "Architecture",
        "Batch",
        "DataCommand",
        "NoOptions",
        "Pretraining",
        "Task",
        "TaskData",
        "TaskMetric",
        "MetricDescription",
        "TaskOption",
    ),
    "transfer": ("to_device", "to_host"),
}
_WHERE = {name: module for module, names in _MODULES.items() for name in names}
__all__ = [
    "RECORD_SCHEMA_VERSION",
    "SOCKET_NAME",
    "Architecture",
    "Batch",
    "Combiner",
    "DataCommand",
    "DataNotFoundError",
    "EntryType",
    "Environment",
    "EpochLog",
    "FileFormat",
    "HarnessError",
    "JobSpec",
    "LaunchRequest",
    "MethodFamily",
    "MethodInfo",
    "MethodKind",
    "MethodLevel",
    "MethodSpec",
    "NoOptions",
    "OracleLimits",
    "OracleProcess",
    "PluginError",
    "Pretraining",
    "Protocol",
    "RunRecord",
    "Sandbox",
    "StepContext",
    "StepResult",
    "SubmissionError",
    "Subsets",
    "Task",
    "TaskData",
    "TaskMetric",
    "MetricDescription",
    "TaskOption",
    "TrainConfig",
    "apply_rlimits",
    "autocast",
    "clean_environment",
    "job_key",
    "random_crop_flip",
    "stream_seed",
    "to_device",
    "training_subsets",
    "to_host",
    "to_model_input",
]
assert sorted(__all__) == sorted(_WHERE)


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'harness.api' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"harness.api.{module}"), name)
    globals()[name] = value
    return value
