"""How many seeds a given effect needs, from measured spreads.

Reads a published per-seed leaderboard (default: MLS-Bench's CIFAR-100 rows for DWA, PCGrad
and uncertainty on three shared seeds, tests/fixtures/mls-bench-cv-multitask-loss.json),
pairs every two methods by seed, and pools the sample variance of their paired differences
per column. For that spread it prints the smallest difference n paired seeds detect (paired
t-test, α = 0.05, power 0.8, through the noncentral t) and the seeds an effect needs. The
README's table is this script's output.

    python benchmarks/seeds_needed.py [FILE.json] [--effects 0.25 0.5 1.0]
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import statistics
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.report.stats import minimum_detectable_difference, seeds_needed  # noqa: E402

DEFAULT = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "mls-bench-cv-multitask-loss.json"


def paired_spreads(path: Path) -> dict[str, tuple[float, int, int]]:
    """Per metric column: (pooled std of paired differences, pairs of methods, seeds)."""
    data = json.loads(path.read_text())
    values: dict[str, dict[str, dict[str, float]]] = defaultdict(lambda: defaultdict(dict))
    for row in data["rows"]:
        for column in data["metric_columns"]:
            if row.get(column) is not None:
                values[column][row["model"]][str(row["seed"])] = float(row[column])
    out = {}
    for column, methods in values.items():
        variances, seeds = [], 0
        for a, b in itertools.combinations(sorted(methods), 2):
            shared = sorted(set(methods[a]) & set(methods[b]))
            if len(shared) >= 2:
                variances.append(statistics.variance([methods[a][s] - methods[b][s] for s in shared]))
                seeds = max(seeds, len(shared))
        if variances:
            out[column] = (math.sqrt(statistics.fmean(variances)), len(variances), seeds)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", nargs="?", type=Path, default=DEFAULT, help="published per-seed rows (JSON)")
    parser.add_argument("--effects", nargs="+", type=float, default=[0.25, 0.5, 1.0], help="true differences")
    args = parser.parse_args(argv)
    print(f"spreads from {args.file.name}: paired t-test, alpha 0.05, power 0.8")
    header = ["column", "paired sd", "pairs x seeds", "detectable n=3", "detectable n=5", "detectable n=10"]
    header += [f"seeds for {effect:g}" for effect in args.effects]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for column, (spread, pairs, seeds) in sorted(paired_spreads(args.file).items()):
        detectable = [minimum_detectable_difference(spread, n) for n in (3, 5, 10)]
        needed = [seeds_needed(effect, spread) for effect in args.effects]
        cells = [column, f"{spread:.3f}", f"{pairs} x {seeds}"]
        cells += [f"{d:.2f}" if d is not None else "—" for d in detectable]
        cells += [str(n) if n is not None else "> 1000" for n in needed]
        print("| " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
