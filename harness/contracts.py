"""Pydantic models at the harness's boundaries: configs, jobs and run records."""
from __future__ import annotations

import hashlib
import json
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

RECORD_SCHEMA_VERSION = 1

MethodKind = Literal["loss_module", "gradient"]
EntryType = Literal["baseline", "submission", "agent", "vanilla", "human"]


AgeGroupWeights = Literal["LW0", "LW1", "LW2", "LW3"]


class FaceOptions(BaseModel):
    """Settings of the face tasks (ignored by the others); part of the job's cache key."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    dataset: Literal["utkface", "csv", "adience"]
    image_size: int = Field(default=64, ge=16, description="letterboxed square side in pixels")
    crop: int | None = Field(default=None, ge=16, description="centre crop after the letterbox")
    pretrained: bool = Field(default=False, description="start from ImageNet weights")
    balanced_sampling: bool = Field(default=True, description="inverse age-bin frequency sampling")
    tta: bool = Field(default=True, description="average original and flipped predictions")
    fold: int | None = Field(default=None, ge=0, le=4, description="Adience test fold; None = all five")
    age_group_weights: AgeGroupWeights = "LW0"


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
    face: FaceOptions | None = None


class JobSpec(BaseModel):
    """One training run: a method trained on one task/architecture/seed under a preset."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    task: str
    arch: str
    seed: int
    preset: str
    config: TrainConfig

    @property
    def fold(self) -> int | None:
        return self.config.face.fold if self.config.face is not None else None

    @property
    def label(self) -> str:
        """How a person names this job: task/arch/seed N[/fold K]."""
        text = f"{self.task}/{self.arch}/seed {self.seed}"
        return text if self.fold is None else f"{text}/fold {self.fold}"


class MethodSpec(BaseModel):
    """What combines the task losses: a submission file or a registered baseline."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    entry_type: EntryType
    kind: MethodKind
    source_path: str
    source_sha256: str


def job_key(method: MethodSpec, job: JobSpec, harness_version: str) -> str:
    """Cache key: hash of the method's source, the job spec and the harness version."""
    payload = json.dumps(
        {
            "source_sha256": method.source_sha256,
            "kind": method.kind,
            "job": job.model_dump(mode="json"),
            "harness": harness_version,
        },
        sort_keys=True,
    )
    return hashlib.sha256(payload.encode()).hexdigest()


class EpochLog(BaseModel):
    """What one epoch of training measured."""

    epoch: int
    lr: float
    train_losses: dict[str, float]
    task_weights: dict[str, float] = Field(description="mean d total / d loss_i over the epoch")
    test_metrics: dict[str, float]
    seconds: float
    images_per_second: float


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


class RunRecord(BaseModel):
    """The immutable result of one job; leaderboards are pure functions of these."""

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
    device_hours: float = Field(default=0.0, description="wall time x devices held (one slot = one device)")
    environment: Environment
