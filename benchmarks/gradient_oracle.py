"""What sandboxing a gradient-level method costs: PCGrad as a trusted combiner against the
same rule as a submission file (baselines/gradient_files/pcgrad.py) through the oracle,
on ResNet-20 with the fine and coarse heads, and the shared-memory round trip per MB.

    python benchmarks/gradient_oracle.py [--steps 10] [--batch-size 128] [--sandbox process]

Each arm trains `--steps` steps after two warm-up steps on one synthetic batch (forward,
the combiner's backward, the SGD step) in this process; the ratio is sandboxed over
trusted (target at most 1.3 on the CPU). The round trip puts (2, P) float32 gradients in
the segment and has a trivial GradientCombiner answer one of them, for P from 0.25 M to
16 M parameters. Prints one JSON object.
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

from baselines.pcgrad import PCGradCombiner  # noqa: E402
from harness.api.method import Combiner, StepContext  # noqa: E402
from harness.api.records import TrainConfig  # noqa: E402
from harness.api.sandbox import OracleLimits  # noqa: E402
from harness.methods.gradient_level import GradientLevelCombiner  # noqa: E402
from harness.oracle.choose import choose_sandbox  # noqa: E402
from harness.oracle.gradient_client import OracleGradientRunner  # noqa: E402
from tasks.cifar100_mtl.models import build_network  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
LOSSES = ("fine", "coarse")
ECHO = "class GradientCombiner:\n    def combine(self, grads, losses, epoch, total_epochs, step):\n        return grads[0]\n"


def step_time(make: Callable[[], Combiner], steps: int, batch: int) -> float:
    torch.manual_seed(0)
    model = build_network("resnet20", (100, 20))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    images = torch.randn(batch, 3, 32, 32)
    fine, coarse = torch.randint(0, 100, (batch,)), torch.randint(0, 20, (batch,))
    combiner = make()
    try:
        combiner.attach(model, 0)
        timings = []
        for step in range(steps + 2):
            started = time.perf_counter()
            outputs = model(images)
            losses = [
                torch.nn.functional.cross_entropy(outputs[0], fine),
                torch.nn.functional.cross_entropy(outputs[1], coarse),
            ]
            optimizer.zero_grad(set_to_none=True)
            combiner.backward(losses, StepContext(0, 10, 0.1))
            optimizer.step()
            if step >= 2:
                timings.append(time.perf_counter() - started)
    finally:
        combiner.close()
    return 1000 * sorted(timings)[len(timings) // 2]


def round_trip(sandbox_name: str, width: int, repeats: int = 5) -> float:
    """Median ms to put (2, width) gradients in the segment and get a (width,) answer back."""
    folder = Path(tempfile.mkdtemp(prefix="echo-"))
    echo = folder / "echo.py"
    echo.write_text(ECHO)
    sandbox = choose_sandbox(sandbox_name, warn=lambda text: None)
    runner = OracleGradientRunner(echo, LOSSES, TrainConfig(epochs=1), sandbox, OracleLimits(), "gradient")
    try:
        runner.attach(width, 0)
        grads = torch.randn(2, width)
        timings = []
        for step in range(repeats + 1):
            started = time.perf_counter()
            kind, answer = runner.combine(grads, [1.0, 1.0], StepContext(0, 1, 0.1), step)
            timings.append(time.perf_counter() - started)
            assert kind == "direction" and torch.equal(answer, grads[0])
    finally:
        runner.close()
    return 1000 * sorted(timings[1:])[len(timings[1:]) // 2]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--sandbox", default="process", help="process (default) or bwrap")
    parser.add_argument("--widths", type=int, nargs="+", default=[262_144, 1_048_576, 4_194_304, 16_777_216])
    args = parser.parse_args()
    sandbox = choose_sandbox(args.sandbox, warn=lambda text: None)
    pcgrad_file = ROOT / "baselines" / "gradient_files" / "pcgrad.py"
    trusted = step_time(PCGradCombiner, args.steps, args.batch_size)
    sandboxed = step_time(
        lambda: GradientLevelCombiner(
            OracleGradientRunner(pcgrad_file, LOSSES, TrainConfig(epochs=10), sandbox, OracleLimits(), "gradient")
        ),
        args.steps,
        args.batch_size,
    )
    trips = {}
    for width in args.widths:
        ms = round_trip(args.sandbox, width)
        megabytes = 3 * width * 4 / 2**20  # two gradient rows in, one answer row out
        trips[str(width)] = {"ms": round(ms, 3), "mb_moved": round(megabytes, 2), "ms_per_mb": round(ms / megabytes, 4)}
    result = {
        "device": "cpu",
        "threads": torch.get_num_threads(),
        "sandbox": sandbox.name,
        "pcgrad_ms_per_step": {"trusted": round(trusted, 1), "sandboxed": round(sandboxed, 1)},
        "ratio": round(sandboxed / trusted, 3),
        "target_ratio": 1.3,
        "round_trip": trips,
    }
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
