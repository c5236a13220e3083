"""Time CAGrad's host-side solve, the old torch-tensor path against the plain-float one
(issue 34), on the Gram matrices of random conflicting gradients, in one run.

    python benchmarks/cagrad_solver.py [--tasks 2 3 8] [--matrices 20] [--repeats 5]

For each T: `--matrices` Gram matrices (T gradients of 1,000 parameters around a shared
mean, at norms 1e-3 to 1e2), each solved `--repeats` times by each path; prints the median
milliseconds per step of each path over all solves, their ratio and the largest difference
between their coefficients. Then one whole CAGrad direction on the CPU (Gram matrix,
solve, d = coefficients @ grads) for T gradients of `--parameters` parameters, old and new.
The old path is kept here as it was: `old_coefficients` below, on baselines/solvers.py's
`cagrad_weights` (unchanged: the new path falls back on it where its answer is not clear-cut).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from baselines.cagrad import C, cagrad_coefficients  # noqa: E402
from baselines.gradient_base import host_gram  # noqa: E402
from baselines.solvers import cagrad_weights  # noqa: E402


def old_coefficients(gram: torch.Tensor, c: float = C) -> torch.Tensor:
    """baselines/cagrad.py's `cagrad_coefficients` before issue 34: torch tensors throughout."""
    gram = gram.double()
    count = gram.shape[0]
    w = cagrad_weights(gram, c)
    root_phi = c * torch.sqrt(gram.mean() + 1e-8) + 1e-8
    gw_norm = torch.sqrt((w @ gram @ w).clamp_min(0.0))
    lam = root_phi / (gw_norm + 1e-8)
    return count * (torch.full((count,), 1.0 / count, dtype=torch.float64) + lam * w) / (1 + c**2)


def gradients(tasks: int, parameters: int, generator: torch.Generator) -> torch.Tensor:
    shared = torch.randn(1, parameters, generator=generator)
    spread = torch.rand(1, generator=generator) * 2
    grads = shared + spread * torch.randn(tasks, parameters, generator=generator)
    return grads * 10 ** float(torch.empty(1).uniform_(-3, 2, generator=generator))


def per_call_ms(solve: Callable[[], object], repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        solve()
        times.append((time.perf_counter() - start) * 1e3)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, nargs="+", default=[2, 3, 8])
    parser.add_argument("--matrices", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--parameters", type=int, default=100_000, help="for the whole direction")
    args = parser.parse_args()
    torch.set_num_threads(1)
    generator = torch.Generator().manual_seed(0)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"torch {torch.__version__}, 1 thread, {os.cpu_count()} CPUs, load average {load}")
    print(f"median ms per step over {args.matrices} x {args.repeats} solves")
    print(f"{'T':>3} {'old ms':>9} {'new ms':>9} {'old/new':>8} {'max |coef diff|':>16}")
    for tasks in args.tasks:
        old_times: list[float] = []
        new_times: list[float] = []
        largest = 0.0
        for _ in range(args.matrices):
            grads = gradients(tasks, 1000, generator).double()
            gram = grads @ grads.T
            old, new = old_coefficients(gram), cagrad_coefficients(gram)  # warm
            largest = max(largest, float((old - new).abs().max()))
            old_times += per_call_ms(partial(old_coefficients, gram), args.repeats)
            new_times += per_call_ms(partial(cagrad_coefficients, gram), args.repeats)
        old_ms, new_ms = statistics.median(old_times), statistics.median(new_times)
        print(f"{tasks:>3} {old_ms:>9.3f} {new_ms:>9.3f} {old_ms / new_ms:>8.1f} {largest:>16.2e}")
    print(f"whole direction on the CPU (Gram matrix, solve, coefficients @ grads), P = {args.parameters:,}, float32:")
    for tasks in args.tasks:
        grads = gradients(tasks, args.parameters, generator)
        rows = []
        for name, coefficients in (("old", old_coefficients), ("new", cagrad_coefficients)):

            def step(
                coefficients: Callable[[torch.Tensor], torch.Tensor] = coefficients, grads: torch.Tensor = grads
            ) -> torch.Tensor:
                return coefficients(host_gram(grads)).to(grads.dtype) @ grads

            step()
            rows.append(f"{name} {statistics.median(per_call_ms(step, 5 * args.repeats)):.3f} ms")
        print(f"  T = {tasks}: " + ", ".join(rows))


if __name__ == "__main__":
    main()
