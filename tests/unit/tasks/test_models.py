import pytest
import torch

from tasks.cifar100_mtl import Cifar100MultiTask


@pytest.mark.parametrize(
    "arch, millions",
    [("resnet20", 0.28), ("resnet56", 0.86), ("vgg16bn", 15.3)],
)
def test_parameter_counts_match_the_standard_figures(arch: str, millions: float) -> None:
    model = Cifar100MultiTask().build_model(arch)
    count = sum(p.numel() for p in model.parameters())
    assert abs(count / 1e6 - millions) < 0.006 * max(millions, 1), count


@pytest.mark.parametrize("arch", ["resnet20", "vgg16bn"])
def test_two_heads_and_disjoint_shared_parameters(arch: str) -> None:
    model = Cifar100MultiTask().build_model(arch)
    fine, coarse = model(torch.randn(2, 3, 32, 32))
    assert fine.shape == (2, 100) and coarse.shape == (2, 20)
    shared = {id(p) for p in model.shared_parameters()}
    heads = {id(p) for i in range(2) for p in model.task_parameters(i)}
    assert shared and heads and not shared & heads
    assert shared | heads == {id(p) for p in model.parameters()}


def test_resnet56_has_nine_blocks_per_stage() -> None:
    from tasks.cifar100_mtl.models import BasicBlock

    model = Cifar100MultiTask().build_model("resnet56")
    assert sum(isinstance(m, BasicBlock) for m in model.modules()) == 27


def test_unknown_architecture_is_rejected() -> None:
    with pytest.raises(KeyError, match="resnet18"):
        Cifar100MultiTask().build_model("resnet18")
