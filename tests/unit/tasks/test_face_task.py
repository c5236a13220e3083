"""Face metrics, losses, models and weights, TTA, folds, and training end to end."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import torchvision
from torch import nn

from harness.api.errors import DataNotFoundError, HarnessError
from harness.methods.resolve import registered_method
from harness.run.jobs import expand_jobs
from harness.run.trainer import train
from tasks.face_age_gender import AdienceAgeGender, FaceAgeGender, metrics, models
from tasks.face_age_gender.data import FaceSplit, FaceTensorData, scale_age
from tasks.face_age_gender.options import FaceOptions

FACE, ADIENCE = FaceAgeGender(), AdienceAgeGender()


def test_harmonic_score_reproduces_the_writeup() -> None:
    assert round(metrics.harmonic_score(8.12, 0.940), 3) == 0.821
    assert metrics.harmonic_score(45.0, 0.9) == 0.0  # RMSE capped at 30: a = 0
    assert metrics.harmonic_score(0.0, 1.0) == 1.0


def test_classification_metrics_on_hand_computed_values() -> None:
    predicted, target = torch.tensor([1, 1, 0, 0, 0]), torch.tensor([1, 0, 0, 0, 1])
    # class 1: tp 1, fp 1, fn 1 -> 0.5; class 0: tp 2, fp 1, fn 1 -> 4/6
    assert metrics.macro_f1(predicted, target) == pytest.approx((0.5 + 4 / 6) / 2)
    assert metrics.accuracy(predicted, target) == pytest.approx(0.6)
    assert metrics.one_off_accuracy(torch.tensor([0, 2, 5, 7]), torch.tensor([1, 2, 3, 7])) == 0.75
    assert metrics.rmse(torch.tensor([1.0, 5.0]), torch.tensor([4.0, 1.0])) == pytest.approx(math.sqrt(12.5))
    assert metrics.mae(torch.tensor([1.0, 5.0]), torch.tensor([4.0, 1.0])) == pytest.approx(3.5)


def test_face_losses_are_smooth_l1_and_weighted_bce() -> None:
    config = FACE.preset("tiny")[0]
    age_out, gender_logit = torch.tensor([0.0, 0.0]), torch.tensor([0.0, 0.0])
    targets = (torch.tensor([2.0, 0.5]), torch.tensor([1.0, 0.0]))
    age_loss, gender_loss = FACE.losses((age_out, gender_logit), targets, config)
    assert age_loss.item() == pytest.approx((1.5 + 0.125) / 2)  # |2|-0.5 and 0.5*0.5^2
    assert gender_loss.item() == pytest.approx((1.1 * math.log(2) + math.log(2)) / 2)


def test_adience_loss_uses_the_papers_group_weights() -> None:
    base = ADIENCE.preset("tiny")[0]
    config = base.model_copy(update={"options": {**base.options, "age_group_weights": "LW3"}})
    logits = torch.zeros(2, 8)
    targets = (torch.tensor([0, 4]), torch.tensor([1.0, 0.0]))
    age_loss, _ = ADIENCE.losses((logits, torch.zeros(2)), targets, config)
    # uniform logits: each CE is log 8; weights 1 and 1.5 -> weighted mean is log 8
    assert age_loss.item() == pytest.approx(math.log(8))
    logits[1, 4] = 2.0
    age_loss, _ = ADIENCE.losses((logits, torch.zeros(2)), targets, config)
    ce = torch.nn.functional.cross_entropy(logits, targets[0], reduction="none")
    assert age_loss.item() == pytest.approx(float((ce[0] * 1 + ce[1] * 1.5) / 2.5))


@pytest.mark.parametrize("arch", ["resnet18", "efficientnet_b0", "convnext_tiny"])
def test_backbones_give_one_output_per_task(arch: str) -> None:
    model = FACE.build_model(arch)
    age, gender = model(torch.randn(2, 3, 32, 32))
    assert age.shape == (2,) and gender.shape == (2,)
    adience_age, _ = ADIENCE.build_model(arch)(torch.randn(2, 3, 32, 32))
    assert adience_age.shape == (2, 8)
    shared = {id(p) for p in model.shared_parameters()}
    heads = [{id(p) for p in model.task_parameters(i)} for i in range(2)]
    assert not shared & heads[0] and not heads[0] & heads[1]
    assert shared | heads[0] | heads[1] == {id(p) for p in model.parameters()}


def test_state_dict_prefixes_are_stripped_and_lightning_files_load(tmp_path: Path) -> None:
    source = nn.Linear(3, 2)
    state = {f"model._orig_mod.module.{k}": v for k, v in source.state_dict().items()}
    torch.save({"state_dict": state, "epoch": 3}, tmp_path / "lightning.ckpt")
    target = nn.Linear(3, 2)
    target.load_state_dict(models.load_state_file(tmp_path / "lightning.ckpt"))
    assert torch.equal(target.weight, source.weight)
    assert set(models.strip_prefixes({"module.fc.weight": 1, "fc.bias": 2})) == {"fc.weight", "fc.bias"}


def test_missing_imagenet_weights_say_how_to_get_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("FACE_PRETRAINED_DIR", str(tmp_path / "weights"))
    with pytest.raises(DataNotFoundError) as caught:
        models.find_pretrained("resnet18")
    message = str(caught.value)
    assert "--no-pretrained" in message and "data weights" in message and "resnet18-f37072fd.pth" in message


def test_local_imagenet_weights_are_loaded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("FACE_PRETRAINED_DIR", str(tmp_path))
    reference = torchvision.models.resnet18(weights=None)
    torch.save(reference.state_dict(), tmp_path / models.weights_file_name("resnet18"))
    config = FACE.preset("dev")[0]
    assert FACE.options(config).pretrained
    model = FACE.build_model("resnet18", config)
    assert torch.equal(model.backbone.conv1.weight, reference.conv1.weight)
    scratch = FACE.build_model("resnet18", FACE.configure(config, {"pretrained": False}))
    assert not torch.equal(scratch.backbone.conv1.weight, reference.conv1.weight)


class _LeftRight(nn.Module):
    """Age output = mean of the left half, gender logit = mean of the right half."""

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        half = images.shape[3] // 2
        return images[..., :half].mean((1, 2, 3)), images[..., half:].mean((1, 2, 3))


def _toy_data(tta: bool) -> FaceTensorData:
    images = torch.zeros(4, 3, 8, 8, dtype=torch.uint8)
    images[:, :, :, :4] = 255  # bright left half
    split = FaceSplit(
        images,
        scale_age(torch.full((4,), 30.0)),
        torch.tensor([1, 0, 1, 0]),
        torch.zeros(4, dtype=torch.long),
        torch.device("cpu"),
    )
    return FaceTensorData(split, split, 2, False, balanced_sampling=False, tta=tta)


def test_tta_averages_the_original_and_the_flipped_view() -> None:
    (age_plain, gender_plain), _ = FACE.predictions(_LeftRight(), _toy_data(tta=False), False)
    (age_tta, gender_tta), _ = FACE.predictions(_LeftRight(), _toy_data(tta=True), False)
    data = _toy_data(False)
    left = data.finish(data.test.images)[..., :4].mean().item()
    right = data.finish(data.test.images)[..., 4:].mean().item()
    assert age_plain[0].item() == pytest.approx(35 + 10 * left, rel=1e-5)
    assert age_tta[0].item() == pytest.approx(35 + 10 * (left + right) / 2, rel=1e-5)
    expected = (torch.sigmoid(torch.tensor(right)) + torch.sigmoid(torch.tensor(left))) / 2
    assert gender_tta[0].item() == pytest.approx(expected.item(), rel=1e-5)
    assert gender_plain[0].item() == pytest.approx(torch.sigmoid(torch.tensor(right)).item(), rel=1e-5)


def test_adience_expands_to_one_job_per_fold_and_options_apply() -> None:
    jobs = expand_jobs(ADIENCE, "dev", ["resnet18"], [42])
    assert [ADIENCE.options(job.config).fold for job in jobs] == [0, 1, 2, 3, 4]
    assert [job.variant for job in jobs] == [f"fold {k}" for k in range(5)]
    assert jobs[3].label == "face-adience/resnet18/seed 42/fold 3"
    assert [job.variant for job in expand_jobs(ADIENCE, "smoke", None, None)] == ["fold 0"]
    overrides = {"pretrained": False, "balanced_sampling": False, "tta": False, "dataset": "csv"}
    face_job = expand_jobs(FACE, "dev", ["resnet18"], [1], overrides=overrides)[0]
    assert face_job.variant is None
    assert FACE.options(face_job.config) == FaceOptions(
        dataset="csv", image_size=112, pretrained=False, balanced_sampling=False, tta=False
    )
    with pytest.raises(HarnessError, match="bad option"):
        expand_jobs(FACE, "dev", ["resnet18"], [1], overrides={"dataset": "nope"})
    with pytest.raises(HarnessError, match="hidden"):
        expand_jobs(FACE, "dev", ["convnext_tiny"], None)


def _train_tiny(task: FaceAgeGender | AdienceAgeGender, data_root: Path, method: str = "equal"):
    job = expand_jobs(task, "tiny", None, None)[0]
    task.prepare_data(job.config, data_root)
    combiner = registered_method(method, task.loss_names).make_combiner(job.config)
    return train(task, job.arch, job.seed, job.config, combiner, torch.device("cpu"), data_root)


def test_face_task_trains_deterministically(tmp_path: Path) -> None:
    first = _train_tiny(FACE, tmp_path)
    second = _train_tiny(FACE, tmp_path)
    assert first.error is None and len(first.epochs) == 1
    metrics_seen = first.epochs[0].test_metrics
    assert set(metrics_seen) == {"harmonic", "age_rmse", "age_mae", "gender_f1", "gender_acc"}
    assert 0.0 <= metrics_seen["harmonic"] <= 1.0 and metrics_seen["age_rmse"] > 0
    assert [e.test_metrics for e in first.epochs] == [e.test_metrics for e in second.epochs]
    assert [e.train_losses for e in first.epochs] == [e.train_losses for e in second.epochs]


def test_adience_task_trains_with_a_gradient_combiner(tmp_path: Path) -> None:
    outcome = _train_tiny(ADIENCE, tmp_path, "pcgrad")
    assert outcome.error is None
    assert {"age_exact", "age_1off", "gender_acc", "conflict_fraction"} <= set(outcome.epochs[0].test_metrics)
    exact, one_off = outcome.epochs[0].test_metrics["age_exact"], outcome.epochs[0].test_metrics["age_1off"]
    assert 0.0 <= exact <= one_off <= 100.0


@pytest.mark.slow  # smoke-preset trainings; quick: test_numbers_unchanged.py's face job
def test_smoke_face_data_is_learnable(tmp_path: Path) -> None:
    """Two smoke epochs of equal weighting must beat chance on both face tasks."""
    job = expand_jobs(FACE, "smoke", None, None)[0]
    FACE.prepare_data(job.config, tmp_path)
    config = job.config.model_copy(update={"train_size": 384})
    outcome = train(
        FACE,
        job.arch,
        job.seed,
        config,
        registered_method("equal", FACE.loss_names).make_combiner(config),
        torch.device("cpu"),
        tmp_path,
    )
    final = outcome.epochs[-1].test_metrics
    assert final["gender_acc"] > 80.0 and final["age_rmse"] < 25.0, final
