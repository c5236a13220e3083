"""The speed options of a job (TrainConfig: compile, fused_sgd, eval_batch_size,
reuse_task_gradients): each does what it says, and none changes what is computed beyond
floating-point rounding. With all of them off the numbers are bit-identical to the records
made before they existed (tests/unit/run/test_numbers_unchanged.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from harness.api.method import StepContext
from harness.api.records import TrainConfig
from harness.methods.resolve import registered_method
from harness.run.compilation import compile_trunk
from harness.run.trainer import build_optimizer, train
from tasks.cifar100_mtl import Cifar100MultiTask
from tasks.cifar100_mtl.models import build_network
from tests.unit.baselines.asserts import ToyHeads

CPU = torch.device("cpu")
TASK = Cifar100MultiTask()
CONFIG = TrainConfig(epochs=1, batch_size=32, data="synthetic", train_size=64, test_size=64)


def trained(config: TrainConfig, data_root: Path, method: str = "equal"):
    combiner = registered_method(method, TASK.loss_names).make_combiner(config)
    outcome = train(TASK, "resnet20", 0, config, combiner, CPU, data_root)
    assert outcome.error is None
    return outcome.epochs


def test_compile_wraps_the_trunk_and_leaves_the_heads_eager() -> None:
    """Heads stay eager so hooks on them (MGDA-UB, IMTL read the heads' input) keep firing."""
    model = build_network("resnet20", (100, 20))
    keys = list(model.state_dict())
    compile_trunk(model)
    assert "forward" in vars(model.trunk)  # the compiled function of ours
    assert all("forward" not in vars(head) for head in model.heads)
    assert list(model.state_dict()) == keys  # checkpoints keep their keys


def test_the_trunk_compiles_as_one_static_graph_per_batch_shape() -> None:
    """One frame for the whole trunk (not one per residual block, which passes dynamo's
    recompile limit and runs the rest eagerly) and static shapes: each batch size and the
    evaluation pass get a graph, reused when they come back (automatic dynamic shapes would
    serve 8 and 12 from one slower symbolic graph: 3, not 4)."""
    from torch._dynamo.utils import counters

    torch._dynamo.reset()
    counters.clear()
    model = build_network("resnet20", (100, 20)).to(memory_format=torch.channels_last)
    compile_trunk(model, backend="eager")
    for batch in (16, 16, 8, 12, 16):
        outputs = model(torch.randn(batch, 3, 32, 32).to(memory_format=torch.channels_last))
        sum(output.sum() for output in outputs).backward()
    with torch.inference_mode():
        model(torch.randn(40, 3, 32, 32))
    assert counters["stats"]["unique_graphs"] == 4
    assert counters["frames"]["total"] == counters["frames"]["ok"] == 4


def test_a_compiled_trunk_serves_per_task_gradients_after_a_plain_backward() -> None:
    """A compiled backward first used by a plain backward (equal) must still give the
    per-task gradients (retain_graph=True) that gradient-level methods take next; with
    buffer donation on, torch refuses them. aot_eager compiles the same graphs as
    inductor, without the minutes inductor needs on a CPU."""
    model = ToyHeads(2)
    model.trunk = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 4))  # intermediates
    compile_trunk(model, backend="aot_eager")
    x = torch.randn(8, 4, generator=torch.Generator().manual_seed(0))
    sum(model(x)).sum().backward()
    losses = [out.square().mean() for out in model(x)]
    for loss in losses:
        torch.autograd.grad(loss, model.shared_parameters(), retain_graph=True)


def test_gradient_methods_give_gradients_laid_out_like_their_parameters() -> None:
    """Channels-last convolution weights get channels-last gradients (CUDA's fused SGD
    refuses others), while the numbers stay those of the flat direction."""
    torch.manual_seed(0)
    model = build_network("resnet20", (100, 20)).to(memory_format=torch.channels_last)
    combiner = registered_method("pcgrad", TASK.loss_names).make_combiner(CONFIG)
    combiner.attach(model, 0)
    images = torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    images = images.contiguous(memory_format=torch.channels_last)
    losses = [torch.nn.functional.cross_entropy(out, torch.arange(4)) for out in model(images)]
    combiner.backward(losses, StepContext(0, 1, 0.1))
    shared = model.shared_parameters()
    assert any(p.stride() != p.contiguous().stride() for p in shared)  # the layouts do differ
    assert all(p.grad.stride() == p.stride() for p in shared)
    optimizer = build_optimizer(model, CONFIG.model_copy(update={"fused_sgd": True}))
    optimizer.step()


@pytest.mark.slow  # inductor compiles ResNet-20 on the CPU for a minute or more
def test_compiled_trunk_trains_to_the_same_numbers(data_root: Path) -> None:
    eager = trained(CONFIG, data_root)
    compiled = trained(CONFIG.model_copy(update={"compile": True}), data_root)
    for first, second in zip(eager, compiled):
        assert second.train_losses == pytest.approx(first.train_losses, rel=1e-4)


def test_fused_sgd_is_the_fused_kernel_and_steps_like_foreach(data_root: Path) -> None:
    model = build_network("resnet20", (100, 20))
    assert build_optimizer(model, CONFIG.model_copy(update={"fused_sgd": True})).param_groups[0]["fused"] is True
    assert not build_optimizer(model, CONFIG).param_groups[0]["fused"]
    plain = trained(CONFIG, data_root)
    fused = trained(CONFIG.model_copy(update={"fused_sgd": True}), data_root)
    assert fused[0].train_losses == pytest.approx(plain[0].train_losses, rel=1e-4)
    assert fused[0].test_metrics["fine_loss"] == pytest.approx(plain[0].test_metrics["fine_loss"], rel=1e-3)


def test_evaluation_batch_size_changes_only_the_batching(data_root: Path) -> None:
    config = CONFIG.model_copy(update={"test_size": 50})
    model = build_network("resnet20", (100, 20)).to(memory_format=torch.channels_last)
    one_pass = TASK.evaluate(model, TASK.load_data(config, CPU, data_root), False)
    uneven = TASK.load_data(config.model_copy(update={"eval_batch_size": 7}), CPU, data_root)
    assert uneven.eval_batch_size == 7 and len(list(uneven.test_batches())) == 8
    batched = TASK.evaluate(model, uneven, False)
    assert batched == pytest.approx(one_pass, rel=1e-5)


def test_nash_mtl_alpha_times_g_equals_the_second_backward_pass() -> None:
    """Nash-MTL's shared update sum_i alpha_i g_i, applied from the task gradients it
    already has, is what backpropagating sum_i alpha_i L_i through the trunk gives."""
    grads = {}
    for reuse in (False, True):
        torch.manual_seed(0)
        model = build_network("resnet20", (100, 20))
        combiner = registered_method("nash-mtl", TASK.loss_names).make_combiner(CONFIG)
        combiner.attach(model, 0)
        images = torch.randn(8, 3, 32, 32, generator=torch.Generator().manual_seed(1))
        targets = (torch.arange(8) % 100, torch.arange(8) % 20)
        losses = [torch.nn.functional.cross_entropy(out, t) for out, t in zip(model(images), targets)]
        combiner.backward(losses, StepContext(0, 1, 0.1, reuse_task_gradients=reuse))
        grads[reuse] = [p.grad.clone() for p in model.parameters()]
    for second_pass, reused in zip(grads[False], grads[True]):
        assert torch.allclose(reused, second_pass, rtol=1e-4, atol=1e-7)
    assert any(g.abs().sum() > 0 for g in grads[True])
