"""benchmarks/device_check.py: its bit-for-bit comparison finds a difference (the old repeat
check passed even when results differed), its summary judges targets where they apply, and
its CPU mode runs the cheap sections at tiny size."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.device_check import compare_exact, judge, summary_rows, summary_text

ROOT = Path(__file__).resolve().parents[2]


def result(value: float) -> dict[str, dict[str, list[str]]]:
    return {"equal": {"train_losses.fine": [(1.5).hex(), value.hex()], "test_metrics.acc": [(0.25).hex()]}}


def test_identical_repeats_compare_equal() -> None:
    compared = compare_exact([result(2.0), result(2.0)])
    assert compared["identical"] is True
    assert compared["mismatches"] == []


def test_a_one_ulp_difference_is_a_mismatch() -> None:
    other = float.fromhex((2.0).hex())
    nudged = float.fromhex("0x1.0000000000001p+1")  # the next double after 2.0
    assert nudged != other
    compared = compare_exact([result(2.0), result(nudged)])
    assert compared["identical"] is False
    assert "train_losses.fine epoch 1" in compared["mismatches"][0]
    assert 0 < compared["largest_difference"] < 1e-12


def test_missing_jobs_figures_epochs_and_errors_are_mismatches() -> None:
    base = result(2.0)
    assert not compare_exact([base, {}])["identical"]  # a job missing
    fewer = {"equal": {"train_losses.fine": [(1.5).hex()], "test_metrics.acc": [(0.25).hex()]}}
    assert not compare_exact([base, fewer])["identical"]  # an epoch missing
    failed = {"equal": {**base["equal"], "error": ["the run ended early"]}}
    assert not compare_exact([base, failed])["identical"]  # one ended with an error
    assert not compare_exact([base])["identical"]  # nothing to compare with


def test_judge() -> None:
    assert judge(0.95, ">=", 0.9) == "pass"
    assert judge(0.85, ">=", 0.9) == "fail"
    assert judge(1.4, "<=", 1.3) == "fail"
    assert judge(True, "==", 1) == "pass"
    assert judge(False, "==", 1) == "fail"
    assert judge(None, ">=", 0.9) == "n/a"
    assert judge(float("nan"), "<=", 1) == "fail"


def report(device_type: str) -> dict:
    return {
        "device_type": device_type,
        "device": device_type,
        "methods": {"count": 27, "failed": 0, "door_waits_per_step": 1, "cuda_syncs_per_step": 3},
        "repeat": {"identical": False},
        "speed": {"trainer_to_eager": 0.8, "trainer_to_graphed": 0.7, "cagrad_to_pcgrad": 1.2, "arms": {}},
        "sections": {"slots": {"skipped": "time budget spent"}},
    }


def test_the_summary_judges_speed_on_cuda_only_and_correctness_everywhere() -> None:
    for device_type in ("cuda", "cpu"):
        rows = {(row["section"], row["figure"]): row["status"] for row in summary_rows(report(device_type))}
        assert rows[("repeat", "repeats identical")] == "fail"  # differing repeats fail on every device
        assert rows[("methods", "door waits per step (max)")] == "pass"
        assert rows[("methods", "methods failed")] == "pass"
        assert ("resume", "resumes identical") not in rows  # a section not asked for is not shown
        cuda = device_type == "cuda"
        assert rows[("speed", "trainer / eager bare loop")] == ("fail" if cuda else "n/a")
        assert rows[("speed", "trainer / graphed bare loop")] == ("pass" if cuda else "n/a")
        assert rows[("speed", "cagrad step / pcgrad step")] == ("pass" if cuda else "n/a")
        assert rows[("speed", "oracle trainer / eager bare loop")] == "n/a"  # not measured
        assert rows[("methods", "CUDA syncs per step (max)")] == ("fail" if cuda else "n/a")
    assert "slots: time budget spent" in summary_text(report("cuda"))


@pytest.mark.slow  # 12 s on 2 idle cores, 54 s on busy ones
def test_the_cpu_mode_runs_its_cheap_sections(tmp_path: Path) -> None:
    """resume and speed at tiny size on the CPU (the whole tiny mode runs in .ci/run)."""
    out = tmp_path / "check.json"
    done = subprocess.run(
        [sys.executable, "benchmarks/device_check.py", "--device", "cpu", "--size", "tiny"]
        + ["--sections", "resume,speed", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    document = json.loads(out.read_text())
    assert document["resume"]["identical"] is True
    assert document["speed"]["arms"]["graphed bare loop"] == {"skipped": "n/a: CUDA graphs need CUDA"}
    assert document["speed"]["cagrad_to_pcgrad"] > 0
    assert "resumes identical" in done.stdout and "pass" in done.stdout


def test_the_sync_counter_counts_the_door_waits_of_each_step(tmp_path: Path) -> None:
    """equal on the CPU: one wait per step (its loss values), counted between two steps."""
    import torch

    from benchmarks.device_check import CIFAR, SyncCounter, run_job
    from harness import registry
    from harness.methods.resolve import registered_method

    counter = SyncCounter(torch.device("cpu"))
    method = registered_method("equal", registry.tasks.get(CIFAR).loss_names, CIFAR)
    with counter.counting() as on_step:
        outcome = run_job(method, "tiny", torch.device("cpu"), tmp_path, on_step=on_step, epochs=2)
    assert outcome.error is None
    assert counter.door == [1, 1]  # one window (steps 1 -> 2) in each of the 2 epochs
    assert counter.cuda == []
