"""Numbers recorded before the GPU-path work (the sync budget, the device-side epoch plans,
evaluation in one transfer, the speed options) are reproduced bit for bit with the speed
options off: a loss-level method, a gradient-level one solving on the host, and the face
pipeline. Floating-point results are only bit-identical on the same CPU, instruction set
and torch (one AMD EPYC with AVX-512 flips a tiny run's accuracies by an image or two
against another AMD EPYC), so the fixture keeps the numbers of each machine they were
made on, by `machine()`: the original ones (made where only the CPU's name and torch were
noted) and those of later machines, each made from the code before a change. On a machine
it does not know, the check loosens to the same structure and roughly the same numbers,
and says so."""

from __future__ import annotations

import hashlib
import json
import warnings
from pathlib import Path

import pytest
import torch

from harness import registry
from harness.methods.resolve import registered_method
from harness.run.trainer import train
from tests.helpers import FIXTURES

RECORDED = json.loads((FIXTURES / "numbers-before-issue-13.json").read_text())
FIELDS = ("train_losses", "task_weights", "test_metrics", "lr")


def flat(epochs: list[dict]) -> list[float]:
    return [
        value
        for epoch in epochs
        for key in FIELDS
        for value in (
            [epoch[key][name] for name in sorted(epoch[key])] if isinstance(epoch[key], dict) else [epoch[key]]
        )
    ]


def this_cpu() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown"


def machine() -> str:
    """What decides the bits: the CPU's name, torch's version, the vector instructions ATen
    uses and the CPU's vector flags (which oneDNN and MKL choose their kernels by)."""
    flags: set[str] = set()
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("flags"):
            flags = {f for f in line.split(":", 1)[1].split() if f.startswith(("sse", "avx", "amx", "fma", "f16c"))}
            break
    digest = hashlib.sha256(" ".join(sorted(flags)).encode()).hexdigest()[:12]
    return f"{this_cpu()} | torch {torch.__version__} | {torch.backends.cpu.get_cpu_capability()} | flags {digest}"


def reference(job: str) -> tuple[list[dict] | None, str]:
    """The numbers this machine must reproduce bit for bit (None: none known here), and
    where they were made."""
    known = RECORDED.get("machines", {}).get(machine())
    if known is not None:
        return known["runs"][job], machine()
    if this_cpu() == RECORDED["cpu"] and torch.__version__ == RECORDED["torch"]:
        return RECORDED["runs"][job], RECORDED["cpu"]
    return None, RECORDED["cpu"]


@pytest.mark.parametrize("job", sorted(RECORDED["runs"]))
def test_tiny_runs_match_the_records_made_before_the_change(job: str, data_root: Path) -> None:
    task_name, method = job.split("/")
    task = registry.tasks.get(task_name)
    config, archs, _ = task.preset("tiny")
    config = task.variants(task.configure(config, {}))[0]
    combiner = registered_method(method, task.loss_names, task_name).make_combiner(config)
    outcome = train(task, archs[0], 0, config, combiner, torch.device("cpu"), data_root)
    combiner.close()
    numbers = [{key: log.model_dump()[key] for key in FIELDS} for log in outcome.epochs]
    assert [sorted(log) for log in numbers] == [sorted(log) for log in RECORDED["runs"][job]]
    exact, made_on = reference(job)
    if exact is not None:
        assert numbers == exact, f"not bit for bit the numbers made on {made_on}"
    else:
        warnings.warn(f"no numbers made on {machine()}: compared roughly", stacklevel=1)
        assert flat(numbers) == pytest.approx(flat(RECORDED["runs"][job]), rel=0.05, abs=2.0)


def test_the_machine_key_tells_instruction_sets_apart(monkeypatch: pytest.MonkeyPatch) -> None:
    here = machine()
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "NO AVX")
    assert machine() != here and machine().startswith(this_cpu())
