"""The one prepared check for a lent GPU: correctness, host syncs, determinism and speed.

One call runs every section below, each within a time budget (a section that would start
after the total budget is spent is skipped with a note), prints one compact summary
(section, figure, value, target, pass/fail/n-a) and writes every figure as JSON.

  methods  every registered method, and a loss-level (submissions/example_loss.py) and a
           gradient-level (submissions/example_gradient.py) submission through the oracle
           (`process` backend), trains the tiny CIFAR job; host syncs per step counted twice:
           waits through the transfer door (harness.api.transfer.to_host, every device) and,
           on CUDA, every synchronising CUDA call (torch.cuda.set_sync_debug_mode("warn"))
  repeat   one job (equal, then pcgrad; compile on CUDA, `deterministic` on) in two separate
           processes, each with cold compile caches (fresh TORCHINDUCTOR_CACHE_DIR and
           TRITON_CACHE_DIR): every recorded number compared bit for bit
  resume   2 epochs uninterrupted vs stopped after epoch 1 and resumed from the checkpoint
  speed    an eager bare loop (gpu_epoch.py's arm A), the same loop CUDA-graphed (the limit;
           CUDA only), the trainer with `equal`, the trainer through the oracle with the example
           submission, pcgrad and cagrad; the 200-epoch ResNet-20 job's minutes extrapolated
           from the trainer's epoch (evaluation included)
  slots    1/2/4/8 worker processes (1/2 on the CPU) training identical jobs at once:
           summed throughput against one, peak memory per slot (CUDA: max_memory_allocated;
           CPU: the process's peak RSS)
  submit   the real `runner.py submit submissions/example_loss.py --preset tiny
           --slots-per-device 4 --no-baselines --sandbox process` (4 seeds) in a temporary
           results folder (CPU: 2 seeds, 2 slots)

Targets (one H100; CPU numbers are not targets, only correctness is judged there): trainer
>= 0.9 of the eager bare loop and >= 0.6 of the CUDA-graphed one, the oracle's trainer >= 0.85
of the bare loop, a 200-epoch ResNet-20 job <= 5 minutes alone, 4 slots >= 3.5x one, CAGrad's
step <= 1.3x PCGrad's, repeats and resumes identical, at most one host wait per step.

    python benchmarks/device_check.py --size tiny --device cpu --out /tmp/device_check.json   # CI
    python benchmarks/device_check.py --size full --out device_check.json --sections speed,slots

On a lent GPU: its image has its own Python (3.12) with torch, numpy, scipy, pandas, jinja2
and the like, and reaches no package index. Here, once, build the wheels it lacks (pydantic,
docker, submitit and their needs: about 3 MiB, under the 64 MiB a call carries):

    echo /.whl/ >> .git/info/exclude && bash scripts/device-wheels.sh .whl 3.12

then one `run` call with `carry: [".whl"]` and `timeout_s: 560` (the check ends in about
7 minutes; its budgets skip what would run past that, with a note):

    python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl \
      && python3 -m pip install -q --no-index --no-deps --no-build-isolation --target /tmp/site . \
      && export PYTHONPATH=$PWD:/tmp/site PYTHONUNBUFFERED=1 \
      && python3 benchmarks/device_check.py --size full --out $OUT/device_check.json 2>&1 | tee $OUT/device_check.log

(the second install gives the registry its entry points; the code runs from the checkout.)
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.gpu_epoch import (  # noqa: E402
    BenchTask,
    DeviceSet,
    arm_result,
    bare_loop,
    packed_arm,
    reset_peak,
    synchronize,
    trainer_arm,
)
from harness import registry  # noqa: E402
from harness.api.augment import crop_and_flip, to_model_input  # noqa: E402
from harness.api.precision import mixed_precision  # noqa: E402
from harness.api.records import TrainConfig  # noqa: E402
from harness.api.sandbox import OracleLimits  # noqa: E402
from harness.api.transfer import watch_transfers  # noqa: E402
from harness.methods.resolve import Method, registered_method, submission_method  # noqa: E402
from harness.oracle.choose import choose_sandbox  # noqa: E402
from harness.run.trainer import TrainOutcome, build_optimizer, train  # noqa: E402
from tasks.cifar100_mtl.data import CIFAR100_MEAN, CIFAR100_STD  # noqa: E402
from tasks.cifar100_mtl.models import build_network  # noqa: E402

CIFAR = "cifar100-mtl"
# in this order: the repeats' processes start first and compile while methods and resume run;
# they are collected before the speed arms, which they would disturb
SECTIONS = ("methods", "resume", "repeat", "speed", "slots", "submit")
LOSS_SUBMISSION = ROOT / "submissions" / "example_loss.py"
GRADIENT_SUBMISSION = ROOT / "submissions" / "example_gradient.py"
REPEAT_MARK = "REPEAT-RESULT "
SYNC_WARNING = "synchronizing CUDA operation"  # the text of torch.cuda.set_sync_debug_mode("warn")

# Each size: the jobs' shapes and each section's time budget in seconds (a section checks it
# between its parts; `total` skips the sections that would start after it). Full is sized
# from gpu_epoch.py's H200 run (ResNet-20 at ~9 ms per step of 128) to end in < 8 minutes.
SIZES: dict[str, dict[str, Any]] = {
    "tiny": {
        "job": {"train_size": 32, "test_size": 32, "batch_size": 16, "epochs": 1},  # 2 steps: one window
        "speed": {"images": 64, "test": 64, "batch": 32},
        "slots": {"images": 64, "batch": 32, "cuda": [1, 2, 4, 8], "cpu": [1, 2]},
        "submit": {"cuda": (4, 4), "cpu": (2, 2)},  # (seeds, slots)
        # CI's: generous, so that a loaded machine still runs every part (the guard is for full)
        "budget": {
            "total": 1200,
            "methods": 600,
            "repeat": 300,
            "resume": 300,
            "speed": 300,
            "slots": 300,
            "submit": 300,
        },
    },
    "full": {
        "job": {},  # the tiny preset as it is: 256 images of batch 64, 2 epochs
        "repeat_job": {"train_size": 2048, "test_size": 1000, "batch_size": 128},
        "speed": {"images": 50_000, "test": 10_000, "batch": 128},
        "slots": {"images": 25_000, "batch": 128, "cuda": [1, 2, 4, 8], "cpu": [1, 2]},
        "submit": {"cuda": (4, 4), "cpu": (2, 2)},
        # repeat's budget counts from the check's start (its processes start then)
        "budget": {"total": 380, "methods": 90, "repeat": 200, "resume": 25, "speed": 100, "slots": 90, "submit": 70},
    },
}


# -- figures and targets ---------------------------------------------------------------------
# (section, figure, where in the report, comparison, threshold, judged on the CPU too)
TARGETS: list[tuple[str, str, tuple[str, ...], str, float, bool]] = [
    ("methods", "methods failed", ("methods", "failed"), "<=", 0, True),
    ("methods", "door waits per step (max)", ("methods", "door_waits_per_step"), "<=", 1, True),
    ("methods", "CUDA syncs per step (max)", ("methods", "cuda_syncs_per_step"), "<=", 1, False),
    ("repeat", "repeats identical", ("repeat", "identical"), "==", 1, True),
    ("resume", "resumes identical", ("resume", "identical"), "==", 1, True),
    ("speed", "trainer / eager bare loop", ("speed", "trainer_to_eager"), ">=", 0.9, False),
    ("speed", "trainer / graphed bare loop", ("speed", "trainer_to_graphed"), ">=", 0.6, False),
    ("speed", "oracle trainer / eager bare loop", ("speed", "oracle_to_eager"), ">=", 0.85, False),
    ("speed", "cagrad step / pcgrad step", ("speed", "cagrad_to_pcgrad"), "<=", 1.3, False),
    ("speed", "200-epoch job alone (min)", ("speed", "job_200_epochs_minutes"), "<=", 5.0, False),
    ("slots", "4 slots / 1 slot throughput", ("slots", "ratio_4"), ">=", 3.5, False),
    ("submit", "submit exit code", ("submit", "returncode"), "==", 0, True),
    ("submit", "submit jobs without a record", ("submit", "records_missing"), "==", 0, True),
]
REPORTED: list[tuple[str, str, tuple[str, ...]]] = [  # figures shown without a target
    ("methods", "methods run", ("methods", "count")),
    ("speed", "eager bare loop ms/step", ("speed", "arms", "eager bare loop", "ms_per_step")),
    ("speed", "graphed bare loop ms/step", ("speed", "arms", "graphed bare loop", "ms_per_step")),
    ("speed", "trainer ms/step", ("speed", "arms", "trainer", "ms_per_step")),
    ("speed", "oracle round trip p50 ms", ("speed", "arms", "trainer via oracle", "round_trip_ms", "p50")),
    ("speed", "pcgrad ms/step", ("speed", "arms", "pcgrad", "ms_per_step")),
    ("speed", "cagrad ms/step", ("speed", "arms", "cagrad", "ms_per_step")),
    ("slots", "throughput / 1 slot's, by slots", ("slots", "ratios")),
    ("slots", "peak memory per slot (MB)", ("slots", "peak_memory_mb_per_slot")),
    ("submit", "submit seconds", ("submit", "seconds")),
]


def look_up(report: dict[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = report
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


def judge(value: Any, comparison: str, threshold: float) -> str:
    """pass / fail for a number (a bool counts as 0 or 1); n/a where there is none."""
    if value is None or isinstance(value, str):
        return "n/a"
    number = float(value)
    if math.isnan(number):
        return "fail"
    ok = {"<=": number <= threshold, ">=": number >= threshold, "==": number == threshold}[comparison]
    return "pass" if ok else "fail"


def summary_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The summary: one row per figure, its target judged where it applies (speed targets
    only on CUDA; correctness everywhere); a skipped section's figures are n/a."""
    on_cuda = report.get("device_type") == "cuda"
    rows = []
    for section, name, path, comparison, threshold, everywhere in TARGETS:
        value = look_up(report, path)
        target = f"{comparison} {threshold:g}"
        status = judge(value, comparison, threshold) if (on_cuda or everywhere) else "n/a"
        rows.append({"section": section, "figure": name, "value": value, "target": target, "status": status})
    for section, name, path in REPORTED:
        rows.append({"section": section, "figure": name, "value": look_up(report, path), "target": "", "status": ""})
    order = {name: number for number, name in enumerate(SECTIONS)}
    ran = [row for row in rows if row["section"] in report]  # the sections asked for
    return sorted(ran, key=lambda row: order.get(row["section"], len(order)))


def show(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "NO"
    if isinstance(value, float):
        return f"{value:.3g}"
    if isinstance(value, dict):
        return " ".join(f"{key}:{show(item)}" for key, item in value.items())
    return str(value)


def summary_text(report: dict[str, Any]) -> str:
    rows = summary_rows(report)
    lines = [
        f"{report.get('device')}, torch {report.get('torch')}, size {report.get('size')}: {report.get('seconds')} s"
    ]
    lines.append(f"{'section':8} {'figure':34} {'value':>24}  {'target':8} status")
    for row in rows:
        lines.append(
            f"{row['section']:8} {row['figure']:34} {show(row['value']):>24}  {row['target']:8} {row['status']}"
        )
    for name, body in report.get("sections", {}).items():
        if isinstance(body, dict) and (body.get("skipped") or body.get("error")):
            lines.append(f"{name}: {body.get('skipped') or body.get('error')}")
    return "\n".join(lines)


# -- bit-for-bit comparison --------------------------------------------------------------------
def exact_numbers(outcome: TrainOutcome) -> dict[str, list[str]]:
    """Every number a record keeps per epoch (timings left out), as float.hex so that a JSON
    round trip keeps every bit; a run that ended early says why."""
    flat: dict[str, list[str]] = {}
    for epoch in outcome.epochs:
        data = epoch.model_dump(include={"train_losses", "task_weights", "test_metrics"})
        for part, values in data.items():
            for key, value in sorted(values.items()):
                flat.setdefault(f"{part}.{key}", []).append(float(value).hex())
    if outcome.error is not None:
        flat["error"] = [str(outcome.error)[:200]]
    return flat


def compare_exact(results: list[dict[str, dict[str, list[str]]]]) -> dict[str, Any]:
    """Compare repeats (each: job -> figure -> values as float.hex) bit for bit against the
    first. Identical only if every job, figure and value is present and equal in all."""
    mismatches: list[str] = []
    largest = 0.0
    if len(results) < 2:
        mismatches.append(f"{len(results)} result(s): nothing to compare")
    first = results[0] if results else {}
    for number, other in enumerate(results[1:], start=1):
        for job in sorted(set(first) | set(other)):
            left, right = first.get(job), other.get(job)
            if left is None or right is None:
                mismatches.append(f"repeat {number}: job {job} missing in one")
                continue
            for figure in sorted(set(left) | set(right)):
                a, b = left.get(figure), right.get(figure)
                if a is None or b is None or len(a) != len(b):
                    mismatches.append(f"repeat {number}: {job} {figure}: present or long in one only")
                    continue
                for epoch, (x, y) in enumerate(zip(a, b)):
                    if x != y:
                        mismatches.append(f"repeat {number}: {job} {figure} epoch {epoch}: {x} != {y}")
                        try:
                            largest = max(largest, abs(float.fromhex(x) - float.fromhex(y)))
                        except ValueError:
                            largest = math.inf
    return {"identical": not mismatches, "mismatches": mismatches[:20], "largest_difference": largest}


# -- shared helpers -------------------------------------------------------------------------
class Budget:
    def __init__(self, seconds: float) -> None:
        self.seconds, self.started = seconds, time.perf_counter()

    def spent(self) -> float:
        return time.perf_counter() - self.started

    def over(self) -> bool:
        return self.spent() > self.seconds


class Stop(Exception):
    """Raised from the epoch callback to interrupt a run, as a preemption would."""


def job_config(size: str, key: str = "job", **changes: Any) -> tuple[Any, str, TrainConfig]:
    task = registry.tasks.get(CIFAR)
    config, archs, _ = task.preset("tiny")
    config = task.variants(task.configure(config, {}))[0]
    shape = SIZES[size].get(key, SIZES[size]["job"])
    return task, archs[0], config.model_copy(update={**shape, **changes})


def oracle_method(path: Path, name: str) -> Method:
    sandbox = choose_sandbox("process", warn=lambda text: None)
    return submission_method(path, name, "submission", registry.tasks.get(CIFAR).loss_names, sandbox, OracleLimits())


def run_job(
    method: Method,
    size: str,
    device: torch.device,
    data_root: Path,
    checkpoint: Path | None = None,
    stop_after: int | None = None,
    on_step: Callable[[int, int], None] | None = None,
    key: str = "job",
    **changes: Any,
) -> TrainOutcome:
    task, arch, config = job_config(size, key, **changes)
    combiner = method.make_combiner(config)

    def interrupt(log: Any) -> None:
        if stop_after is not None and log.epoch + 1 == stop_after:
            raise Stop()

    try:
        return train(
            task,
            arch,
            0,
            config,
            combiner,
            device,
            data_root,
            on_epoch=interrupt,
            on_step=on_step,
            checkpoint=checkpoint,
        )
    finally:
        combiner.close()


class SyncCounter:
    """Counts host syncs per training step: the door's waits (to_host with why="step") on every
    device and, on CUDA, every synchronising CUDA call torch's sync debug mode warns about.
    Steps are the windows between two step callbacks of one epoch (the epoch's end, with its
    one transfer and the evaluation, is left out: it is not a step)."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.door: list[int] = []
        self.cuda: list[int] = []

    @contextmanager
    def counting(self) -> Iterator[Callable[[int, int], None]]:
        cuda = self.device.type == "cuda"
        with watch_transfers() as log, warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            last = [(0, 0)]  # the counts at the previous step's end

            def snapshot() -> tuple[int, int]:
                waits = sum(1 for item in log if item.direction == "to_host" and item.why == "step")
                return waits, sum(1 for item in caught if SYNC_WARNING in str(item.message))

            def on_step(step: int, steps: int) -> None:
                now = snapshot()
                if step > 1:  # a window within one epoch
                    self.door.append(now[0] - last[0][0])
                    if cuda:
                        self.cuda.append(now[1] - last[0][1])
                last[0] = now

            if cuda:
                torch.cuda.set_sync_debug_mode("warn")
            try:
                yield on_step
            finally:
                if cuda:
                    torch.cuda.set_sync_debug_mode("default")


def guarded(body: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    try:
        return body()
    except Exception as exc:  # noqa: BLE001 - every failure is a finding to report
        return {"error": f"{type(exc).__name__}: {exc}"[:400], "trace": traceback.format_exc()[-1500:]}


# -- sections ---------------------------------------------------------------------------------
def section_methods(size: str, device: torch.device, data_root: Path, budget: Budget) -> dict[str, Any]:
    loss_names = registry.tasks.get(CIFAR).loss_names
    makers: dict[str, Callable[[], Method]] = {
        name: functools.partial(registered_method, name, loss_names, CIFAR) for name in sorted(registry.methods.names())
    }
    makers["submission: example_loss.py (oracle)"] = lambda: oracle_method(LOSS_SUBMISSION, "device-check-loss")
    makers["submission: example_gradient.py (oracle)"] = lambda: oracle_method(
        GRADIENT_SUBMISSION, "device-check-gradient"
    )
    rows: dict[str, Any] = {}
    door: list[int] = []
    cuda: list[int] = []
    skipped = []
    for name, make in makers.items():
        if budget.over():
            skipped.append(name)
            continue
        started = time.perf_counter()
        counter = SyncCounter(device)

        def body(make: Callable[[], Method] = make, counter: SyncCounter = counter) -> dict[str, Any]:
            with counter.counting() as on_step:
                outcome = run_job(make(), size, device, data_root, on_step=on_step)
            if outcome.error is not None:
                return {"error": f"the run ended early: {outcome.error}"[:400]}
            values = [float.fromhex(v) for key, vs in exact_numbers(outcome).items() for v in vs]
            if not all(math.isfinite(v) for v in values):
                return {"error": "a non-finite number in the record"}
            return {"epochs": len(outcome.epochs), "door_waits_per_step": max(counter.door, default=0)}

        row = guarded(body)
        if device.type == "cuda":
            row["cuda_syncs_per_step"] = max(counter.cuda, default=0)
        row["seconds"] = round(time.perf_counter() - started, 2)
        rows[name] = row
        door.extend(counter.door)
        cuda.extend(counter.cuda)
        print(f"methods {name}: {json.dumps({k: v for k, v in row.items() if k != 'trace'})}", file=sys.stderr)
    failed = [name for name, row in rows.items() if "error" in row]
    result: dict[str, Any] = {
        "count": len(rows),
        "failed": len(failed),
        "failed_names": failed,
        "door_waits_per_step": max(door) if door else None,
        "cuda_syncs_per_step": max(cuda) if cuda else None,
        "rows": rows,
    }
    if skipped:
        result["skipped"] = f"time budget spent: {len(skipped)} methods not run ({', '.join(skipped)})"
        result["failed"] += len(skipped)  # not run is not passed
    return result


REPEAT_METHODS = ("equal", "pcgrad")


def repeat_job(spec: dict[str, Any]) -> dict[str, Any]:
    """One repeat, in its own process (`--repeat-job`): each of REPEAT_METHODS once."""
    device = torch.device(spec["device"])
    if device.type == "cpu":
        torch.set_num_threads(1)  # both repeats alike, and two of them fit two cores
    loss_names = registry.tasks.get(CIFAR).loss_names
    out: dict[str, Any] = {"numbers": {}, "compiled_throughout": {}}
    for name in REPEAT_METHODS:
        outcome = run_job(
            registered_method(name, loss_names, CIFAR),
            spec["size"],
            device,
            Path(spec["data_root"]),
            key="repeat_job",
            compile=spec["compile"],
            deterministic=True,
        )
        out["numbers"][name] = exact_numbers(outcome)
        stats = outcome.compile_stats
        out["compiled_throughout"][name] = None if stats is None else stats.compiled_throughout
    return out


class Repeats:
    """The two repeat processes, started when the check starts (they compile on the CPU's
    cores while the methods section uses the GPU) and collected at the repeat section. Each
    has fresh compile caches; both run at once (on the CPU with one thread each, as sums
    depend on the thread count)."""

    def __init__(self, size: str, device: torch.device, data_root: Path, seconds: float) -> None:
        self.compile = device.type == "cuda"  # inductor takes minutes on the CPU
        spec = {"device": str(device), "size": size, "compile": self.compile, "data_root": str(data_root)}
        self.budget = Budget(seconds)
        self.scratch = tempfile.TemporaryDirectory(prefix="device-check-repeat-")
        self.processes: list[tuple[subprocess.Popen[bytes], Path]] = []
        for number in range(2):
            env = dict(os.environ)
            env["TORCHINDUCTOR_CACHE_DIR"] = str(Path(self.scratch.name) / f"inductor-{number}")
            env["TRITON_CACHE_DIR"] = str(Path(self.scratch.name) / f"triton-{number}")
            command = [sys.executable, str(Path(__file__).resolve()), "--repeat-job", json.dumps(spec)]
            output = Path(self.scratch.name) / f"output-{number}.txt"  # a file: a full pipe would stall it
            with output.open("wb") as sink:
                self.processes.append(
                    (subprocess.Popen(command, env=env, stdout=sink, stderr=subprocess.STDOUT, cwd=ROOT), output)
                )

    def collect(self) -> dict[str, Any]:
        results: list[dict[str, Any]] = []
        errors: list[str] = []
        try:
            for process, output in self.processes:
                try:
                    process.wait(timeout=max(self.budget.seconds - self.budget.spent(), 5))
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
                    errors.append(f"a repeat ran past the section's budget of {self.budget.seconds} s")
                    continue
                text = output.read_text(errors="replace")
                lines = [line for line in text.splitlines() if line.startswith(REPEAT_MARK)]
                if process.returncode != 0 or not lines:
                    errors.append(f"exit {process.returncode}: {text.strip()[-600:]}")
                    continue
                results.append(json.loads(lines[-1][len(REPEAT_MARK) :]))
        finally:
            self.scratch.cleanup()
        if errors:
            return {"identical": False, "error": "; ".join(errors)[:800], "repeats": len(results)}
        compared = compare_exact([result["numbers"] for result in results])
        return {
            **compared,
            "methods": list(REPEAT_METHODS),
            "compile": self.compile,
            "deterministic": True,
            "compiled_throughout": [result["compiled_throughout"] for result in results],
            "seconds_from_start": round(self.budget.spent(), 1),
        }

    def stop(self) -> None:
        for process, _ in self.processes:
            if process.poll() is None:
                process.kill()
                process.wait()
        self.scratch.cleanup()


RESUME_METHODS = ("uncertainty", "famo", "pcgrad", "gradvac")


def section_resume(size: str, device: torch.device, data_root: Path, budget: Budget) -> dict[str, Any]:
    loss_names = registry.tasks.get(CIFAR).loss_names
    rows: dict[str, Any] = {}
    full: dict[str, Any] = {}
    resumed: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="device-check-resume-") as scratch:
        for name in RESUME_METHODS:
            if budget.over():
                rows[name] = {"skipped": "time budget spent"}
                continue

            def body(name: str = name) -> dict[str, Any]:
                method = registered_method(name, loss_names, CIFAR)
                whole = run_job(method, size, device, data_root, epochs=2)
                path = Path(scratch) / f"{name}.ckpt"
                try:
                    run_job(method, size, device, data_root, checkpoint=path, stop_after=1, epochs=2)
                except Stop:
                    pass
                again = run_job(method, size, device, data_root, checkpoint=path, epochs=2)
                full[name], resumed[name] = exact_numbers(whole), exact_numbers(again)
                return {"resumed_from": again.resumed_from, "epochs": len(again.epochs)}

            rows[name] = guarded(body)
    compared = compare_exact([full, resumed])
    problems = [name for name, row in rows.items() if "error" in row or "skipped" in row or row["resumed_from"] != 1]
    return {
        **compared,
        "identical": compared["identical"] and not problems and len(full) == len(RESUME_METHODS),
        "problems": problems,
        "rows": rows,
    }


def graphed_bare_loop(data: DeviceSet, config: TrainConfig, device: torch.device, epochs: int) -> dict[str, Any]:
    """gpu_epoch.py's bare loop with each whole step (gather, crop, flip, forward, backward,
    SGD) captured once as a CUDA graph and replayed: no Python and no launch cost per kernel,
    the limit a step can reach. Full batches only (a graph has one shape)."""
    torch.manual_seed(0)
    model = build_network("resnet20", (100, 20)).to(device).to(memory_format=torch.channels_last)
    optimizer = build_optimizer(model, config)
    mean = torch.tensor(CIFAR100_MEAN, device=device)
    std = torch.tensor(CIFAR100_STD, device=device)
    mixed = mixed_precision(config.amp, device.type)
    count, batch = len(data), config.batch_size
    steps = count // batch
    index = torch.zeros(batch, dtype=torch.long, device=device)
    top = torch.zeros(batch, dtype=torch.long, device=device)
    left = torch.zeros(batch, dtype=torch.long, device=device)
    flip = torch.zeros(batch, dtype=torch.bool, device=device)

    def step() -> None:
        images = crop_and_flip(data.images[index], 4, top, left, flip)
        inputs = to_model_input(images, mean, std, True)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=mixed, cache_enabled=False):
            fine, coarse = model(inputs)
        loss = F.cross_entropy(fine.float(), data.targets[0][index]) + F.cross_entropy(
            coarse.float(), data.targets[1][index]
        )
        loss.backward()
        optimizer.step()

    side = torch.cuda.Stream(device)
    side.wait_stream(torch.cuda.current_stream(device))
    with torch.cuda.stream(side):  # warm-up on a side stream: the optimizer's state, cuDNN plans
        for _ in range(3):
            optimizer.zero_grad(set_to_none=True)
            step()
    torch.cuda.current_stream(device).wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    optimizer.zero_grad(set_to_none=True)
    with torch.cuda.graph(graph):
        step()  # the gradients (None before) are written into buffers of the graph's own pool

    def epoch() -> None:
        order = torch.randperm(count, device=device)
        tops = torch.randint(0, 9, (count,), device=device)
        lefts = torch.randint(0, 9, (count,), device=device)
        flips = torch.rand(count, device=device) < 0.5
        for start in range(0, steps * batch, batch):
            chosen = order[start : start + batch]
            index.copy_(chosen)
            top.copy_(tops[chosen])
            left.copy_(lefts[chosen])
            flip.copy_(flips[chosen])
            graph.replay()

    epoch()  # warm-up
    synchronize(device)
    reset_peak(device)
    begin, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    begin.record()
    for _ in range(epochs):
        epoch()
    end.record()
    end.synchronize()
    seconds = begin.elapsed_time(end) / 1000
    return arm_result(seconds, steps * epochs, steps * batch * epochs, device)


def section_speed(size: str, device: torch.device, data_root: Path, budget: Budget) -> dict[str, Any]:
    shape = SIZES[size]["speed"]
    config = TrainConfig(epochs=2, data="synthetic", batch_size=shape["batch"])  # SGD 0.1, bf16 on CUDA
    task = BenchTask(DeviceSet(shape["images"], device, 1), DeviceSet(shape["test"], device, 2))
    arms: dict[str, Any] = {}
    plan: list[tuple[str, Callable[[], dict[str, Any]]]] = [
        ("eager bare loop", lambda: bare_loop(task.train_set, config, device, 1)),
        ("trainer", lambda: trainer_arm(task, "equal", config, device, 1)),
        ("trainer via oracle", lambda: trainer_arm(task, "equal", config, device, 1, True, LOSS_SUBMISSION)),
        ("pcgrad", lambda: trainer_arm(task, "pcgrad", config, device, 1)),
        ("cagrad", lambda: trainer_arm(task, "cagrad", config, device, 1)),
    ]
    if device.type == "cuda":
        plan.insert(1, ("graphed bare loop", lambda: graphed_bare_loop(task.train_set, config, device, 1)))
    else:
        arms["graphed bare loop"] = {"skipped": "n/a: CUDA graphs need CUDA"}
    for name, make in plan:
        if budget.over():
            arms[name] = {"skipped": "time budget spent"}
            continue
        started = time.perf_counter()
        arms[name] = guarded(make)
        arms[name]["seconds"] = round(time.perf_counter() - started, 2)
        print(f"speed {name}: {json.dumps({k: v for k, v in arms[name].items() if k != 'trace'})}", file=sys.stderr)

    def rate(name: str) -> float | None:
        return arms.get(name, {}).get("images_per_second")

    def ratio(top: str, bottom: str) -> float | None:
        a, b = rate(top), rate(bottom)
        return round(a / b, 3) if a and b else None

    step = {name: arms.get(name, {}).get("ms_per_step") for name in ("pcgrad", "cagrad")}
    trainer_epoch = arms.get("trainer", {}).get("epoch_seconds")
    return {
        "images": shape["images"],
        "batch_size": shape["batch"],
        "trainer_to_eager": ratio("trainer", "eager bare loop"),
        "trainer_to_graphed": ratio("trainer", "graphed bare loop"),
        "oracle_to_eager": ratio("trainer via oracle", "eager bare loop"),
        "cagrad_to_pcgrad": round(step["cagrad"] / step["pcgrad"], 3) if step["cagrad"] and step["pcgrad"] else None,
        # a 50,000-image epoch with its evaluation, times 200 (eager, the protocol's options off)
        "job_200_epochs_basis": "the trainer arm's epoch (evaluation included) x 50,000 / images x 200; eager, "
        "without the full preset's compile and fused SGD",
        "job_200_epochs_minutes": (
            round(trainer_epoch * 50_000 / shape["images"] * 200 / 60, 2) if trainer_epoch else None
        ),
        "arms": arms,
    }


def section_slots(size: str, device: torch.device, data_root: Path, budget: Budget) -> dict[str, Any]:
    shape = SIZES[size]["slots"]
    counts = shape[device.type] if device.type in shape else shape["cpu"]
    config = TrainConfig(epochs=2, data="synthetic", batch_size=shape["batch"])
    packed: dict[str, Any] = {}
    skipped = []
    for count in counts:
        if budget.over():
            skipped.append(str(count))
            continue
        started = time.perf_counter()
        packed.update(packed_arm(device, shape["images"], config, [count]))
        packed[str(count)]["seconds"] = round(time.perf_counter() - started, 1)
        print(f"slots {count}: {json.dumps(packed[str(count)])}", file=sys.stderr)
    one = packed[str(counts[0])]["images_per_second"]
    ratios = {count: round(value["images_per_second"] / one, 3) for count, value in packed.items()}
    for value in packed.values():
        value.pop("ratio_to_one_worker", None)
        value.pop("ratio_to_first", None)
    extra = {"skipped": f"time budget spent: {', '.join(skipped)} slots not run"} if skipped else {}
    return {
        **extra,
        "images_per_slot": shape["images"],
        "ratio_4": ratios.get("4"),
        "ratios": ratios,
        "peak_memory_mb_per_slot": {count: value["peak_memory_mb_per_worker"] for count, value in packed.items()},
        "slots": packed,
    }


def section_submit(size: str, device: torch.device, data_root: Path, budget: Budget) -> dict[str, Any]:
    seeds, slots = SIZES[size]["submit"]["cuda" if device.type == "cuda" else "cpu"]
    with tempfile.TemporaryDirectory(prefix="device-check-submit-") as scratch:
        results = Path(scratch) / "results"
        command = [
            sys.executable,
            str(ROOT / "runner.py"),
            "submit",
            str(LOSS_SUBMISSION),
            "--preset",
            "tiny",
            "--tasks",
            CIFAR,
            "--seeds",
            *[str(seed) for seed in range(seeds)],
            "--slots-per-device",
            str(slots),
            "--device",
            device.type,
            "--no-baselines",
            "--sandbox",
            "process",
            "--results",
            str(results),
            "--data-root",
            str(data_root),
            "--json",
        ]
        started = time.perf_counter()
        try:
            done = subprocess.run(
                command,
                capture_output=True,
                text=True,
                cwd=ROOT,
                timeout=max(budget.seconds - budget.spent(), 10),
            )
        except subprocess.TimeoutExpired:
            return {"returncode": None, "error": "submit ran past the section's budget", "command": " ".join(command)}
        seconds = round(time.perf_counter() - started, 1)
        records = sorted(str(path.relative_to(results)) for path in results.rglob("*.json") if "seed" in path.name)
    out: dict[str, Any] = {
        "returncode": done.returncode,
        "seconds": seconds,
        "seeds": seeds,
        "slots_per_device": slots,
        "records": len(records),
        "records_missing": seeds - len(records),
        "command": " ".join(command[1:]),
    }
    try:
        document = json.loads(done.stdout)
        out["verdict"] = document.get("verdict") if isinstance(document, dict) else None
    except json.JSONDecodeError:
        out["stdout_tail"] = done.stdout[-400:]
    if done.returncode != 0:
        out["error"] = done.stderr.strip()[-600:]
    return out


RUNNERS: dict[str, Callable[[str, torch.device, Path, Budget], dict[str, Any]]] = {
    "methods": section_methods,
    "repeat": lambda size, device, data_root, budget: {"error": "not started"},  # run_section collects Repeats
    "resume": section_resume,
    "speed": section_speed,
    "slots": section_slots,
    "submit": section_submit,
}


def run_sections(size: str, device: torch.device, sections: list[str], data_root: Path) -> dict[str, Any]:
    budgets = SIZES[size]["budget"]
    total = Budget(budgets["total"])
    report: dict[str, Any] = {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu ({os.cpu_count()} cores)",
        "device_type": device.type,
        "torch": torch.__version__,
        "size": size,
        "sections": {},
    }
    repeats = Repeats(size, device, data_root, budgets["repeat"]) if "repeat" in sections else None
    try:
        for name in sections:
            run_section(name, size, device, data_root, report, total, repeats)
    finally:
        if repeats is not None:
            repeats.stop()
    report["seconds"] = round(total.spent(), 1)
    report["summary"] = summary_rows(report)
    return report


def run_section(
    name: str,
    size: str,
    device: torch.device,
    data_root: Path,
    report: dict[str, Any],
    total: Budget,
    repeats: Repeats | None,
) -> None:
    budgets = SIZES[size]["budget"]
    if total.over():
        report[name] = {"skipped": f"the total budget of {budgets['total']} s was spent before it started"}
    else:
        print(f"section {name} ...", file=sys.stderr, flush=True)
        started = time.perf_counter()
        if name == "repeat" and repeats is not None:
            report[name] = guarded(repeats.collect)
        else:
            report[name] = guarded(lambda: RUNNERS[name](size, device, data_root, Budget(budgets[name])))
        report[name]["seconds"] = round(time.perf_counter() - started, 1)
    report["sections"][name] = {
        key: report[name][key] for key in ("seconds", "skipped", "error") if key in report[name]
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", help="cuda or cpu")
    parser.add_argument("--size", choices=sorted(SIZES), default="full")
    parser.add_argument("--sections", default=",".join(SECTIONS), help=f"a subset of {','.join(SECTIONS)}")
    parser.add_argument("--data-root", type=Path, default=None, help="default: a temporary folder")
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    parser.add_argument("--repeat-job", default=None, help=argparse.SUPPRESS)  # internal: one repeat's process
    args = parser.parse_args(argv)
    torch.set_float32_matmul_precision("high")  # as gpu_epoch.py and the slots' workers
    if args.repeat_job is not None:
        print(REPEAT_MARK + json.dumps(repeat_job(json.loads(args.repeat_job))), flush=True)
        return 0
    sections = [name for name in args.sections.split(",") if name]
    unknown = [name for name in sections if name not in RUNNERS]
    if unknown:
        parser.error(f"unknown sections {unknown}; choose from {','.join(SECTIONS)}")
    device = torch.device(args.device)
    if device.type == "cuda":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # the repeats' deterministic cuBLAS
    with tempfile.TemporaryDirectory(prefix="device-check-data-") as scratch:
        report = run_sections(args.size, device, sections, args.data_root or Path(scratch))
    if args.out:
        args.out.write_text(json.dumps(report, indent=1, default=str) + "\n")
    print(summary_text(report))
    failed = [row for row in report["summary"] if row["status"] == "fail"]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
