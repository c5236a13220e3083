"""Does the CUDA path work end to end? One script to run when a GPU is lent.

The CPU suite exercises the shared logic (the meta-device sync trap, the transfer door,
the device-RNG checkpoint with torch.cuda faked); this runs what only a real GPU can show,
each check on the tiny presets (seconds each), and prints one JSON object and a table:

  methods      every registered method trains 2 tiny CIFAR epochs on the device (bf16
               autocast, channels-last): finite losses, weights and metrics
  repeat       equal / pcgrad / nash-mtl twice with one seed: identical, or the check fails
  resume       uncertainty / dwa / famo / gradvac stopped after epoch 1 and resumed from the
               checkpoint: identical to an uninterrupted run, or the check fails
  speed        compile + fused SGD + large eval batches (the dev preset's options) with
               equal / pcgrad / mgda-ub, and Nash-MTL with reuse_task_gradients
  oracle       the example submission through the sandboxed oracle (`process` backend)
  faces        equal / pcgrad / famo on both face tasks (tiny presets)
  oom          a real CUDA out-of-memory error is classified as infrastructure (retried)

    python benchmarks/gpu_check.py --data-root /tmp/data --out gpu-check.json
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness import registry  # noqa: E402
from harness.api.records import TrainConfig  # noqa: E402
from harness.api.sandbox import OracleLimits  # noqa: E402
from harness.methods.resolve import registered_method, submission_method  # noqa: E402
from harness.oracle.choose import choose_sandbox  # noqa: E402
from harness.run.devices import configure_process, is_infrastructure_error  # noqa: E402
from harness.run.trainer import TrainOutcome, train  # noqa: E402

CIFAR = "cifar100-mtl"
FACES = ("face-age-gender", "face-adience")


class Stop(Exception):
    """Raised from the epoch callback to interrupt a run, as a preemption would."""


def numbers(outcome: TrainOutcome) -> list[float]:
    """Every number a record keeps per epoch, flattened (timings left out)."""
    flat: list[float] = []
    for epoch in outcome.epochs:
        data = epoch.model_dump(include={"train_losses", "task_weights", "test_metrics"})
        for part in data.values():
            for value in part.values() if isinstance(part, dict) else part:
                flat.append(float(value))
    return flat


def largest_difference(a: TrainOutcome, b: TrainOutcome) -> float:
    left, right = numbers(a), numbers(b)
    if len(left) != len(right):
        return math.inf
    return max((abs(x - y) for x, y in zip(left, right, strict=True)), default=0.0)


def identical(a: TrainOutcome, b: TrainOutcome) -> dict[str, Any]:
    """A repeat or a resume must give the same numbers: any difference fails the check (a
    largest difference reported beside an `ok` once hid repeats that differed)."""
    difference = largest_difference(a, b)
    if difference != 0.0:
        raise RuntimeError(f"the two runs differ: largest difference {difference!r}")
    return {"largest_difference": difference}


class Checker:
    def __init__(self, device: torch.device, data_root: Path, work: Path) -> None:
        self.device, self.data_root, self.work = device, data_root, work
        self.rows: list[dict[str, Any]] = []

    def config(self, task_name: str, **changes: Any) -> tuple[Any, str, TrainConfig]:
        task = registry.tasks.get(task_name)
        config, archs, _ = task.preset("tiny")
        config = task.variants(task.configure(config, {}))[0]
        return task, archs[0], config.model_copy(update=changes)

    def run(
        self, task_name: str, method: Any, checkpoint: Path | None = None, stop: bool = False, **changes: Any
    ) -> TrainOutcome:
        task, arch, config = self.config(task_name, **changes)
        combiner = method.make_combiner(config)

        def interrupt(log: Any) -> None:
            if stop and log.epoch == 0:
                raise Stop()

        try:
            return train(
                task, arch, 0, config, combiner, self.device, self.data_root, on_epoch=interrupt, checkpoint=checkpoint
            )
        finally:
            combiner.close()

    def check(self, group: str, name: str, body: Callable[[], dict[str, Any]]) -> None:
        started = time.perf_counter()
        try:
            row = {"ok": True, **body()}
        except Exception as exc:  # noqa: BLE001 - every failure is a finding to report
            row = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:400], "trace": traceback.format_exc()[-1500:]}
        row.update(group=group, name=name, seconds=round(time.perf_counter() - started, 2))
        self.rows.append(row)
        print(json.dumps({k: v for k, v in row.items() if k != "trace"}), flush=True)

    def trained(self, outcome: TrainOutcome) -> dict[str, Any]:
        if outcome.error:
            raise RuntimeError(f"the run ended early: {outcome.error}")
        values = numbers(outcome)
        if not all(math.isfinite(v) for v in values):
            raise RuntimeError("a non-finite number in the record")
        last = outcome.epochs[-1]
        return {
            "epochs": len(outcome.epochs),
            "last_losses": last.train_losses,
            "images_per_second": last.images_per_second,
        }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--data-root", type=Path, default=Path("/tmp/gpu-check-data"))
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--only", default="methods,repeat,resume,speed,oracle,faces,oom")
    args = parser.parse_args()
    device = torch.device(args.device)
    configure_process(device, threads=4)
    work = args.data_root / "work"
    work.mkdir(parents=True, exist_ok=True)
    checker = Checker(device, args.data_root, work)
    groups = set(args.only.split(","))
    cifar_losses = registry.tasks.get(CIFAR).loss_names

    def method(name: str, task: str = CIFAR) -> Any:
        return registered_method(name, registry.tasks.get(task).loss_names, task)

    if "methods" in groups:
        for name in sorted(registry.methods.names()):
            checker.check("methods", name, lambda name=name: checker.trained(checker.run(CIFAR, method(name))))
    if "repeat" in groups:
        for name in ("equal", "pcgrad", "nash-mtl"):

            def repeat(name: str = name) -> dict[str, Any]:
                first, second = checker.run(CIFAR, method(name)), checker.run(CIFAR, method(name))
                return identical(first, second)

            checker.check("repeat", name, repeat)
    if "resume" in groups:
        for name in ("uncertainty", "dwa", "famo", "gradvac"):

            def resume(name: str = name) -> dict[str, Any]:
                full = checker.run(CIFAR, method(name), epochs=3)
                path = work / f"{name}.ckpt"
                path.unlink(missing_ok=True)
                try:
                    checker.run(CIFAR, method(name), checkpoint=path, stop=True, epochs=3)
                except Stop:
                    pass
                resumed = checker.run(CIFAR, method(name), checkpoint=path, epochs=3)
                return {"resumed_from": resumed.resumed_from, **identical(full, resumed)}

            checker.check("resume", name, resume)
    if "speed" in groups:
        fast = {"compile": True, "fused_sgd": True, "eval_batch_size": 200}
        for name in ("equal", "pcgrad", "mgda-ub"):

            def speed(name: str = name) -> dict[str, Any]:
                eager = checker.run(CIFAR, method(name))
                compiled = checker.run(CIFAR, method(name), **fast)
                return {**checker.trained(compiled), "largest_difference_to_eager": largest_difference(eager, compiled)}

            checker.check("speed", name, speed)

        def reuse() -> dict[str, Any]:
            plain = checker.run(CIFAR, method("nash-mtl"))
            reused = checker.run(CIFAR, method("nash-mtl"), reuse_task_gradients=True)
            return {**checker.trained(reused), "largest_difference_to_second_pass": largest_difference(plain, reused)}

        checker.check("speed", "nash-mtl reuse_task_gradients", reuse)
    if "oracle" in groups:

        def oracle() -> dict[str, Any]:
            sandbox = choose_sandbox("process", warn=print)
            sub = submission_method(
                Path("submissions/example_loss.py"), "example", "submission", cifar_losses, sandbox, OracleLimits()
            )
            return checker.trained(checker.run(CIFAR, sub))

        checker.check("oracle", "example_loss.py (process)", oracle)
    if "faces" in groups:
        for task in FACES:
            for name in ("equal", "pcgrad", "famo"):
                checker.check(
                    "faces", f"{task}/{name}", lambda t=task, n=name: checker.trained(checker.run(t, method(n, t)))
                )
    if "oom" in groups and device.type == "cuda":

        def oom() -> dict[str, Any]:
            try:
                torch.empty(1 << 50, dtype=torch.uint8, device=device)
            except RuntimeError as exc:
                return {"infrastructure": is_infrastructure_error(exc), "message": str(exc)[:120]}
            raise RuntimeError("a 1 PiB allocation succeeded")

        checker.check("oom", "classified", oom)

    failed = [row for row in checker.rows if not row["ok"]]
    summary = {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else str(device),
        "torch": torch.__version__,
        "checks": len(checker.rows),
        "failed": len(failed),
        "rows": checker.rows,
    }
    if args.out:
        args.out.write_text(json.dumps(summary, indent=1, default=str))
    print(f"\n{summary['device']}, torch {summary['torch']}: {len(checker.rows)} checks, {len(failed)} failed")
    for row in checker.rows:
        extra = {k: row[k] for k in row if k.startswith("largest") or k in ("infrastructure", "resumed_from")}
        print(
            f"{'ok ' if row['ok'] else 'FAIL'} {row['group']:8} {row['name']:38} {row['seconds']:7.1f}s {extra or ''} {row.get('error', '')}"
        )
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
