"""Objects the registry tests point entry-point references at."""

from pathlib import Path

from harness.api import MethodInfo
from tasks.cifar100_mtl import Cifar100MultiTask

GOOD_METHOD = MethodInfo("good", "a fine method", "loss", loss_file=Path(__file__))
MISNAMED_METHOD = MethodInfo("other-name", "registered under another name", "loss", loss_file=GOOD_METHOD.loss_file)
NOT_A_METHOD = {"name": "dict"}


class RenamedCifar(Cifar100MultiTask):
    name = "renamed-cifar"
