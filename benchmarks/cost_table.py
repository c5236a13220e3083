"""Measure the costs behind `--dry-run`'s estimates on this machine and write them into
harness/run/cost_table.json under this device kind (other kinds' entries are kept).

    python benchmarks/cost_table.py [--presets tiny smoke] [--images 256] [--device auto]

For every task, preset and architecture of the preset (hidden ones with `final`), `equal`
trains two epochs of `--images` synthetic images at the preset's image size and batch
(the second epoch is timed: the first warms caches and allocators) and is evaluated on
`--images` test images: seconds per training image and per evaluation image. Then every
registered method, the example submission (loss level, through the default sandbox) and
the PCGrad gradient file (through the sandbox) train the same CIFAR ResNet-20 epochs: their
training time relative to `equal`. Prints the table's entries for this device as JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness import registry  # noqa: E402
from harness.api.method import Combiner  # noqa: E402
from harness.api.records import TrainConfig  # noqa: E402
from harness.api.sandbox import OracleLimits  # noqa: E402
from harness.api.task import Task  # noqa: E402
from harness.methods.resolve import registered_method, submission_method  # noqa: E402
from harness.oracle.choose import choose_sandbox  # noqa: E402
from harness.run.devices import resolve_device  # noqa: E402
from harness.run.estimate import COST_TABLE, CostEntry, DeviceCosts, load_cost_table  # noqa: E402
from harness.run.trainer import train  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
# the real sets' sizes, for presets that train on all of them (train, test images)
FULL_SIZES = {"cifar100-mtl": (50_000, 10_000)}


def timed_config(task: Task, preset: str, images: int) -> tuple[TrainConfig, list[str]]:
    config, archs, _ = task.preset(preset)
    config = task.variants(task.configure(config, {}))[0]
    config = config.model_copy(update={"epochs": 2, "data": "synthetic", "train_size": images, "test_size": images})
    if preset != "final":
        archs = [a for a in archs if not task.architecture(a).hidden]
    return config, archs


def per_image(
    task: Task, arch: str, config: TrainConfig, combiner: Combiner, device: torch.device, data: Path
) -> tuple[float, float]:
    """(train seconds, eval seconds) per image in the second of two epochs."""
    try:
        outcome = train(task, arch, 0, config, combiner, device, data)
    finally:
        combiner.close()
    if outcome.error is not None:
        raise RuntimeError(f"{task.name}/{arch}: {outcome.error}")
    last = outcome.epochs[-1]
    train_seconds = config.train_size / last.images_per_second  # type: ignore[operator]
    eval_seconds = max(last.seconds - train_seconds, 0.0)
    return train_seconds / config.train_size, eval_seconds / config.test_size  # type: ignore[operator]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=["tiny", "smoke"])
    parser.add_argument("--tasks", nargs="+", help="default: every registered task")
    parser.add_argument(
        "--archs", nargs="+", help="measure these architectures (where a task has them) instead of each preset's list"
    )
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--no-methods", action="store_true", help="skip the per-method factors")
    parser.add_argument("--out", type=Path, default=COST_TABLE)
    args = parser.parse_args()
    device = resolve_device(args.device)
    kind = device.type
    table = load_cost_table(args.out)
    costs = table.devices.get(kind) or DeviceCosts(measured="")
    data = Path(tempfile.mkdtemp(prefix="cost-table-"))
    tasks = {name: registry.tasks.get(name) for name in (args.tasks or registry.tasks.names())}
    for task in tasks.values():
        for preset in args.presets:
            config, archs = timed_config(task, preset, args.images)
            if args.archs:
                archs = [a.name for a in task.architectures if a.name in args.archs]
            for arch in archs:
                combiner = registered_method("equal", task.loss_names, task.name).make_combiner(config)
                train_cost, eval_cost = per_image(task, arch, config, combiner, device, data)
                costs.costs[f"{task.name}/{arch}/{preset}"] = CostEntry(
                    train_seconds_per_image=train_cost, eval_seconds_per_image=eval_cost
                )
                print(
                    f"{task.name}/{arch}/{preset}: {train_cost * 1e3:.3f} ms train, {eval_cost * 1e3:.3f} ms eval "
                    "per image",
                    file=sys.stderr,
                    flush=True,
                )
    if not args.no_methods:
        cifar = registry.tasks.get("cifar100-mtl")
        config, _ = timed_config(cifar, args.presets[-1], args.images)

        def train_cost(make: Callable[[], Combiner]) -> float:
            """The faster of two runs: the slower one has met a warm-up or a neighbour's load."""
            return min(per_image(cifar, "resnet20", config, make(), device, data)[0] for _ in range(2))

        base = train_cost(lambda: registered_method("equal", cifar.loss_names).make_combiner(config))
        for name in registry.methods.names():
            method = registered_method(name, cifar.loss_names)
            factor = train_cost(lambda method=method: method.make_combiner(config)) / base
            costs.method_factors[name] = factor
            print(f"{name}: {factor:.2f} x equal", file=sys.stderr, flush=True)
        sandbox = choose_sandbox(None, warn=lambda text: print(text, file=sys.stderr))  # as submit chooses
        for key, path in (
            ("loss-submission", ROOT / "submissions" / "example_loss.py"),
            ("gradient-submission", ROOT / "baselines" / "gradient_files" / "pcgrad.py"),
        ):
            entry = submission_method(path, key, "submission", cifar.loss_names, sandbox, OracleLimits())
            costs.method_factors[key] = train_cost(lambda entry=entry: entry.make_combiner(config)) / base
            print(f"{key}: {costs.method_factors[key]:.2f} x equal", file=sys.stderr, flush=True)
    costs.measured = (
        f"benchmarks/cost_table.py on {torch.cuda.get_device_name(device) if kind == 'cuda' else 'the CPU'}"
        f" ({torch.get_num_threads()} threads), {time.strftime('%Y-%m-%d')}, {args.images} images per epoch"
    )
    table.devices[kind] = costs
    table.full_sizes.update(FULL_SIZES)
    args.out.write_text(table.model_dump_json(indent=1) + "\n")
    print(json.dumps({kind: costs.model_dump()}, indent=1))


if __name__ == "__main__":
    main()
