"""torchvision backbones (and RoR-34 on ResNet-34's blocks) with an age head and a gender head.

The backbone's classifier is removed and its pooled features feed two MLP heads
(Linear-ReLU-Dropout-Linear): age (1 output, or 8 Adience group logits) and gender (1 logit).
ImageNet weights come from a local file, never from the network during a job; RoR-34
loads ResNet-34's.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.error import URLError

import torch
from torch import nn

from harness.api import DataNotFoundError, HarnessError
from tasks.face_age_gender.ror import RoRBackbone

BACKBONES = ("resnet18", "efficientnet_b0", "convnext_tiny", "ror34")
# RoR-34 is built on ResNet-34: its blocks, and its ImageNet weights
TORCHVISION_ARCH = {"ror34": "resnet34"}
STOCHASTIC_DEPTH = ("ror34",)  # the backbones that implement it
HEAD_HIDDEN = 256
STATE_PREFIXES = ("model.", "module.", "_orig_mod.")


class FaceNetwork(nn.Module):
    def __init__(self, backbone: nn.Module, features: int, age_outputs: int) -> None:
        super().__init__()
        self.backbone = backbone
        self.heads = nn.ModuleList([_head(features, age_outputs), _head(features, 1)])

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.backbone(images)
        age = self.heads[0](features)
        gender = self.heads[1](features).squeeze(1)
        return (age.squeeze(1) if age.shape[1] == 1 else age), gender

    def shared_parameters(self) -> list[nn.Parameter]:
        return list(self.backbone.parameters())

    def task_parameters(self, task_index: int) -> list[nn.Parameter]:
        return list(self.heads[task_index].parameters())


def _head(features: int, outputs: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(features, HEAD_HIDDEN), nn.ReLU(inplace=True), nn.Dropout(0.2), nn.Linear(HEAD_HIDDEN, outputs)
    )


def _vision_models() -> Any:
    """torchvision.models, imported on first use: the import pulls in torch._dynamo (about
    2 s), which processes that only list or plan face jobs never need."""
    import torchvision.models

    return torchvision.models


def _torchvision_model(arch: str) -> nn.Module:
    if arch not in BACKBONES:
        raise KeyError(f"unknown face backbone {arch!r}; known: {', '.join(BACKBONES)}")
    return getattr(_vision_models(), _torchvision_arch(arch))(weights=None)


def _torchvision_arch(arch: str) -> str:
    return TORCHVISION_ARCH.get(arch, arch)


def _imagenet_weights(arch: str) -> Any:
    """torchvision's IMAGENET1K_V1 weights entry of the backbone `arch` is built on."""
    return _vision_models().get_model_weights(_torchvision_arch(arch)).IMAGENET1K_V1


def check_stochastic_depth(arch: str, wanted: bool) -> None:
    """Refuse stochastic depth on a backbone without it (before any job, and when built)."""
    if wanted and arch not in STOCHASTIC_DEPTH:
        raise HarnessError(
            f"stochastic depth is implemented for {', '.join(STOCHASTIC_DEPTH)} only, not {arch}: "
            "drop --stochastic-depth or pass --archs ror34"
        )


def _strip_classifier(arch: str, model: nn.Module, stochastic_depth: bool, pretrained: bool) -> tuple[nn.Module, int]:
    if arch == "ror34":  # the added shortcuts start off on ImageNet weights, on from scratch
        features = model.fc.in_features
        return RoRBackbone(model, stochastic_depth, start_on=not pretrained), features
    if arch == "resnet18":
        features = model.fc.in_features
        model.fc = nn.Identity()
    elif arch == "efficientnet_b0":
        features = model.classifier[1].in_features
        model.classifier = nn.Identity()
    else:  # convnext_tiny: keep its LayerNorm2d + Flatten, drop the Linear
        features = model.classifier[2].in_features
        model.classifier[2] = nn.Identity()
    return model, features


def weights_file_name(arch: str) -> str:
    """The file name torchvision's IMAGENET1K_V1 weights download to."""
    return _imagenet_weights(arch).url.rsplit("/", 1)[-1]


def weights_search_path(arch: str) -> list[Path]:
    name = weights_file_name(arch)
    places = []
    if os.environ.get("FACE_PRETRAINED_DIR"):
        places.append(Path(os.environ["FACE_PRETRAINED_DIR"]) / name)
    places.append(Path(torch.hub.get_dir()) / "checkpoints" / name)
    return places


def find_pretrained(arch: str) -> Path:
    """The local ImageNet weights file of `arch`, or a DataNotFoundError saying how to get it."""
    places = weights_search_path(arch)
    for place in places:
        if place.is_file():
            return place
    url = _imagenet_weights(arch).url
    raise DataNotFoundError(
        f"ImageNet weights for {arch} not found (looked at {', '.join(map(str, places))}). "
        f"Fetch them on a machine with network: `python runner.py data weights --archs {arch}` "
        f"(or download {url} into $FACE_PRETRAINED_DIR), or pass --no-pretrained to train from scratch"
    )


def strip_prefixes(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Remove the key prefixes Lightning (`model.`), DataParallel (`module.`) and
    torch.compile (`_orig_mod.`) add, in any combination."""
    cleaned = {}
    for key, value in state.items():
        changed = True
        while changed:
            changed = False
            for prefix in STATE_PREFIXES:
                if key.startswith(prefix):
                    key, changed = key[len(prefix) :], True
        cleaned[key] = value
    return cleaned


def load_state_file(path: Path) -> dict[str, torch.Tensor]:
    """A state dict from a plain, Lightning (`state_dict` entry) or prefixed checkpoint;
    loaded with weights_only, so a pickle cannot run code."""
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise DataNotFoundError(f"cannot load weights from {path}: {str(exc).splitlines()[0]}") from None
    if isinstance(loaded, dict) and isinstance(loaded.get("state_dict"), dict):
        loaded = loaded["state_dict"]
    if not isinstance(loaded, dict):
        raise DataNotFoundError(f"{path} does not hold a state dict")
    return strip_prefixes(loaded)


def build_face_network(arch: str, age_outputs: int, pretrained: bool, stochastic_depth: bool = False) -> FaceNetwork:
    check_stochastic_depth(arch, stochastic_depth)
    model = _torchvision_model(arch)
    if pretrained:
        path = find_pretrained(arch)
        try:
            model.load_state_dict(load_state_file(path))
        except RuntimeError as exc:
            raise DataNotFoundError(f"{path} does not match {arch}: {str(exc).splitlines()[0]}") from None
    backbone, features = _strip_classifier(arch, model, stochastic_depth, pretrained)
    return FaceNetwork(backbone, features, age_outputs)


def download_weights(arch: str) -> Path:
    """The real download path (torchvision's), for machines with network."""
    url = _imagenet_weights(arch).url
    try:
        _vision_models().get_model(_torchvision_arch(arch), weights="IMAGENET1K_V1")
    except (URLError, OSError) as exc:
        raise DataNotFoundError(
            f"cannot download {url} ({getattr(exc, 'reason', exc)}); on a machine without network, copy "
            f"the file into {weights_search_path(arch)[-1].parent} or $FACE_PRETRAINED_DIR"
        ) from None
    return find_pretrained(arch)
