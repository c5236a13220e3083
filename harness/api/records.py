"""Pydantic models at the harness's boundaries: configs, jobs and run records."""

from __future__ import annotations

import hashlib
import json
import math
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from harness.api.precision import precision_name

RECORD_SCHEMA_VERSION = 1

MethodLevel = Literal["loss", "gradient"]  # what a method combines: the task losses, or their gradients
# the format of a file in the submission format, as the oracle's guest names it
# (harness/oracle/guest/gradient.py's Format: the guest imports nothing of the harness)
FileFormat = Literal["loss", "gradient", "gram"]


class MethodKind(StrEnum):
    """What a method is, as its spec and records name it. The values are part of every
    job's cache key and of the records on disk: never change one."""

    LOSS_MODULE = "loss_module"  # a MultiTaskLoss file: a submission, or a registered loss file
    GRADIENT_MODULE = "gradient_module"  # a GradientCombiner file (per-task gradients in)
    GRAM_MODULE = "gram_module"  # a GramCombiner file (their Gram matrix in)
    GRADIENT_COMBINER = "gradient"  # a trusted gradient-level combiner (a registered Combiner)
    LOSS_COMBINER = "loss_combiner"  # a trusted loss-level combiner (a registered Combiner: rlw, famo)

    @property
    def level(self) -> MethodLevel:
        """Whether the method combines the task losses or their gradients."""
        return "loss" if self in (MethodKind.LOSS_MODULE, MethodKind.LOSS_COMBINER) else "gradient"

    @property
    def file_format(self) -> FileFormat | None:
        """The submission format of a file of this kind (the guest's Format); None for a
        trusted combiner, which is code of a registered module, not a file in that format."""
        return _FILE_FORMATS.get(self)

    @property
    def is_file(self) -> bool:
        """Whether the method is a file in the submission format (sandboxed unless registered)."""
        return self in _FILE_FORMATS

    @classmethod
    def of_file(cls, file_format: FileFormat) -> MethodKind:
        """The kind of a file in this submission format."""
        for kind, value in _FILE_FORMATS.items():
            if value == file_format:
                return kind
        raise ValueError(f"no file format {file_format!r}; the formats: {', '.join(_FILE_FORMATS.values())}")

    @classmethod
    def of_combiner(cls, level: MethodLevel) -> MethodKind:
        """The kind of a trusted combiner of this level."""
        return cls.LOSS_COMBINER if level == "loss" else cls.GRADIENT_COMBINER


_FILE_FORMATS: dict[MethodKind, FileFormat] = {
    MethodKind.LOSS_MODULE: "loss",
    MethodKind.GRADIENT_MODULE: "gradient",
    MethodKind.GRAM_MODULE: "gram",
}
EntryType = Literal["baseline", "submission", "agent", "vanilla", "human"]


class TrainConfig(BaseModel):
    """The training protocol of one job: every field changes the job's cache key."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    epochs: int = Field(ge=1)
    batch_size: int = Field(default=128, ge=1)
    lr: float = Field(default=0.1, gt=0)
    momentum: float = Field(default=0.9, ge=0)
    weight_decay: float = Field(default=5e-4, ge=0)
    data: Literal["synthetic", "real"] = "real"
    train_size: int | None = Field(default=None, ge=1, description="first N training images")
    test_size: int | None = Field(default=None, ge=1, description="first N test images")
    channels_last: bool = True
    amp: bool = Field(default=True, description="bf16 autocast on CUDA; ignored on CPU")
    compile: bool = Field(default=False, description="torch.compile the shared trunk")
    deterministic: bool = Field(
        default=False,
        description="CUDA: deterministic algorithms (torch.use_deterministic_algorithms, cuBLAS's workspace "
        "setting, inductor's deterministic mode); the CPU computes deterministically already",
    )
    fused_sgd: bool = Field(default=False, description="SGD as one fused kernel over all parameters")
    train_fraction: float = Field(
        default=1.0, gt=0, le=1, description="train on this seeded share of the training images (screening)"
    )
    heldout_fraction: float = Field(
        default=0.0,
        ge=0,
        lt=1,
        description="score on this fixed, seeded share of the training set instead of the test split",
    )
    eval_batch_size: int | None = Field(default=None, ge=1, description="test batch size; None: the task's default")
    reuse_task_gradients: bool = Field(
        default=False,
        description="Nash-MTL applies alpha . G from the task gradients it has, not a second backward pass",
    )
    options: dict[str, Any] = Field(
        default_factory=dict, description="the task's own settings, validated by its options model"
    )

    @model_validator(mode="before")
    @classmethod
    def _read_old_records(cls, data: Any) -> Any:
        """Records of harness 0.1 kept the face tasks' settings under `face`."""
        if isinstance(data, dict) and "face" in data:
            face = data["face"] or {}
            data = {key: value for key, value in data.items() if key != "face"}
            data["options"] = {**dict(data.get("options") or {}), **dict(face)}
        return data

    def __hash__(self) -> int:  # `options` is a dict: hash the canonical JSON (sorted keys) instead
        return hash(json.dumps(self.model_dump(mode="json"), sort_keys=True))


HELDOUT_FRACTION = 0.1  # the validation split of `--protocol heldout`: a tenth of the training set


class Protocol(BaseModel):
    """How a job departs from its preset's protocol. Screening (fewer epochs, a share of the
    training set) gives numbers that are not comparable to the published table; `heldout`
    scores a fixed validation split carved out of the training set, so that an agent
    iterating on a loss never sees test accuracy. The default is the preset's own protocol;
    boards never mix jobs of different protocols."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    epochs: int | None = Field(default=None, ge=1, description="the screening run's epochs (None: the preset's)")
    train_fraction: float | None = Field(default=None, gt=0, le=1, description="share of the training set")
    evaluation: Literal["test", "heldout"] = "test"

    @property
    def standard(self) -> bool:
        return self == Protocol()

    @property
    def screening(self) -> bool:
        return self.epochs is not None or self.train_fraction is not None

    @property
    def key(self) -> str:
        """A short stable name: `standard`, or e.g. `epochs=5,train-fraction=0.25,heldout`."""
        parts = [f"epochs={self.epochs}"] if self.epochs is not None else []
        parts += [f"train-fraction={self.train_fraction!r}"] if self.train_fraction is not None else []
        parts += ["heldout"] if self.evaluation == "heldout" else []
        return ",".join(parts) or "standard"

    def apply(self, config: TrainConfig) -> TrainConfig:
        """The preset's config under this protocol."""
        changes: dict[str, Any] = {}
        if self.epochs is not None:
            changes["epochs"] = self.epochs
        if self.train_fraction is not None:
            changes["train_fraction"] = self.train_fraction
        if self.evaluation == "heldout":
            changes["heldout_fraction"] = HELDOUT_FRACTION
        return config.model_copy(update=changes) if changes else config


class JobSpec(BaseModel):
    """One training run: a method trained on one task/architecture/seed under a preset."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    task: str
    arch: str
    seed: int
    preset: str
    config: TrainConfig
    variant: str | None = Field(default=None, description="the task's variant, e.g. 'fold 2'")
    protocol: Protocol = Field(default_factory=Protocol, description="screening and held-out evaluation, if any")

    @model_validator(mode="before")
    @classmethod
    def _read_old_records(cls, data: Any) -> Any:
        """Records of harness 0.1 named a job's Adience fold only inside its face settings."""
        if isinstance(data, dict) and "variant" not in data:
            old = dict(data.get("config") or {}) if isinstance(data.get("config"), dict) else {}
            fold = dict(old.get("face") or {}).get("fold")
            if fold is not None:
                data = {**data, "variant": f"fold {fold}"}
        return data

    def __hash__(self) -> int:
        return hash(json.dumps(self.model_dump(mode="json"), sort_keys=True))

    @property
    def label(self) -> str:
        """How a person names this job: task/arch/seed N[/variant]."""
        text = f"{self.task}/{self.arch}/seed {self.seed}"
        return text if self.variant is None else f"{text}/{self.variant}"


class MethodSpec(BaseModel):
    """What combines the task losses: a submission file or a registered baseline."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    entry_type: EntryType
    kind: MethodKind
    source_path: str
    source_sha256: str
    # a control's role, for the board (never in the cache key, which the source hash makes
    # unique): the task losses a single-task control trains (its other heads are not
    # scored), and a fixed-weight frontier point's weights (summing to the task count)
    trains: tuple[str, ...] | None = None
    loss_weights: tuple[float, ...] | None = None


def job_key(method: MethodSpec, job: JobSpec, harness_version: str, device_type: str = "cpu") -> str:
    """Cache key: hash of the method's source, the job spec, the harness version, the device
    type the job runs on (cpu or cuda) and its precision (bf16 autocast on CUDA with `amp`,
    else fp32): a CPU record never stands in for a GPU job, nor the other way round."""
    payload = json.dumps(
        {
            "source_sha256": method.source_sha256,
            "kind": method.kind.value,
            "job": _job_for_key(job),
            "harness": harness_version,
            "device_type": device_type,
            "precision": precision_name(job.config.amp, device_type),
        },
        sort_keys=True,
    )
    return hashlib.sha256(payload.encode()).hexdigest()


def _job_for_key(job: JobSpec) -> dict[str, Any]:
    """The job as the key hashes it: the protocol's fields (and `deterministic`) are left out
    where they have their default values, so the jobs of the standard protocol keep the keys
    (and cached records) they had before these fields existed."""
    data = job.model_dump(mode="json")
    if job.protocol.standard:
        del data["protocol"]
    defaults = TrainConfig.model_fields
    for name in ("train_fraction", "heldout_fraction", "deterministic"):
        if data["config"][name] == defaults[name].default:
            del data["config"][name]
    return data


# JSON has no NaN or infinity: pydantic writes them as null by default, which a float field
# then refuses, so a record with a diverged metric could not be read back (and vanished
# from the board). Records write them as the strings "NaN", "Infinity", "-Infinity", which
# read back as floats.
RECORD_JSON = ConfigDict(ser_json_inf_nan="strings")


def _nulls_as_nan(values: Any) -> Any:
    """A metric dict as records written before RECORD_JSON stored it: null read as NaN."""
    if isinstance(values, dict):
        return {key: math.nan if value is None else value for key, value in values.items()}
    return values


class EpochLog(BaseModel):
    """What one epoch of training measured."""

    model_config = RECORD_JSON

    epoch: int
    lr: float
    train_losses: dict[str, float]
    task_weights: dict[str, float] = Field(description="mean d total / d loss_i over the epoch")
    test_metrics: dict[str, float]
    seconds: float
    images_per_second: float

    @field_validator("train_losses", "task_weights", "test_metrics", mode="before")
    @classmethod
    def _read_nulls(cls, values: Any) -> Any:
        return _nulls_as_nan(values)


class Environment(BaseModel):
    python: str
    torch: str
    torchvision: str
    harness: str
    device: str
    device_name: str
    sandbox: str
    sandbox_limits: dict[str, float | str] | None = None
    git_commit: str = "unknown"
    slots_per_device: int = Field(default=1, ge=1, description="jobs the worker ran at once on this device")
    threads: int | None = Field(default=None, description="torch's intra-op CPU threads in the job's process")
    cuda: str | None = Field(default=None, description="the CUDA version torch was built with (CUDA jobs)")
    cuda_driver: str | None = Field(default=None, description="the NVIDIA driver's version (CUDA jobs)")

    def label(self) -> str:
        """What the numbers of a run depend on beyond its spec: the device model and the
        software that computed them (a cell that mixes these says so)."""
        parts = [self.device_name, f"torch {self.torch}"]
        parts += [f"CUDA {self.cuda}"] if self.cuda else []
        parts += [f"driver {self.cuda_driver}"] if self.cuda_driver else []
        return ", ".join(parts)


class CompileStats(BaseModel):
    """What torch.compile did in a job with `compile` on (the part of it this process ran)."""

    frames: int = Field(description="frames dynamo was asked to compile")
    frames_compiled: int = Field(description="of them, compiled")
    graphs: int = Field(description="graphs compiled (one per batch shape and mode)")
    graph_breaks: int
    recompile_limit_hits: int = Field(description="codes dynamo gave up on: they then run eagerly")
    compiled_throughout: bool = Field(
        description="every frame compiled, no graph break, no limit hit: the job ran compiled as its config says"
    )


class RunRecord(BaseModel):
    """The immutable result of one job; leaderboards are pure functions of these."""

    model_config = RECORD_JSON

    schema_version: int = RECORD_SCHEMA_VERSION
    key: str
    method: MethodSpec
    job: JobSpec
    status: Literal["ok", "failed"]
    error: str | None = None
    error_details: str | None = None
    epochs: list[EpochLog] = Field(default_factory=list)
    primary_metric: str
    best_primary: float | None = None
    best_epoch: int | None = None
    final_metrics: dict[str, float] = Field(default_factory=dict)
    started_at: str
    finished_at: str
    wall_seconds: float
    device_hours: float = Field(
        default=0.0, description="wall time / the slots sharing the device (environment.slots_per_device)"
    )
    environment: Environment
    compile_stats: CompileStats | None = Field(
        default=None, description="with `compile`: whether the job ran compiled throughout (None: compile off)"
    )

    @field_validator("final_metrics", mode="before")
    @classmethod
    def _read_nulls(cls, values: Any) -> Any:
        return _nulls_as_nan(values)
