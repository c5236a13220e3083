"""Where results came from: a summary of the runs behind a table (versions, commits,
devices, sandbox, seeds, wall time and device-hours)."""

from __future__ import annotations

from dataclasses import dataclass

from harness.api.records import RunRecord


@dataclass(frozen=True)
class Provenance:
    """What the footer says about the runs behind a board."""

    jobs: int
    wall_hours: float
    device_hours: float
    mean_job_seconds: float
    presets: list[str]
    seeds: list[int]
    harness: list[str]  # "0.1.0 @ commit"
    libraries: list[str]  # "torch 2.14.1, torchvision 0.29.1, python 3.11.2"
    devices: list[str]
    sandboxes: list[str]

    def lines(self) -> list[str]:
        if not self.jobs:
            return ["No runs of this harness behind this table."]
        return [
            f"{self.jobs} jobs; wall time {self.wall_hours:.3f} h, {self.device_hours:.3f} device-hours "
            f"(mean {self.mean_job_seconds:.0f} s per job).",
            f"Preset {', '.join(self.presets)}; seeds {', '.join(map(str, self.seeds))}.",
            f"Harness {'; '.join(self.harness)}; {'; '.join(self.libraries)}.",
            f"Devices: {'; '.join(self.devices)}. Sandbox: {'; '.join(self.sandboxes)}.",
        ]


def provenance(runs: list[RunRecord]) -> Provenance:
    def distinct(values: list[str]) -> list[str]:
        return sorted(set(values))

    wall = sum(r.wall_seconds for r in runs)
    return Provenance(
        jobs=len(runs),
        wall_hours=wall / 3600,
        device_hours=sum(r.device_hours or r.wall_seconds / 3600 for r in runs),
        mean_job_seconds=wall / len(runs) if runs else 0.0,
        presets=distinct([r.job.preset for r in runs]),
        seeds=sorted({r.job.seed for r in runs}),
        harness=distinct([f"{r.environment.harness} @ {r.environment.git_commit}" for r in runs]),
        libraries=distinct(
            [
                f"torch {r.environment.torch}, torchvision {r.environment.torchvision}, python {r.environment.python}"
                for r in runs
            ]
        ),
        devices=distinct([f"{r.environment.device} ({r.environment.device_name})" for r in runs]),
        sandboxes=distinct([r.environment.sandbox for r in runs]),
    )
