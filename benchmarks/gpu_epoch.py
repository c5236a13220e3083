"""How close the harness's training step is to a bare training loop, on one device.

One process (plus the packed workers of arm F), a synthetic CIFAR-sized set made on the
device (N x 3 x 32 x 32 uint8, two label sets), ResNet-20 with the fine and coarse heads,
batch 128, the protocol's SGD. Arms, each timed over its last epoch after a warm-up epoch:

  A  a bare airbench-style loop: the same model and augmentation, summed losses, no host
     synchronisation at all (timed with CUDA events on a GPU)
  B  the harness's trainer with `equal` in-process
  C  B through the sandboxed oracle (`process` backend): round-trip p50 / p99
  D  gradient-level methods: pcgrad, cagrad, nash-mtl, mgda-ub
  E  toggles on B: channels_last off, autocast off (CUDA), torch.compile of the trunk
  F  K concurrent workers (separate processes) on the one device: summed throughput

It prints one JSON object: ms per step, images per second, each arm's ratio to A (for F,
to one worker), and peak memory. The design targets (one H100) are in the README's
Performance section; on the CPU with a small N it checks that every arm still runs.

    python benchmarks/gpu_epoch.py                      # the device's default size
    python benchmarks/gpu_epoch.py --images 64 --batch-size 32 --out result.json   # CI: it still runs
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness import registry  # noqa: E402
from harness.api.augment import crop_and_flip, to_model_input  # noqa: E402
from harness.api.precision import autocast, mixed_precision  # noqa: E402
from harness.api.records import TrainConfig  # noqa: E402
from harness.api.sandbox import OracleLimits  # noqa: E402
from harness.methods.resolve import registered_method, submission_method  # noqa: E402
from harness.oracle.choose import choose_sandbox  # noqa: E402
from harness.run.devices import resolve_device  # noqa: E402
from harness.run.trainer import build_optimizer, train  # noqa: E402
from tasks.cifar100_mtl import Cifar100MultiTask  # noqa: E402
from tasks.cifar100_mtl.data import CIFAR100_MEAN, CIFAR100_STD, CifarTensorData  # noqa: E402
from tasks.cifar100_mtl.models import build_network  # noqa: E402

GRADIENT_METHODS = ("pcgrad", "cagrad", "nash-mtl", "mgda-ub")


class DeviceSet:
    """Images and (fine, coarse) labels resident on the device (what DeviceSplit holds)."""

    def __init__(self, count: int, device: torch.device, seed: int) -> None:
        generator = torch.Generator(device=device).manual_seed(seed)
        self.images = torch.randint(0, 256, (count, 3, 32, 32), dtype=torch.uint8, device=device, generator=generator)
        fine = torch.randint(0, 100, (count,), device=device, generator=generator)
        self.targets = (fine, fine // 5)

    def __len__(self) -> int:
        return self.images.shape[0]


class BenchTask(Cifar100MultiTask):
    """The CIFAR-100 task on sets already on the device (no files)."""

    def __init__(self, train_set: DeviceSet, test_set: DeviceSet) -> None:
        self.train_set, self.test_set = train_set, test_set

    def load_data(self, config: TrainConfig, device: torch.device, data_root: Path) -> CifarTensorData:
        return CifarTensorData(
            self.train_set,  # type: ignore[arg-type]
            self.test_set,  # type: ignore[arg-type]
            config.batch_size,
            config.channels_last,
            config.eval_batch_size or 1000,
        )


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # the process's peak (kB on Linux)


def reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def arm_result(seconds: float, steps: int, images: int, device: torch.device, **extra: Any) -> dict[str, Any]:
    return {
        "ms_per_step": 1000 * seconds / steps,
        "images_per_second": images / seconds,
        "peak_memory_mb": round(peak_memory_mb(device), 1),
        **extra,
    }


# -- arm A: the bare loop -------------------------------------------------------------------
def bare_loop(data: DeviceSet, config: TrainConfig, device: torch.device, epochs: int) -> dict[str, Any]:
    """The same work as the trainer's step with none of its bookkeeping: indices drawn on
    the device, summed losses, no value ever read on the host."""
    torch.manual_seed(0)
    model = build_network("resnet20", (100, 20)).to(device).to(memory_format=torch.channels_last)
    optimizer = build_optimizer(model, config)
    mean = torch.tensor(CIFAR100_MEAN, device=device)
    std = torch.tensor(CIFAR100_STD, device=device)
    mixed = mixed_precision(config.amp, device.type)
    count, batch = len(data), config.batch_size
    steps = -(-count // batch)

    def epoch() -> None:
        order = torch.randperm(count, device=device)
        top = torch.randint(0, 9, (count,), device=device)
        left = torch.randint(0, 9, (count,), device=device)
        flip = torch.rand(count, device=device) < 0.5
        for start in range(0, count, batch):
            index = order[start : start + batch]
            images = crop_and_flip(data.images[index], 4, top[index], left[index], flip[index])
            inputs = to_model_input(images, mean, std, True)
            with autocast(device.type, mixed):
                fine, coarse = model(inputs)
            loss = F.cross_entropy(fine.float(), data.targets[0][index]) + F.cross_entropy(
                coarse.float(), data.targets[1][index]
            )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

    epoch()  # warm-up (cuDNN plans, allocator)
    synchronize(device)
    reset_peak(device)
    if device.type == "cuda":
        begin, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        begin.record()
        for _ in range(epochs):
            epoch()
        end.record()
        end.synchronize()
        seconds = begin.elapsed_time(end) / 1000
    else:
        started = time.perf_counter()
        for _ in range(epochs):
            epoch()
        seconds = time.perf_counter() - started
    return arm_result(seconds, steps * epochs, count * epochs, device)


# -- arms B to E: the trainer ----------------------------------------------------------------
class TimedRunner:
    """Wraps a loss runner and keeps each round trip's wall time."""

    def __init__(self, runner: Any) -> None:
        self.runner, self.sandbox, self.seconds = runner, runner.sandbox, []

    def __call__(self, values: list[float], context: Any) -> Any:
        started = time.perf_counter()
        result = self.runner(values, context)
        self.seconds.append(time.perf_counter() - started)
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self.runner, name)


def trainer_arm(
    task: BenchTask,
    method: str,
    config: TrainConfig,
    device: torch.device,
    epochs: int,
    oracle: bool = False,
    loss_file: Path | None = None,
) -> dict[str, Any]:
    """Warm-up epoch, then `epochs` timed ones; the trainer's own per-epoch clock counts the
    training steps only (evaluation is not part of a step; `epoch_seconds` has it too).
    With `oracle`, `loss_file` (default: the method's own file) runs as a sandboxed submission."""
    config = config.model_copy(update={"epochs": 1 + epochs})
    if oracle:
        loss_file = loss_file or registry.methods.get(method).loss_file
        assert loss_file is not None
        runnable = submission_method(
            loss_file,
            f"{method}-as-submission",
            "submission",
            task.loss_names,
            choose_sandbox("process", warn=lambda text: None),
            OracleLimits(),
            check=False,
        )
    else:
        runnable = registered_method(method, task.loss_names, task.name)
    combiner = runnable.make_combiner(config)
    timer = None
    if oracle:
        timer = TimedRunner(combiner.runner)  # type: ignore[attr-defined]
        combiner.runner = timer  # type: ignore[attr-defined]
    reset_peak(device)
    try:
        outcome = train(task, "resnet20", 0, config, combiner, device, Path("."))
    finally:
        combiner.close()
    if outcome.error is not None:
        return {"error": str(outcome.error)}
    timed = outcome.epochs[1:]
    seconds = sum(len(task.train_set) / log.images_per_second for log in timed)
    steps = -(-len(task.train_set) // config.batch_size) * len(timed)
    extra: dict[str, Any] = {}
    if timer is not None:
        calls = sorted(timer.seconds[len(timer.seconds) // (1 + epochs) :])  # the timed epochs' calls
        extra["round_trip_ms"] = {
            "p50": 1000 * statistics.median(calls),
            "p99": 1000 * calls[min(len(calls) - 1, int(0.99 * len(calls)))],
        }
    extra["epoch_seconds"] = sum(log.seconds for log in timed) / len(timed)  # evaluation included
    return arm_result(seconds, steps, len(task.train_set) * len(timed), device, **extra)


# -- arm F: packed workers -------------------------------------------------------------------
def _packed_worker(device_name: str, images: int, config_json: str, threads: int, barrier: Any, out: Any) -> None:
    torch.set_num_threads(threads)
    torch.set_float32_matmul_precision("high")  # as the parent, so F trains as B does
    device = resolve_device(device_name, quiet=True)
    if device.type == "cuda" and device.index is not None:  # plain "cuda" is the current device
        torch.cuda.set_device(device)
    task = BenchTask(DeviceSet(images, device, 1), DeviceSet(max(images // 10, 64), device, 2))
    config = TrainConfig.model_validate_json(config_json)
    barrier.wait()
    started = time.perf_counter()
    result = trainer_arm(task, "equal", config, device, 1)
    out.put((result.get("images_per_second", 0.0), time.perf_counter() - started, result.get("peak_memory_mb", 0.0)))


def _answer(out: Any, processes: list[Any]) -> tuple[float, float, float]:
    """The next worker's answer; an error as soon as a worker dies without one."""
    while True:
        try:
            return out.get(timeout=5)
        except Exception:  # queue.Empty
            dead = [p for p in processes if p.exitcode not in (None, 0)]
            if dead:
                raise RuntimeError(f"a packed worker died (exit code {dead[0].exitcode})") from None


def packed_arm(device: torch.device, images: int, config: TrainConfig, workers: list[int]) -> dict[str, Any]:
    context = multiprocessing.get_context("spawn")
    cores = len(os.sched_getaffinity(0))
    results: dict[str, Any] = {}
    for count in workers:
        barrier, out = context.Barrier(count), context.Queue()
        threads = max(1, cores // count)
        processes = [
            context.Process(
                target=_packed_worker, args=(str(device), images, config.model_dump_json(), threads, barrier, out)
            )
            for _ in range(count)
        ]
        for process in processes:
            process.start()
        answers = [_answer(out, processes) for _ in processes]
        for process in processes:
            process.join()
        results[str(count)] = {
            "images_per_second": sum(rate for rate, _, _ in answers),
            "threads_per_worker": threads,
            "peak_memory_mb_per_worker": max(peak for _, _, peak in answers),  # the device's (CUDA) or the RSS (CPU)
        }
    base = results[str(workers[0])]["images_per_second"]
    for value in results.values():
        value["ratio_to_one_worker" if workers[0] == 1 else "ratio_to_first"] = value["images_per_second"] / base
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--images", type=int, help="training images (default: 50000 on CUDA, 1024 on the CPU)")
    parser.add_argument("--epochs", type=int, default=1, help="timed epochs per arm, after one warm-up epoch")
    parser.add_argument("--batch-size", type=int, default=128, help="the protocol's 128 unless checking it runs")
    parser.add_argument("--arms", default="ABCDEF", help="which arms to run, e.g. ABD")
    parser.add_argument("--workers", type=int, nargs="+", help="K for arm F (default: 1 2 4 8 on CUDA, 1 2 on CPU)")
    parser.add_argument("--compile-on-cpu", action="store_true", help="run the compile toggle on the CPU too (slow)")
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    args = parser.parse_args()
    device = resolve_device(args.device, quiet=True)
    if device.type == "cuda" and device.index is not None:  # plain "cuda" is the current device
        torch.cuda.set_device(device)
    torch.set_float32_matmul_precision("high")
    images = args.images or (50_000 if device.type == "cuda" else 1024)
    workers = args.workers or ([1, 2, 4, 8] if device.type == "cuda" else [1, 2])
    config = TrainConfig(epochs=2, data="synthetic", batch_size=args.batch_size)  # SGD 0.1, bf16 on CUDA
    task = BenchTask(DeviceSet(images, device, 1), DeviceSet(max(images // 10, 64), device, 2))
    report: dict[str, Any] = {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu ({os.cpu_count()} cores)",
        "torch": torch.__version__,
        "images": images,
        "batch_size": config.batch_size,
        "timed_epochs": args.epochs,
        "arms": {},
    }
    arms = report["arms"]

    def run(name: str, make: Any) -> None:
        print(f"arm {name} ...", file=sys.stderr, flush=True)
        arms[name] = make()

    if True:  # A always runs: every ratio is to it
        run("A bare loop", lambda: bare_loop(task.train_set, config, device, args.epochs))
    if "B" in args.arms:
        run("B trainer, equal in-process", lambda: trainer_arm(task, "equal", config, device, args.epochs))
    if "C" in args.arms:
        run("C trainer, equal via oracle", lambda: trainer_arm(task, "equal", config, device, args.epochs, True))
    if "D" in args.arms:
        for method in GRADIENT_METHODS:
            run(f"D {method}", lambda m=method: trainer_arm(task, m, config, device, args.epochs))  # type: ignore[misc]
    if "E" in args.arms:
        toggles = {"channels_last off": {"channels_last": False}}
        if device.type == "cuda":
            toggles["autocast off"] = {"amp": False}
        if device.type == "cuda" or args.compile_on_cpu:
            toggles["compile on"] = {"compile": True}
        else:
            arms["E compile on"] = {"skipped": "inductor takes minutes on the CPU; pass --compile-on-cpu"}
        for label, change in toggles.items():
            changed = config.model_copy(update=change)
            run(f"E {label}", lambda c=changed: trainer_arm(task, "equal", c, device, args.epochs))  # type: ignore[misc]
    bare = arms["A bare loop"]["images_per_second"]
    for result in arms.values():
        if "images_per_second" in result:
            result["ratio_to_A"] = round(result["images_per_second"] / bare, 3)
    if "F" in args.arms:
        print("arm F ...", file=sys.stderr, flush=True)
        report["packed_workers"] = packed_arm(device, images, config, workers)
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    failed = [name for name, result in arms.items() if "error" in result]
    if failed:
        print(f"arms that failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
