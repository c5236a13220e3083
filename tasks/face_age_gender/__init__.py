"""Face tasks: age regression + gender (UTKFace or the competition CSV), and Adience age
groups + gender (five subject-exclusive folds). Both share backbones, pipeline and sampling.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from harness.api import (
    Architecture,
    HarnessError,
    JobSpec,
    MetricDescription,
    Pretraining,
    Task,
    TaskData,
    TaskMetric,
    TrainConfig,
    to_device,
    to_host,
    training_subsets,
)
from harness.api import autocast as bf16_autocast
from tasks.face_age_gender import metrics, synthetic
from tasks.face_age_gender.data import (
    FaceSplit,
    FaceTensorData,
    age_bins,
    scale_age,
    unscale_age,
)
from tasks.face_age_gender.images import decode_all
from tasks.face_age_gender.models import build_face_network, check_stochastic_depth, find_pretrained
from tasks.face_age_gender.options import DATA_COMMANDS, DATASET_OPTION, SHARED_OPTIONS, FaceOptions
from tasks.face_age_gender.readers import (
    ADIENCE_FOLDS,
    FaceSample,
    ReadResult,
    read_adience,
    read_competition_csv,
    read_utkface,
    split_of,
)

GENDER_POS_WEIGHT = 1.1  # BCEWithLogits pos_weight on the positive class (female)
# The RoR paper's (Zhang et al. 2017, Table I) per-age-group loss weights for Adience.
AGE_GROUP_WEIGHTS: dict[str, tuple[float, ...]] = {
    "LW0": (1, 1, 1, 1, 1, 1, 1, 1),
    "LW1": (1, 1, 1, 0.9, 0.8, 0.8, 0.9, 1),
    "LW2": (1, 1, 1, 1.1, 1.2, 1.2, 1.1, 1),
    "LW3": (1, 1, 1, 1.3, 1.5, 1.5, 1.3, 1),
}
ARCHITECTURES = (
    Architecture("resnet18"),
    Architecture("efficientnet_b0"),
    Architecture("convnext_tiny", hidden=True),
    Architecture("ror34"),  # the RoR paper's backbone; run with --archs ror34, not in the presets' lists
)
CACHE_FOLDER = "face-cache"


def _presets(
    dataset: str, smoke_fold: int | None, smoke_train: int
) -> dict[str, tuple[TrainConfig, list[str], list[int]]]:
    """tiny/smoke on synthetic files (Adience: fold 0 only); dev/full/final on real data with
    ImageNet weights (Adience: all five folds): SGD momentum 0.9, weight decay 1e-4, cosine
    annealing, batch 64."""

    def face(size: int, pretrained: bool, fold: int | None) -> dict:
        return FaceOptions(dataset=dataset, image_size=size, pretrained=pretrained, fold=fold).model_dump(mode="json")

    real = dict(batch_size=64, lr=0.01, weight_decay=1e-4, data="real")
    synthetic_cfg = dict(batch_size=32, lr=0.01, weight_decay=1e-4, data="synthetic")
    visible = ["resnet18", "efficientnet_b0"]
    return {
        "tiny": (
            TrainConfig(epochs=1, train_size=128, test_size=64, **synthetic_cfg, options=face(32, False, smoke_fold)),
            ["resnet18"],
            [0],
        ),
        "smoke": (
            TrainConfig(
                epochs=2, train_size=smoke_train, test_size=200, **synthetic_cfg, options=face(48, False, smoke_fold)
            ),
            ["resnet18"],
            [0],
        ),
        "dev": (TrainConfig(epochs=10, **real, options=face(112, True, None)), visible, [42]),
        "full": (TrainConfig(epochs=30, **real, options=face(224, True, None)), visible, [42, 123, 456]),
        "final": (  # deterministic on CUDA: the final evaluation's repeats are identical
            TrainConfig(epochs=30, deterministic=True, **real, options=face(224, True, None)),
            [*visible, "convnext_tiny"],
            [42, 123, 456],
        ),
    }


_CONSTANTS: dict[tuple[tuple[float, ...], torch.device], torch.Tensor] = {}


def _constant(values: tuple[float, ...], device: torch.device) -> torch.Tensor:
    """A float32 loss constant made on `device` once, not copied there every step."""
    key = (tuple(values), device)
    if key not in _CONSTANTS:
        _CONSTANTS[key] = to_device(torch.tensor(values, dtype=torch.float32), torch.empty(0, device=device), "setup")
    return _CONSTANTS[key]


def _to_host_together(tensors: list[torch.Tensor]) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Predictions and targets of a whole pass in one transfer (float64 holds the float32
    values and the labels exactly), back in their own dtypes: (outputs, targets)."""
    flat = to_host(torch.cat([t.double().reshape(-1) for t in tensors]), "evaluation")
    parts = [part.reshape(t.shape).to(t.dtype) for part, t in zip(flat.split([t.numel() for t in tensors]), tensors)]
    return parts[:2], parts[2:]


class _FaceTask(Task):
    architectures = ARCHITECTURES
    loss_names = ("age", "gender")
    age_outputs = 1
    options_model = FaceOptions
    cli_options = SHARED_OPTIONS
    data_commands = DATA_COMMANDS
    supports_subsets = True
    presets: dict[str, tuple[TrainConfig, list[str], list[int]]]

    def preset(self, name: str) -> tuple[TrainConfig, list[str], list[int]]:
        if name not in self.presets:
            raise HarnessError(f"unknown preset {name!r}; choose from {', '.join(self.presets)}")
        config, archs, seeds = self.presets[name]
        return config, list(archs), list(seeds)

    def options(self, config: TrainConfig) -> FaceOptions:
        return FaceOptions.model_validate(config.options)

    def check_job(self, job: JobSpec, data_root: Path) -> None:
        face = self.options(job.config)
        check_stochastic_depth(job.arch, face.stochastic_depth)
        if face.recipe == "gender-first" and job.config.epochs < 2:
            raise HarnessError("--face-recipe gender-first needs at least 2 epochs: gender alone, then both losses")
        if face.pretrained:
            find_pretrained(job.arch)

    def build_model(self, arch: str, config: TrainConfig | None = None) -> nn.Module:
        self.architecture(arch)
        face = self.options(config) if config is not None else None
        pretrained = face is not None and face.pretrained
        return build_face_network(arch, self.age_outputs, pretrained, face is not None and face.stochastic_depth)

    def pretraining(self, config: TrainConfig) -> Pretraining | None:
        """gender-first: the gender loss alone for the first third of the epochs (at least
        one), then the method combines age and gender; the paper fine-tunes on age alone,
        here the method under test keeps gender as the second task."""
        if self.options(config).recipe != "gender-first":
            return None
        return Pretraining(epochs=max(1, config.epochs // 3), losses=(self.loss_names.index("gender"),))

    def data_dir(self, config: TrainConfig, data_root: Path) -> Path:
        raise NotImplementedError

    def read(self, config: TrainConfig, data_root: Path) -> ReadResult:
        raise NotImplementedError

    def prepare_data(self, config: TrainConfig, data_root: Path) -> None:
        result = self.read(config, data_root)
        print(result.summary(f"{self.name} data in {self.data_dir(config, data_root)}"), flush=True)
        if not result.samples:
            raise HarnessError(f"{self.name}: no usable samples in {self.data_dir(config, data_root)}")

    def _split(
        self, samples: list[FaceSample], config: TrainConfig, data_root: Path, device: torch.device
    ) -> FaceSplit:
        face = self.options(config)
        images = decode_all([s.path for s in samples], face.image_size, face.crop, data_root / CACHE_FOLDER)
        gender = torch.tensor([s.gender for s in samples], dtype=torch.float32)
        age_target, bins = self.targets_of(samples)
        return FaceSplit(images, age_target, gender, bins, device)

    def targets_of(self, samples: list[FaceSample]) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def train_test(self, samples: list[FaceSample], config: TrainConfig) -> tuple[list[FaceSample], list[FaceSample]]:
        raise NotImplementedError

    def load_data(self, config: TrainConfig, device: torch.device, data_root: Path) -> TaskData:
        face = self.options(config)
        train, test = self.train_test(self.read(config, data_root).samples, config)
        subsets = training_subsets(len(train), config, [s.subject for s in train])  # a person on one side
        if subsets.evaluation is None:  # the standard protocol: the first test_size test samples
            scored = test[: config.test_size]
        else:  # held out: the test samples are never decoded
            scored = [train[i] for i in subsets.evaluation]
        return FaceTensorData(
            self._split([train[i] for i in subsets.train], config, data_root, device),
            self._split(scored, config, data_root, device),
            config.batch_size,
            config.channels_last,
            face.balanced_sampling,
            face.tta,
            config.eval_batch_size or 256,
        )

    def _gender_loss(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        pos_weight = _constant((GENDER_POS_WEIGHT,), logits.device).reshape(())
        return F.binary_cross_entropy_with_logits(logits.float(), target, pos_weight=pos_weight)

    @torch.inference_mode()
    def predictions(
        self, model: nn.Module, data: TaskData, autocast: bool
    ) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Test outputs (age prediction or group probabilities, gender probability) with the
        flip TTA when on, and the targets; all on the CPU."""
        assert isinstance(data, FaceTensorData)
        tta = data.tta
        model.eval()
        outputs: list[list[torch.Tensor]] = [[], []]
        targets: list[list[torch.Tensor]] = [[], []]
        for images, batch_targets in data.test_batches():
            views = [images, images.flip(3)] if tta else [images]
            per_view = []
            for view in views:
                with bf16_autocast(images.device.type, autocast):
                    age, gender = model(view)
                per_view.append((self.age_prediction(age.float()), torch.sigmoid(gender.float())))
            for index in range(2):
                outputs[index].append(torch.stack([p[index] for p in per_view]).mean(0))
                targets[index].append(batch_targets[index])
        model.train()
        return _to_host_together([torch.cat(o) for o in outputs] + [torch.cat(t) for t in targets])

    def age_prediction(self, output: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


class FaceAgeGender(_FaceTask):
    """Age regression (SmoothL1 on scaled years) + gender (BCEWithLogits, pos_weight 1.1)."""

    name = "face-age-gender"
    column_tag = "face"
    primary_metric = "harmonic"
    primary_label = "harmonic"
    higher_is_better = True
    curve_metrics = ("harmonic", "age_rmse", "gender_f1")
    task_metrics = (
        TaskMetric("age", "age_mae", "age MAE", higher_is_better=False),
        TaskMetric("gender", "gender_acc", "gender acc"),
    )
    metric_descriptions = (
        MetricDescription("harmonic", "harmonic score of age and gender", "0-1"),
        MetricDescription("age_rmse", "age RMSE", "years", higher_is_better=False),
        MetricDescription("age_mae", "age MAE", "years", higher_is_better=False),
        MetricDescription("gender_f1", "gender macro-F1", "0-1"),
        MetricDescription("gender_acc", "gender accuracy", "%"),
    )

    def __init__(self) -> None:
        self.presets = _presets("utkface", smoke_fold=None, smoke_train=512)

    cli_options = (*SHARED_OPTIONS, DATASET_OPTION)

    def data_dir(self, config: TrainConfig, data_root: Path) -> Path:
        csv_layout = self.options(config).dataset == "csv"
        if config.data == "synthetic":
            if csv_layout:
                return synthetic.generate_competition_csv(data_root / "synthetic-face-csv")
            return synthetic.generate_utkface(data_root / "synthetic-utkface")
        if csv_layout:
            return Path(os.environ.get("FACE_CSV_ROOT", data_root / "face-csv"))
        return Path(os.environ.get("UTKFACE_ROOT", data_root / "utkface"))

    def read(self, config: TrainConfig, data_root: Path) -> ReadResult:
        root = self.data_dir(config, data_root)
        return read_competition_csv(root) if self.options(config).dataset == "csv" else read_utkface(root)

    def train_test(self, samples: list[FaceSample], config: TrainConfig) -> tuple[list[FaceSample], list[FaceSample]]:
        train = [s for s in samples if split_of(s.subject) == "train"]
        test = [s for s in samples if split_of(s.subject) == "test"]
        return train, test

    def targets_of(self, samples: list[FaceSample]) -> tuple[torch.Tensor, torch.Tensor]:
        years = torch.tensor([s.age for s in samples], dtype=torch.float32)
        return scale_age(years), age_bins(years)

    def losses(
        self, outputs: tuple[torch.Tensor, ...], targets: tuple[torch.Tensor, ...], config: TrainConfig
    ) -> list[torch.Tensor]:
        age, gender = outputs
        return [F.smooth_l1_loss(age.float(), targets[0]), self._gender_loss(gender, targets[1])]

    def age_prediction(self, output: torch.Tensor) -> torch.Tensor:
        return unscale_age(output)

    def evaluate(self, model: nn.Module, data: TaskData, autocast: bool) -> dict[str, float]:
        (age, gender_prob), (age_target, gender_target) = self.predictions(model, data, autocast)
        years = unscale_age(age_target)
        gender = (gender_prob > 0.5).long()
        truth = gender_target.long()
        age_rmse = metrics.rmse(age, years)
        f1 = metrics.macro_f1(gender, truth)
        return {
            "harmonic": metrics.harmonic_score(age_rmse, f1),
            "age_rmse": age_rmse,
            "age_mae": metrics.mae(age, years),
            "gender_f1": f1,
            "gender_acc": 100.0 * metrics.accuracy(gender, truth),
        }


class AdienceAgeGender(_FaceTask):
    """Adience: 8 age groups (cross-entropy with the RoR paper's optional group weights) +
    gender (BCEWithLogits, pos_weight 1.1); one job per subject-exclusive test fold."""

    name = "face-adience"
    column_tag = "adience"
    primary_metric = "age_exact"
    primary_label = "exact acc"
    higher_is_better = True
    curve_metrics = ("age_exact", "age_1off", "gender_acc")
    task_metrics = (TaskMetric("age", "age_exact", "exact acc"), TaskMetric("gender", "gender_acc", "gender acc"))
    metric_descriptions = (
        MetricDescription("age_exact", "age group exact accuracy", "%"),
        MetricDescription("age_1off", "age group 1-off accuracy", "%"),
        MetricDescription("gender_acc", "gender accuracy", "%"),
    )
    age_outputs = 8

    def __init__(self) -> None:
        self.presets = _presets("adience", smoke_fold=0, smoke_train=384)

    def variants(self, config: TrainConfig) -> list[TrainConfig]:
        if self.options(config).fold is not None:
            return [config]
        return [
            config.model_copy(update={"options": {**config.options, "fold": fold}}) for fold in range(ADIENCE_FOLDS)
        ]

    def variant_label(self, config: TrainConfig) -> str | None:
        fold = self.options(config).fold
        return None if fold is None else f"fold {fold}"

    def data_dir(self, config: TrainConfig, data_root: Path) -> Path:
        if config.data == "synthetic":
            return synthetic.generate_adience(data_root / "synthetic-adience")
        return Path(os.environ.get("ADIENCE_ROOT", data_root / "adience"))

    def read(self, config: TrainConfig, data_root: Path) -> ReadResult:
        return read_adience(self.data_dir(config, data_root))

    def train_test(self, samples: list[FaceSample], config: TrainConfig) -> tuple[list[FaceSample], list[FaceSample]]:
        fold = self.options(config).fold
        assert fold is not None, "an Adience job names its test fold"
        return [s for s in samples if s.fold != fold], [s for s in samples if s.fold == fold]

    def targets_of(self, samples: list[FaceSample]) -> tuple[torch.Tensor, torch.Tensor]:
        groups = torch.tensor([s.age_group for s in samples], dtype=torch.long)
        return groups, groups

    def losses(
        self, outputs: tuple[torch.Tensor, ...], targets: tuple[torch.Tensor, ...], config: TrainConfig
    ) -> list[torch.Tensor]:
        logits, gender = outputs
        weight = _constant(AGE_GROUP_WEIGHTS[self.options(config).age_group_weights], logits.device)
        return [F.cross_entropy(logits.float(), targets[0], weight=weight), self._gender_loss(gender, targets[1])]

    def age_prediction(self, output: torch.Tensor) -> torch.Tensor:
        return torch.softmax(output, dim=1)

    def evaluate(self, model: nn.Module, data: TaskData, autocast: bool) -> dict[str, float]:
        (group_prob, gender_prob), (group_target, gender_target) = self.predictions(model, data, autocast)
        group = group_prob.argmax(1)
        gender = (gender_prob > 0.5).long()
        return {
            "age_exact": 100.0 * metrics.accuracy(group, group_target),
            "age_1off": 100.0 * metrics.one_off_accuracy(group, group_target),
            "gender_acc": 100.0 * metrics.accuracy(gender, gender_target.long()),
        }
