"""The face tasks' own settings, their command-line switches and `runner.py data` commands."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SerializationInfo, SerializerFunctionWrapHandler, model_serializer

from harness.api import DataCommand, TaskOption

AgeGroupWeights = Literal["LW0", "LW1", "LW2", "LW3"]
Recipe = Literal["joint", "gender-first"]
# Fields added after records existed: left out of the stored options at their defaults, so
# every earlier job keeps its cache key (and its records stay found).
LATER_FIELDS: dict[str, object] = {"stochastic_depth": False, "recipe": "joint"}


class FaceOptions(BaseModel):
    """Settings of a face job; stored in `TrainConfig.options`, so part of its cache key."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    dataset: Literal["utkface", "csv", "adience"]
    image_size: int = Field(default=64, ge=16, description="letterboxed square side in pixels")
    crop: int | None = Field(default=None, ge=16, description="centre crop after the letterbox")
    pretrained: bool = Field(default=False, description="start from ImageNet weights")
    balanced_sampling: bool = Field(default=True, description="inverse age-bin frequency sampling")
    tta: bool = Field(default=True, description="average original and flipped predictions")
    fold: int | None = Field(default=None, ge=0, le=4, description="Adience test fold; None = all five")
    age_group_weights: AgeGroupWeights = "LW0"
    stochastic_depth: bool = Field(default=False, description="RoR's stochastic depth (ror34 only)")
    recipe: Recipe = Field(
        default="joint",
        description="joint: both losses, combined by the method, every epoch; gender-first: the RoR paper's "
        "gender pre-training: the first third of the epochs train the gender loss alone, then the method "
        "combines both",
    )

    @model_serializer(mode="wrap")
    def _leave_out_later_defaults(
        self, handler: SerializerFunctionWrapHandler, info: SerializationInfo
    ) -> dict[str, object]:
        data = handler(self)
        return {key: value for key, value in data.items() if LATER_FIELDS.get(key, object()) != value}


SHARED_OPTIONS = (
    TaskOption(
        "--no-pretrained",
        "pretrained",
        "train the face backbones from scratch instead of ImageNet weights",
        value=False,
    ),
    TaskOption(
        "--no-balanced-sampling",
        "balanced_sampling",
        "plain shuffling instead of inverse age-bin frequency sampling",
        value=False,
    ),
    TaskOption("--no-tta", "tta", "evaluate the face tasks without the flip test-time augmentation", value=False),
    TaskOption(
        "--stochastic-depth", "stochastic_depth", "RoR's stochastic depth (linear decay to 0.5; ror34)", value=True
    ),
    TaskOption(
        "--face-recipe",
        "recipe",
        "joint (default): the method combines both losses every epoch; gender-first: the RoR paper's gender "
        "pre-training, the gender loss alone for the first third of the epochs",
        choices=("joint", "gender-first"),
    ),
)
DATASET_OPTION = TaskOption(
    "--face-dataset",
    "dataset",
    "data of face-age-gender in dev/full (default: utkface)",
    choices=("utkface", "csv"),
)


def _synthetic_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--synthetic",
        action="store_true",
        help="write the small synthetic stand-in (same file layout) first, then read it",
    )


def _read_folder(dataset: str) -> DataCommand:
    def run(args: argparse.Namespace, root: Path) -> int:
        from tasks.face_age_gender import readers, synthetic

        generate = {
            "utkface": synthetic.generate_utkface,
            "face-csv": synthetic.generate_competition_csv,
            "adience": synthetic.generate_adience,
        }[dataset]
        read = {
            "utkface": readers.read_utkface,
            "face-csv": readers.read_competition_csv,
            "adience": readers.read_adience,
        }[dataset]
        if args.synthetic:
            generate(root)
            print(f"synthetic {dataset} files written to {root}")
        result = read(root)
        print(result.summary(f"{dataset} in {root}"))
        for item, reason in result.skipped[:20]:
            print(f"  skipped {item}: {reason}")
        if len(result.skipped) > 20:
            print(f"  ... and {len(result.skipped) - 20} more")
        return 0 if result.samples else 2

    return DataCommand(
        dataset,
        f"read a {dataset} folder and report usable and skipped samples (it cannot be downloaded "
        "automatically: see the README's Face task section)",
        run,
        _synthetic_flag,
    )


def _weights_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--archs",
        nargs="+",
        default=["resnet18", "efficientnet_b0", "convnext_tiny", "ror34"],
        help="backbones whose weights to fetch (ror34 loads resnet34's)",
    )


def _fetch_weights(args: argparse.Namespace, root: Path) -> int:
    from tasks.face_age_gender.models import download_weights

    for arch in [a for value in args.archs for a in value.split(",") if a]:
        print(f"{arch}: ImageNet weights in {download_weights(arch)}", flush=True)
    return 0


DATA_COMMANDS = (
    _read_folder("utkface"),
    _read_folder("face-csv"),
    _read_folder("adience"),
    DataCommand(
        "weights",
        "download torchvision's ImageNet weights of the face backbones into torch's cache",
        _fetch_weights,
        _weights_arguments,
    ),
)
