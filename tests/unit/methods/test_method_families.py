"""The method families (issue 31): the single-task controls `single:LOSS` and the fixed-weight
frontier `fixed-weights:FRACTIONS`, built per task from its losses; what they train, their
cache keys, their names (reserved for them) and the worker's path back from a queued spec."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
import torch
from torch import nn

from harness import registry
from harness.api import MethodFamily, MethodInfo
from harness.api.errors import HarnessError, PluginError
from harness.api.method import StepContext, StepResult
from harness.api.records import JobSpec, TrainConfig
from harness.api.sandbox import OracleLimits
from harness.methods.resolve import method_from_spec, registered_method, submission_method
from harness.oracle.backends.process import ProcessSandbox
from harness.queue.jobqueue import JobQueue
from harness.queue.worker import entry_for, run_one
from harness.registry import Reference, Registry
from harness.run.jobs import plan
from harness.store import find_record
from tests.helpers import REPO
from tests.unit.run.sync_trap import trapped_windows
from tests.unit.run.test_sync_budget import assert_step_budget

CIFAR = registry.tasks.get("cifar100-mtl").loss_names
FACE = registry.tasks.get("face-age-gender").loss_names
PLUGIN = REPO / "examples" / "plugin-task"
EXAMPLE = REPO / "submissions" / "example_loss.py"
CONFIG = TrainConfig(epochs=1)
CONTEXT = StepContext(0, 1, 0.1)


def names(family: str, loss_names: tuple[str, ...]) -> list[str]:
    return list(registry.members(family, loss_names))


def three_head_losses(monkeypatch: pytest.MonkeyPatch) -> tuple[str, ...]:
    """The example plugin's task (three heads), imported from its folder."""
    monkeypatch.syspath_prepend(str(PLUGIN))
    from mtl_bench_three_heads.task import ThreeHeads

    losses = ThreeHeads().loss_names
    assert len(losses) == 3
    return losses


# --- the members --------------------------------------------------------------------------


def test_each_task_gets_one_control_per_loss() -> None:
    assert names("single", CIFAR) == ["single:fine", "single:coarse"]
    assert names("single", FACE) == ["single:age", "single:gender"]
    fine = registry.method_for("single:fine", CIFAR)
    assert fine.trains == ("fine",) and fine.loss_weights is None and fine.level == "loss"
    assert registry.method_for("single:fine", CIFAR) is fine  # built once per family and losses


def test_the_three_head_plugin_task_gets_three_controls_and_nine_frontier_points(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    losses = three_head_losses(monkeypatch)
    assert names("single", losses) == [f"single:{loss}" for loss in losses]
    frontier = list(registry.members("fixed-weights", losses).values())
    assert len(frontier) == 9
    assert "fixed-weights:0.17-0.17-0.67" in {m.name for m in frontier}


def test_the_two_task_frontier_is_w_from_0_1_to_0_9_without_the_centre() -> None:
    frontier = list(registry.members("fixed-weights", CIFAR).values())
    shares = [round(m.loss_weights[0] / 2, 10) for m in frontier if m.loss_weights is not None]
    assert shares == [0.1, 0.2, 0.3, 0.4, 0.6, 0.7, 0.8, 0.9]
    for member, share in zip(frontier, shares):
        assert member.loss_weights is not None and member.trains is None
        assert member.name == f"fixed-weights:{share:g}-{round(1 - share, 2):g}"
        assert member.loss_weights == pytest.approx((2 * share, 2 * (1 - share)))
        assert math.isclose(sum(member.loss_weights), 2)
    assert registry.method_for("fixed-weights:0.1-0.9", CIFAR).loss_weights == (0.2, 1.8)


def test_the_three_task_frontier_sums_to_three_and_holds_ten_points_with_the_centre() -> None:
    frontier = list(registry.members("fixed-weights", ("a", "b", "c")).values())
    points = {m.loss_weights for m in frontier} | {(1.0, 1.0, 1.0)}  # the centre: `equal`
    assert len(points) >= 10 and len(frontier) == 9
    for member in frontier:
        assert member.loss_weights is not None and all(w > 0 for w in member.loss_weights)
        assert math.isclose(sum(member.loss_weights), 3)
        assert all(math.isclose(w * 2, round(w * 2)) for w in member.loss_weights)  # on the 1/6 grid
    assert registry.method_for("fixed-weights:0.17-0.17-0.67", ("a", "b", "c")).loss_weights == (0.5, 0.5, 2.0)


def test_four_tasks_use_the_grid_of_step_one_eighth() -> None:
    frontier = list(registry.members("fixed-weights", ("a", "b", "c", "d")).values())
    assert len(frontier) == math.comb(7, 3) - 1  # the interior points of 8 steps, less the centre
    assert all(math.isclose(sum(m.loss_weights or ()), 4) for m in frontier)
    assert len({m.name for m in frontier}) == len(frontier)


# --- what they train ----------------------------------------------------------------------


class TwoHeads(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.trunk = nn.Linear(3, 4)
        self.heads = nn.ModuleList([nn.Linear(4, 1), nn.Linear(4, 1)])

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        z = torch.tanh(self.trunk(x))
        return [(self.heads[0](z) ** 2).mean(), (self.heads[1](z) - 1).abs().mean()]


def batch() -> torch.Tensor:
    return torch.randn(8, 3, generator=torch.Generator().manual_seed(1))


def step(name: str) -> tuple[TwoHeads, list[torch.Tensor], StepResult]:
    """One step of the member on the toy: the model (its `.grad`s), the losses, the result."""
    model = TwoHeads()
    combiner = registered_method(name, CIFAR).make_combiner(CONFIG)
    combiner.attach(model, 0)
    losses = model(batch())
    return model, losses, combiner.backward(losses, CONTEXT)


def test_a_single_task_control_trains_its_loss_alone() -> None:
    model, losses, result = step("single:fine")
    assert all(p.grad is None for p in model.heads[1].parameters())  # its loss is not backpropagated at all
    trained = [*model.trunk.parameters(), *model.heads[0].parameters()]
    alone = torch.autograd.grad(model(batch())[0], trained)  # the shared trunk's too: fine's gradient only
    for param, expected in zip(trained, alone):
        assert param.grad is not None and torch.allclose(param.grad, expected)
    assert result.weights == [1.0, 0.0]
    assert isinstance(result.total, torch.Tensor) and torch.equal(result.total, losses[0].detach())


def test_a_frontier_point_trains_the_weighted_sum() -> None:
    model, losses, result = step("fixed-weights:0.3-0.7")
    again = model(batch())
    params = list(model.parameters())
    expected = torch.autograd.grad(0.6 * again[0] + 1.4 * again[1], params)
    for param, grad in zip(params, expected):
        assert param.grad is not None and torch.allclose(param.grad, grad, atol=1e-7)
    assert result.weights == pytest.approx([0.6, 1.4])
    assert isinstance(result.total, torch.Tensor) and not result.total.requires_grad
    assert float(result.total) == pytest.approx(float(0.6 * losses[0].detach() + 1.4 * losses[1].detach()))


@pytest.mark.parametrize("name", ["single:coarse", "fixed-weights:0.2-0.8"])
def test_the_members_keep_the_sync_budget(name: str, data_root: Path) -> None:
    assert_step_budget(trapped_windows("cifar100-mtl", name, data_root))


# --- cache keys, specs and the worker's path ----------------------------------------------


def test_every_member_has_a_key_of_its_own() -> None:
    built = [
        registered_method(name, CIFAR, "cifar100-mtl")
        for family in ("single", "fixed-weights")
        for name in names(family, CIFAR)
    ]
    hashes = {method.spec.source_sha256 for method in built}
    assert len(hashes) == len(built) == 10
    others = {registered_method(name, CIFAR).spec.source_sha256 for name in ("equal", "rlw", "pcgrad")}
    assert not hashes & others
    assert {method.spec.source_path for method in built} == {"baselines/controls.py"}
    fine = registered_method("single:fine", CIFAR).spec
    assert fine.trains == ("fine",) and fine.loss_weights is None
    frontier = registered_method("fixed-weights:0.1-0.9", CIFAR).spec
    assert frontier.trains is None and frontier.loss_weights == (0.2, 1.8)
    # the same name on another task's losses is another method
    assert registered_method("fixed-weights:0.1-0.9", FACE).spec.source_sha256 != frontier.source_sha256


def test_a_queued_member_is_rebuilt_by_name_with_its_spec_kept() -> None:
    queued = registered_method("single:fine", CIFAR, "cifar100-mtl").spec.model_copy(update={"source_sha256": "1" * 64})
    method = method_from_spec(queued, CIFAR, "cifar100-mtl")
    assert method.spec == queued and method.spec.trains == ("fine",)
    assert method.info is registry.method_for("single:fine", CIFAR) and method.untrusted_path is None
    frontier = registered_method("fixed-weights:0.9-0.1", CIFAR).spec
    assert method_from_spec(frontier, CIFAR).spec.loss_weights == (1.8, 0.2)


def test_an_unknown_member_is_a_one_line_plugin_error_naming_the_members() -> None:
    queued = registered_method("single:fine", CIFAR).spec
    with pytest.raises(PluginError) as caught:
        method_from_spec(queued, FACE, "face-age-gender")  # the face task has no `fine`
    text = str(caught.value)
    assert "\n" not in text and "'single:fine'" in text and "single:age, single:gender" in text
    with pytest.raises(PluginError, match=r"members fixed-weights:0\.1-0\.9, .*fixed-weights:0\.9-0\.1$"):
        registry.method_for("fixed-weights:0.5-0.5", CIFAR)  # the centre is `equal`, not a member
    with pytest.raises(PluginError, match="unknown method 'nofamily:x'"):
        registry.method_for("nofamily:x", CIFAR)


def test_a_submission_may_not_take_a_family_name() -> None:
    for name in ("single:fine", "single:anything", "fixed-weights:0.1-0.9"):
        with pytest.raises(HarnessError, match=r"belongs to the method family") as caught:
            submission_method(EXAMPLE, name, "submission", CIFAR, ProcessSandbox(), OracleLimits(), check=False)
        assert "\n" not in str(caught.value)
    mine = submission_method(EXAMPLE, "single", "submission", CIFAR, ProcessSandbox(), OracleLimits(), check=False)
    assert mine.spec.name == "single"  # the family's name alone is no member's


# --- the registry -------------------------------------------------------------------------


def misnamed(loss_names: tuple[str, ...]) -> list[MethodInfo]:
    return [MethodInfo("elsewhere:x", "", "loss", loss_file=EXAMPLE)]


MISNAMED = MethodFamily("odd", "members named for another family", "controls", misnamed)


def test_the_built_in_families_are_registered() -> None:
    assert sorted(registry.families.names()) == ["fixed-weights", "single"]  # installed entry points come unordered
    assert registry.families.get("fixed-weights").role == "frontier"
    assert registry.families.get("fixed-weights").centre == "equal"
    assert registry.families.get("single").role == "controls"
    assert registry.family_of("single:x") == "single" and registry.family_of("single") is None
    assert registry.family_of("pcgrad") is None


def test_a_family_whose_members_are_misnamed_is_a_plugin_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "discover", lambda group: [Reference("odd", f"{__name__}:MISNAMED", "test-dist")])
    monkeypatch.setattr(registry, "families", Registry("test.families", "method family", registry._family))
    monkeypatch.setattr(registry, "_MEMBERS", {})
    with pytest.raises(PluginError, match=re.escape("its member 'elsewhere:x' is not named odd:SUFFIX")):
        registry.method_for("odd:x", CIFAR)


def test_a_worker_runs_a_queued_control_and_records_what_it_trains(tmp_path: Path, data_root: Path) -> None:
    """The queue holds the member's spec; the worker rebuilds it by name and its record keeps
    `trains` (the board reads it from there)."""
    task = registry.tasks.get("cifar100-mtl")
    config = TrainConfig(epochs=1, batch_size=8, data="synthetic", train_size=16, test_size=16)
    job = JobSpec(task=task.name, arch="resnet20", seed=0, preset="worker-test", config=config)
    (item,) = plan(registered_method("single:coarse", task.loss_names, task.name), [job], "cpu")
    queue = JobQueue(tmp_path / "queue")
    assert queue.enqueue(entry_for(item, queue, tmp_path / "results", data_root))
    entry = queue.claim("w", "cpu")
    assert entry is not None and entry.method.trains == ("coarse",)
    assert run_one(queue, entry, torch.device("cpu"), "[t]") == "done"
    record = find_record(tmp_path / "results", job.preset, "single:coarse", item.key)
    assert record is not None and record.status == "ok", record
    assert record.method == item.method.spec and record.method.trains == ("coarse",)
    assert record.epochs[0].task_weights == {"fine": 0.0, "coarse": 1.0}
