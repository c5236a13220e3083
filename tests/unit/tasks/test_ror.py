"""The RoR paper's system (issue 18): RoR-34's shortcuts, its size derived by hand, a
pre-trained start that is exactly the ResNet-34, stochastic depth by the paper's rule, and
the gender-first recipe."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torchvision
from torch import nn

from harness.api.errors import HarnessError
from harness.api.records import JobSpec, TrainConfig, job_key
from harness.api.task import Pretraining
from harness.methods.resolve import registered_method
from harness.run.jobs import expand_jobs
from harness.run.trainer import train
from tasks.face_age_gender import AdienceAgeGender, models
from tasks.face_age_gender.options import LATER_FIELDS, FaceOptions
from tasks.face_age_gender.ror import GatedIdentity, Projection, RoRBackbone, survival_probabilities

ADIENCE = AdienceAgeGender()


def conv(k: int, c_in: int, c_out: int) -> int:
    return k * k * c_in * c_out  # no bias: every convolution is followed by BN


def bn(c: int) -> int:
    return 2 * c  # scale and shift


def resnet34_trunk() -> int:
    """ResNet-34 without its classifier: a 7x7 stem, then 3, 4, 6, 3 basic blocks of two 3x3
    convolutions at 64, 128, 256, 512 channels; the first block of groups 2-4 halves the
    size and projects its shortcut (1x1 + BN)."""
    total = conv(7, 3, 64) + bn(64)
    c_in = 64
    for c, blocks in ((64, 3), (128, 4), (256, 6), (512, 3)):
        for b in range(blocks):
            total += conv(3, c_in if b == 0 else c, c) + conv(3, c, c) + 2 * bn(c)
            if b == 0 and c_in != c:
                total += conv(1, c_in, c) + bn(c)
        c_in = c
    return total


def ror_added() -> int:
    """The paper's upper levels, type B: group 1's middle-level shortcut keeps the shape (the
    identity; here with its one gate), groups 2-4 project 64->128, 128->256, 256->512; the
    root-level shortcut projects 64->512 over all four groups."""
    middle = 1 + sum(conv(1, a, b) + bn(b) for a, b in ((64, 128), (128, 256), (256, 512)))
    root = conv(1, 64, 512) + bn(512)
    return middle + root


def head(outputs: int) -> int:
    return 512 * 256 + 256 + 256 * outputs + outputs


def test_the_parameter_count_is_the_one_derived_from_the_paper() -> None:
    assert resnet34_trunk() == 21_284_672  # torchvision's resnet34 (21,797,672) less its 1000-class fc
    model = ADIENCE.build_model("ror34")
    assert isinstance(model.backbone, RoRBackbone)
    count = sum(p.numel() for p in model.parameters())
    assert count == resnet34_trunk() + ror_added() + head(8) + head(1)
    backbone = sum(p.numel() for p in model.backbone.parameters())
    plain = torchvision.models.resnet34(weights=None)
    assert backbone - ror_added() == sum(p.numel() for p in plain.parameters()) - (512 * 1000 + 1000)


def test_the_shortcut_structure() -> None:
    backbone = ADIENCE.build_model("ror34").backbone
    assert [len(group) for group in backbone.groups] == [3, 4, 6, 3]  # 16 final-level blocks
    middle = list(backbone.middle)
    assert isinstance(middle[0], GatedIdentity)
    shapes = [(m[0].in_channels, m[0].out_channels, m[0].stride) for m in middle[1:]]
    assert all(isinstance(m, Projection) for m in middle[1:])
    assert shapes == [(64, 128, (2, 2)), (128, 256, (2, 2)), (256, 512, (2, 2))]
    root = backbone.root[0]
    assert (root.in_channels, root.out_channels, root.stride, root.kernel_size) == (64, 512, (8, 8), (1, 1))


@pytest.mark.parametrize("size", [32, 48, 64, 224])
def test_every_junction_lines_up_at_any_image_size(size: int) -> None:
    age, gender = ADIENCE.build_model("ror34")(torch.randn(2, 3, size, size))
    assert age.shape == (2, 8) and gender.shape == (2,)


def _weights_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> torchvision.models.ResNet:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("FACE_PRETRAINED_DIR", str(tmp_path))
    reference = torchvision.models.resnet34(weights=None)
    torch.save(reference.state_dict(), tmp_path / models.weights_file_name("ror34"))
    return reference


def test_imagenet_resnet34_weights_load_and_the_network_starts_as_that_resnet(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reference = _weights_file(tmp_path, monkeypatch)
    assert models.weights_file_name("ror34") == models.weights_file_name("resnet34") == "resnet34-b627a593.pth"
    config = ADIENCE.preset("dev")[0]
    model = ADIENCE.build_model("ror34", config).eval()
    reference.fc = nn.Identity()
    reference.eval()
    images = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(model.backbone(images), reference(images), atol=1e-5)
    # from scratch the upper-level shortcuts are on: a different function of the same blocks
    scratch = ADIENCE.build_model("ror34", ADIENCE.configure(config, {"pretrained": False})).eval()
    scratch.backbone.resnet.load_state_dict(reference.state_dict())
    with torch.no_grad():
        assert not torch.allclose(scratch.backbone(images), reference(images), atol=1e-3)


def test_the_switched_off_shortcuts_still_learn(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _weights_file(tmp_path, monkeypatch)
    model = ADIENCE.build_model("ror34", ADIENCE.preset("dev")[0])
    age, gender = model(torch.randn(4, 3, 32, 32))
    (age.sum() + gender.sum()).backward()
    backbone = model.backbone
    assert backbone.middle[0].gate.grad is not None and backbone.middle[0].gate.grad != 0
    assert backbone.root[1].weight.grad.abs().sum() > 0  # the zeroed BN scale gets a gradient


def test_stochastic_depth_follows_the_linear_decay_rule() -> None:
    survival = survival_probabilities(16)
    assert survival[0] == pytest.approx(1 - 0.5 / 16) and survival[-1] == pytest.approx(0.5)
    assert all(a > b for a, b in zip(survival, survival[1:]))
    config = ADIENCE.configure(ADIENCE.preset("smoke")[0], {"stochastic_depth": True})
    backbone = ADIENCE.build_model("ror34", config).backbone
    assert backbone.survival == survival
    images = torch.randn(2, 3, 32, 32)
    backbone.eval()  # evaluation runs every block, unscaled
    plain = ADIENCE.build_model("ror34", ADIENCE.preset("smoke")[0]).backbone.eval()
    plain.load_state_dict(backbone.state_dict())
    with torch.no_grad():
        assert torch.equal(backbone(images), plain(images))
        backbone.train()
        plain.train()
        torch.manual_seed(0)
        dropped = backbone(images)
        torch.manual_seed(0)
        assert torch.equal(backbone(images), dropped)  # the draws come from the seeded generator
        assert not torch.allclose(dropped, plain(images))


def test_stochastic_depth_runs_on_the_meta_device_without_reading_values() -> None:
    """The drop decision is a tensor, never a Python branch on a device value."""
    config = ADIENCE.configure(ADIENCE.preset("smoke")[0], {"stochastic_depth": True})
    with torch.device("meta"):
        model = ADIENCE.build_model("ror34", config)
    age, gender = model.train()(torch.empty(2, 3, 32, 32, device="meta"))
    assert age.shape == (2, 8) and age.device.type == "meta"


def test_stochastic_depth_is_refused_on_a_backbone_without_it(tmp_path: Path) -> None:
    config = ADIENCE.configure(ADIENCE.preset("smoke")[0], {"stochastic_depth": True})
    job = JobSpec(task=ADIENCE.name, arch="resnet18", seed=0, preset="smoke", config=config, variant="fold 0")
    with pytest.raises(HarnessError, match="stochastic depth.*ror34"):
        ADIENCE.check_job(job, tmp_path)


# -- the paper's recipe: gender pre-training, then the method ------------------------------
def test_gender_first_trains_gender_alone_then_hands_the_method_a_fresh_run(tmp_path: Path) -> None:
    job = expand_jobs(ADIENCE, "tiny", None, None)[0]
    ADIENCE.prepare_data(job.config, tmp_path)
    config = ADIENCE.configure(job.config.model_copy(update={"epochs": 2}), {"recipe": "gender-first"})
    assert ADIENCE.pretraining(config) == Pretraining(epochs=1, losses=(1,))
    assert ADIENCE.pretraining(config.model_copy(update={"epochs": 30})) == Pretraining(epochs=10, losses=(1,))
    combiner = registered_method("dwa", ADIENCE.loss_names).make_combiner(config)
    seen: list[tuple[int, int]] = []
    backward = combiner.backward

    def recording(losses, context):  # type: ignore[no-untyped-def]
        seen.append((context.epoch, context.total_epochs))
        return backward(losses, context)

    combiner.backward = recording  # type: ignore[method-assign]
    outcome = train(ADIENCE, job.arch, job.seed, config, combiner, torch.device("cpu"), tmp_path)
    assert outcome.error is None and len(outcome.epochs) == 2
    assert outcome.epochs[0].task_weights == {"age": 0.0, "gender": 1.0}  # gender alone, the method not asked
    assert set(seen) == {(0, 1)}  # then the method's own one-epoch run, from its epoch 0
    assert outcome.epochs[1].task_weights == {"age": 1.0, "gender": 1.0}  # DWA's first epochs: equal weights
    joint = ADIENCE.configure(job.config.model_copy(update={"epochs": 2}), {})
    plain = train(
        ADIENCE,
        job.arch,
        job.seed,
        joint,
        registered_method("dwa", ADIENCE.loss_names).make_combiner(joint),
        torch.device("cpu"),
        tmp_path,
    )
    assert plain.epochs[0].task_weights == {"age": 1.0, "gender": 1.0}  # joint: the method from the start


def test_the_new_options_leave_every_earlier_job_key_alone() -> None:
    """Defaults of the options added here are not stored, so the jobs of before keep their
    cache keys; a job that sets them gets a key of its own."""
    smoke = ADIENCE.preset("smoke")[0]
    assert "recipe" not in smoke.options and "stochastic_depth" not in smoke.options
    method = registered_method("equal", ADIENCE.loss_names).spec

    def key(config: TrainConfig) -> str:
        return job_key(method, JobSpec(task=ADIENCE.name, arch="resnet18", seed=0, preset="smoke", config=config), "h")

    # the options as harness versions before this one stored them: every field but the new ones
    before = {k: v for k, v in FaceOptions.model_validate(smoke.options).__dict__.items() if k not in LATER_FIELDS}
    assert key(ADIENCE.configure(smoke, {"recipe": "joint", "stochastic_depth": False})) == key(
        smoke.model_copy(update={"options": before})
    )
    changed = ADIENCE.configure(smoke, {"recipe": "gender-first"})
    assert changed.options["recipe"] == "gender-first" and key(changed) != key(smoke)


def test_gender_first_needs_two_epochs(tmp_path: Path) -> None:
    config = ADIENCE.configure(ADIENCE.preset("tiny")[0], {"recipe": "gender-first"})
    job = JobSpec(task=ADIENCE.name, arch="resnet18", seed=0, preset="tiny", config=config, variant="fold 0")
    with pytest.raises(HarnessError, match="at least 2 epochs"):
        ADIENCE.check_job(job, tmp_path)


def test_ror34_with_stochastic_depth_trains_on_the_tiny_adience_set(tmp_path: Path) -> None:
    job = expand_jobs(ADIENCE, "tiny", ["ror34"], None, overrides={"stochastic_depth": True})[0]
    assert job.arch == "ror34" and ADIENCE.options(job.config).stochastic_depth
    ADIENCE.check_job(job, tmp_path)
    ADIENCE.prepare_data(job.config, tmp_path)
    combiner = registered_method("equal", ADIENCE.loss_names).make_combiner(job.config)
    outcome = train(ADIENCE, job.arch, job.seed, job.config, combiner, torch.device("cpu"), tmp_path)
    assert outcome.error is None
    assert 0.0 <= outcome.epochs[0].test_metrics["age_exact"] <= outcome.epochs[0].test_metrics["age_1off"] <= 100


def test_a_task_asking_for_a_stage_that_leaves_the_method_nothing_is_refused(tmp_path: Path) -> None:
    job = expand_jobs(ADIENCE, "tiny", None, None)[0]
    ADIENCE.prepare_data(job.config, tmp_path)

    class AllGender(AdienceAgeGender):
        def pretraining(self, config: TrainConfig) -> Pretraining:
            return Pretraining(epochs=config.epochs, losses=(1,))

    combiner = registered_method("equal", ADIENCE.loss_names).make_combiner(job.config)
    with pytest.raises(HarnessError, match="leaves the method nothing to train"):
        train(AllGender(), job.arch, job.seed, job.config, combiner, torch.device("cpu"), tmp_path)
