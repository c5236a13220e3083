"""The cache keys of every registered method on one fixed small job, and the kind each is
recorded with: `tests/unit/methods/test_method_keys.py` compares them with the fixture
this script wrote (`python -m tests.method_keys OUTPUT`), so that a change of the code
around the methods can be shown to leave the keys of users' cached records alone.

The job (the `tiny` preset's first job of cifar100-mtl, planned for cpu) and the harness
version are stored in the fixture and read back from it: the keys compared are the
methods' own (their source hashes and kinds), not the preset's or the version's.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from harness import HARNESS_VERSION, registry
from harness.api.records import JobSpec, MethodSpec, job_key
from harness.methods.resolve import registered_method
from harness.run.jobs import expand_jobs, plan

TASK = "cifar100-mtl"
PRESET = "tiny"
DEVICE_TYPE = "cpu"


def fixed_job() -> JobSpec:
    return expand_jobs(registry.tasks.get(TASK), PRESET, None, None)[0]


def method_keys(job: JobSpec, harness_version: str) -> dict[str, dict[str, str]]:
    """name -> the key of `job` (cpu) for the registered method, its kind and source hash."""
    task = registry.tasks.get(job.task)
    keys: dict[str, dict[str, str]] = {}
    for name in registry.methods.names():
        method = registered_method(name, task.loss_names, task.name)
        if harness_version == HARNESS_VERSION:  # the keys as jobs are planned
            (planned,) = plan(method, [job], DEVICE_TYPE)
            key = planned.key
        else:
            key = job_key(method.spec, job, harness_version, DEVICE_TYPE)
        keys[name] = {
            "key": key,
            "kind": str(method.spec.model_dump(mode="json")["kind"]),
            "source_sha256": method.spec.source_sha256,
        }
    return keys


FILE_KINDS = ("loss_module", "gradient_module", "gram_module", "gradient")


def spec_keys(job: JobSpec, harness_version: str) -> dict[str, str]:
    """kind -> the key of `job` for a submission of that kind with a fixed hash: the kinds of
    files that no registered method has are keyed as before too."""
    keys = {}
    for kind in FILE_KINDS:
        spec = MethodSpec.model_validate(
            {
                "name": "fixture",
                "entry_type": "submission",
                "kind": kind,
                "source_path": "x.py",
                "source_sha256": "0" * 64,
            }
        )
        keys[kind] = job_key(spec, job, harness_version, DEVICE_TYPE)
    return keys


def snapshot() -> dict[str, Any]:
    job = fixed_job()
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    return {
        "note": (
            f"cache keys of the registered methods at commit {commit}, written by tests/method_keys.py; "
            "tests/unit/methods/test_method_keys.py checks they are unchanged"
        ),
        "commit": commit,
        "harness_version": HARNESS_VERSION,
        "device_type": DEVICE_TYPE,
        "job": job.model_dump(mode="json"),
        "methods": method_keys(job, HARNESS_VERSION),
        "submission_kinds": spec_keys(job, HARNESS_VERSION),
    }


if __name__ == "__main__":
    out = Path(sys.argv[1])
    out.write_text(json.dumps(snapshot(), indent=2, sort_keys=True) + "\n")
    print(f"wrote {len(json.loads(out.read_text())['methods'])} methods to {out}")
