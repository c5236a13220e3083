"""Training-state checkpoints: written atomically every epoch, read with
`torch.load(weights_only=True)`, so loading never unpickles arbitrary objects. The loss
class's state (which may come from the untrusted oracle) is stored as a JSON string."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from harness.api.records import EpochLog

FORMAT_VERSION = 3  # 2: the combiner state is encoded by the trainer; 3: the CUDA state of the training device only


@dataclass
class TrainingState:
    epoch: int  # epochs finished
    model: dict
    optimizer: dict
    scheduler: dict
    data_generator: torch.Tensor
    torch_rng: torch.Tensor
    cuda_rng: list[torch.Tensor]  # the training device's CUDA generator state (empty on the CPU)
    epochs: list[EpochLog]
    combiner: object  # the codec's JSON of the combiner's state, or None
    combiner_tensors: dict[str, torch.Tensor] | None = None  # a trusted combiner's large buffers


def save_checkpoint(path: Path, state: TrainingState) -> None:
    payload = {
        "format": FORMAT_VERSION,
        "epoch": state.epoch,
        "model": state.model,
        "optimizer": state.optimizer,
        "scheduler": state.scheduler,
        "data_generator": state.data_generator,
        "torch_rng": state.torch_rng,
        "cuda_rng": state.cuda_rng,
        "epochs": json.dumps([log.model_dump() for log in state.epochs]),
        "combiner": json.dumps(state.combiner),
        "combiner_tensors": dict(state.combiner_tensors or {}),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(payload, tmp)
    with open(tmp, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(tmp, path)


class CheckpointError(Exception):
    """The checkpoint cannot be used (corrupt, foreign or from another format)."""


def load_checkpoint(path: Path) -> TrainingState:
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
        if payload.get("format") != FORMAT_VERSION:
            raise CheckpointError(f"format {payload.get('format')!r}, expected {FORMAT_VERSION}")
        return TrainingState(
            epoch=int(payload["epoch"]),
            model=payload["model"],
            optimizer=payload["optimizer"],
            scheduler=payload["scheduler"],
            data_generator=payload["data_generator"],
            torch_rng=payload["torch_rng"],
            cuda_rng=list(payload["cuda_rng"]),
            epochs=[EpochLog.model_validate(e) for e in json.loads(payload["epochs"])],
            combiner=json.loads(payload["combiner"]),
            combiner_tensors=dict(payload.get("combiner_tensors", {})),
        )
    except CheckpointError:
        raise
    except Exception as exc:  # torch raises many types for a bad file
        raise CheckpointError(f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}") from None
