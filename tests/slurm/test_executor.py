"""`--executor slurm` against the real test cluster: jobs go to Slurm in fixed bundles and
end with complete records, each exactly once; Slurm missing or unreachable is a one-line
error before anything is queued."""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest

from harness import registry
from harness.api.records import JobSpec, TrainConfig
from harness.methods.resolve import registered_method
from harness.queue.jobqueue import JobQueue
from harness.queue.local import Execution, run_planned
from harness.queue.slurm import SlurmOptions
from harness.run.jobs import plan
from tests.helpers import records as written_records
from tests.helpers import run_main, write_submission
from tests.slurm.test_cluster import final_state

TASK = registry.tasks.get("cifar100-mtl")
CONFIG = TrainConfig(epochs=1, batch_size=32, data="synthetic", train_size=64, test_size=32)


def test_ten_jobs_run_through_slurm_bundles_exactly_once(slurm_cluster: Path, tmp_path: Path, data_root: Path) -> None:
    jobs = [
        JobSpec(task=TASK.name, arch="resnet20", seed=seed, preset="slurm-test", config=CONFIG) for seed in range(10)
    ]
    planned = plan(registered_method("equal", TASK.loss_names), jobs, "cpu")
    results = tmp_path / "results"
    queue = JobQueue(results / "queue")
    how = Execution(results, data_root, "cpu", slots_per_device=4, slurm=SlurmOptions(cpus_per_job=1))
    records = run_planned(planned, {TASK.name: TASK}, queue, how)
    assert records is not None and sorted(r.key for r in records) == sorted(p.key for p in planned)
    assert all(r.status == "ok" and len(r.epochs) == 1 for r in records)
    files = list((results / "runs").rglob("*.json"))
    assert len(files) == 10  # each job recorded once
    entries = queue.entries("done")
    assert sorted(e.key for e in entries) == sorted(p.key for p in planned)
    assert all(e.attempts == 1 for e in entries)  # and run once
    bundles: dict[str, list[str]] = {}
    for entry in entries:
        assert entry.slurm_job is not None
        bundles.setdefault(entry.slurm_job, []).append(entry.key)
    assert sorted(len(keys) for keys in bundles.values()) == [2, 4, 4]  # bundles of four and the rest
    assert len({job.partition("_")[0] for job in bundles}) == 1  # the tasks of one job array: one sbatch
    assert [final_state(job) for job in bundles] == ["COMPLETED"] * 3


def test_submit_with_the_slurm_executor_end_to_end_with_a_config_file(
    slurm_cluster: Path, tmp_path: Path, data_root: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`runner.py submit --executor slurm` as a user runs it: the options come from the
    config file, a flag overrides one of them, and the submit waits and prints the board."""
    config = tmp_path / "slurm.toml"
    config.write_text('partition = "debug"\ntime = 17\ncpus-per-job = 1\n[opt]\nmem = "300M"\n')
    results = tmp_path / "results"
    code, out, err = run_main(
        capsys, monkeypatch, "submit", "submissions/example_loss.py", "--preset", "tiny", "--tasks", TASK.name,
        "--no-baselines", "--sandbox", "process", "--executor", "slurm", "--slurm-config", config,
        "--slurm-time", "19", "--results", results, "--data-root", data_root,
    )  # fmt: skip
    assert code == 0, err
    assert "example_loss" in out and "leaderboard" in out.lower()
    (record,) = written_records(results)
    assert record["status"] == "ok"
    (entry,) = JobQueue(results / "queue").entries("done")
    fields = subprocess.run(
        ["sacct", "-n", "-X", "-P", "-j", str(entry.slurm_job), "-o", "Partition,Timelimit,ReqMem"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    assert fields == "debug|00:19:00|300M"  # the file's values, the flag's time


def test_arrays_split_at_max_array_size_and_a_second_submit_adds_no_slurm_job(
    slurm_cluster: Path, tmp_path: Path, data_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Five bundles with MaxArraySize 2: arrays of 2, 2 and a plain job; submitting again
    (after Ctrl-C, say) hands none of the held jobs to Slurm a second time."""
    from harness.queue.slurm import cancel_bundles

    monkeypatch.setattr("harness.queue.slurm.max_array_size", lambda: 2)
    jobs = [
        JobSpec(task=TASK.name, arch="resnet20", seed=seed, preset="slurm-test", config=CONFIG) for seed in range(5)
    ]
    planned = plan(registered_method("equal", TASK.loss_names), jobs, "cpu")
    results = tmp_path / "results"
    queue = JobQueue(results / "queue")
    held = SlurmOptions(cpus_per_job=1, extra={"begin": "now+3600"})  # none starts: only the hand-over
    how = Execution(results, data_root, "cpu", wait=False, slurm=held)
    run_planned(planned, {TASK.name: TASK}, queue, how)
    ids = [entry.slurm_job for entry in sorted(queue.entries("pending"), key=lambda e: e.job.seed)]
    assert all(ids) and len(set(ids)) == 5
    arrays = [job.partition("_")[0] for job in ids]  # type: ignore[union-attr]
    assert arrays[0] == arrays[1] != arrays[2] == arrays[3] != arrays[4] and "_" not in str(ids[4])
    run_planned(planned, {TASK.name: TASK}, queue, how)  # again
    assert [entry.slurm_job for entry in sorted(queue.entries("pending"), key=lambda e: e.job.seed)] == ids
    live = subprocess.run(["squeue", "-h", "-r", "-o", "%i"], capture_output=True, text=True, check=True).stdout.split()
    first = min(int(job) for job in arrays)  # jobs of earlier tests may still be leaving the queue
    assert sorted(j for j in live if int(j.partition("_")[0]) >= first) == sorted(ids)  # five Slurm jobs, not ten
    queue.cancel("equal")
    cancel_bundles(queue, [str(job) for job in ids])
    assert all(final_state(str(job)).startswith("CANCELLED") for job in ids)


def test_sbatch_missing_is_a_one_line_error_before_queueing(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    results = tmp_path / "results"
    code, _, err = run_main(
        capsys, monkeypatch, "baselines", "--preset", "tiny", "--only", "equal", "--executor", "slurm",
        "--results", results, "--data-root", tmp_path / "data",
    )  # fmt: skip
    assert code == 2 and err.strip().count("\n") == 0
    assert "sbatch is not on PATH" in err
    assert not (results / "queue").exists() or not any((results / "queue" / "pending").iterdir())


@pytest.mark.skipif(shutil.which("sinfo") is None, reason="the Slurm client is not installed")
def test_unreachable_slurm_is_a_one_line_error_before_queueing(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    conf = tmp_path / "slurm.conf"
    # MessageTimeout=1: the client gives up at once instead of retrying for 9 s; the answer is the same
    conf.write_text(
        "ClusterName=nowhere\nSlurmctldHost=localhost\nSlurmctldPort=9\nAuthType=auth/none\nMessageTimeout=1\n"
    )
    monkeypatch.setenv("SLURM_CONF", str(conf))
    results = tmp_path / "results"
    code, _, err = run_main(
        capsys, monkeypatch, "baselines", "--preset", "tiny", "--only", "equal", "--executor", "slurm",
        "--results", results, "--data-root", tmp_path / "data",
    )  # fmt: skip
    assert code == 2 and err.strip().count("\n") == 0, err
    assert "Slurm does not answer" in err
    assert not (results / "queue").exists() or not any((results / "queue" / "pending").iterdir())


def test_status_shows_slurm_jobs_and_cancel_leaves_none_behind(
    slurm_cluster: Path, tmp_path: Path, data_root: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    long = CONFIG.model_copy(update={"epochs": 50})  # still running when cancelled
    jobs = [JobSpec(task=TASK.name, arch="resnet20", seed=seed, preset="slurm-test", config=long) for seed in range(4)]
    planned = plan(registered_method("equal", TASK.loss_names), jobs, "cpu")
    results = tmp_path / "results"
    queue = JobQueue(results / "queue")
    how = Execution(results, data_root, "cpu", slots_per_device=2, wait=False, slurm=SlurmOptions(cpus_per_job=1))
    assert run_planned(planned, {TASK.name: TASK}, queue, how) is None
    slurm_jobs = sorted({entry.slurm_job for entry in queue.entries("pending") + queue.entries("running")})
    assert len(slurm_jobs) == 2 and None not in slurm_jobs

    capsys.readouterr()
    code, out, _ = run_main(capsys, monkeypatch, "status", "--results", results)
    assert code == 0
    for job in slurm_jobs:
        assert any(f"| {job} " in line and ("PENDING" in line or "RUNNING" in line) for line in out.splitlines()), out

    code, out, _ = run_main(capsys, monkeypatch, "cancel", "equal", "--results", results)
    assert code == 0 and "cancelled 4 job(s)" in out and f"Slurm job(s) {', '.join(slurm_jobs)}" in out
    assert all(final_state(job).startswith("CANCELLED") for job in slurm_jobs)  # nothing left in Slurm
    assert queue.counts()["cancelled"] == 4
    assert not list((results / "runs").rglob("*.json"))


def comparable(record) -> list[dict]:  # type: ignore[no-untyped-def]
    return [log.model_dump(exclude={"seconds", "images_per_second"}) for log in record.epochs]


@pytest.mark.parametrize(
    "interruption",
    ["scontrol requeue", "preemption signal", pytest.param("time limit", marks=pytest.mark.slow)],  # 2.5 min
)
def test_a_requeued_slurm_job_resumes_to_the_numbers_of_an_uninterrupted_run(
    interruption: str, slurm_cluster: Path, tmp_path: Path, data_root: Path
) -> None:
    """Mid-run, Slurm requeues the bundle (`scontrol requeue`), or sends the preemption
    signal that submitit catches (USR2: it checkpoints the bundle, requeues it itself and
    exits, stopping the worker's process group); the bundle starts again, its worker hands
    the earlier run's job back at once and it resumes from its epoch checkpoint (DWA, whose
    loss weights depend on the earlier epochs), ending exactly as a run never stopped. With
    a 2-minute time limit, submitit's signal comes 90 s before it: the same path, counted as
    a timeout (`slow`: the job must outlast 30 s)."""
    import io

    import torch

    from harness.run.jobs import run_job
    from harness.run.progress import JobProgress

    # the time limit's job must outlast the first window before submitit's signal (30 s after a
    # start; Slurm may send it earlier, never later) and end within the windows of the runs
    # that follow (3 starts at most): 32 epochs of 256 images, 32 s of training on one core of
    # an idle 2-core EPYC (24 epochs took 23.8 s there, and one CI run finished them before
    # the signal), up to about 47 s on a loaded one (each window leaves about 20 s after the
    # start-up)
    epochs = 32 if interruption == "time limit" else 10
    config = CONFIG.model_copy(update={"epochs": epochs, "train_size": 256 if interruption == "time limit" else 64})
    job = JobSpec(task=TASK.name, arch="resnet20", seed=7, preset="slurm-test", config=config)
    planned = plan(registered_method("dwa", TASK.loss_names), [job], "cpu")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the bundle's one slot on its one CPU: CPU sums depend on the thread count
    try:
        reference = run_job(
            planned[0],
            TASK,
            torch.device("cpu"),
            data_root,
            tmp_path / "reference",
            JobProgress("r", epochs, io.StringIO()),
        )
    finally:
        torch.set_num_threads(threads)
    other = JobSpec(task=TASK.name, arch="resnet20", seed=8, preset="slurm-test", config=CONFIG)
    planned += plan(registered_method("equal", TASK.loss_names), [other], "cpu")  # two bundles: an array
    results = tmp_path / "results"
    queue = JobQueue(results / "queue")
    minutes = 2 if interruption == "time limit" else 240
    how = Execution(results, data_root, "cpu", slurm=SlurmOptions(cpus_per_job=1, time_minutes=minutes))
    outcome: dict[str, object] = {}

    def submit_and_wait() -> None:  # as `submit` does: it must keep waiting through the requeue
        try:
            outcome["records"] = run_planned(planned, {TASK.name: TASK}, queue, how)
        except Exception as exc:  # noqa: BLE001 - reported by the assert below
            outcome["error"] = exc

    waiting = threading.Thread(target=submit_and_wait)
    waiting.start()
    key = planned[0].key
    checkpoint = queue.checkpoint_path(key)
    deadline = time.monotonic() + 120
    while not checkpoint.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert checkpoint.exists(), "no checkpoint appeared"
    (entry,) = [e for e in queue.entries("running") if e.key == key]
    assert entry.slurm_job is not None and "_" in entry.slurm_job  # an array task, named by its worker
    if interruption == "scontrol requeue":
        subprocess.run(["scontrol", "requeue", entry.slurm_job], check=True, capture_output=True)
    elif interruption == "preemption signal":
        subprocess.run(["scancel", "--signal=USR2", entry.slurm_job], check=True, capture_output=True)
    waiting.join(timeout=300)
    assert not waiting.is_alive() and "error" not in outcome, outcome.get("error")
    records = {record.key: record for record in outcome["records"]}  # type: ignore[attr-defined]
    assert sorted(records) == sorted(item.key for item in planned)
    (done,) = [e for e in queue.entries("done") if e.key == key]
    assert "requeued" in (done.last_error or "")
    assert done.attempts == 2 or (interruption == "time limit" and done.attempts >= 2)  # one start per run
    assert done.slurm_job == entry.slurm_job  # the same array task, run again
    resumed = records[key]
    assert resumed.status == "ok" and comparable(resumed) == comparable(reference)
    assert reference.epochs[-1].task_weights["fine"] != 1.0  # DWA's history mattered
    if interruption != "scontrol requeue":  # submitit's own path took it, not a kill
        logs = "".join(path.read_text() for path in (results / "queue" / "slurm").rglob(f"{entry.slurm_job}_*log.err"))
        case = "preempted" if interruption == "preemption signal" else "timed-out"
        assert "Caught signal SIGUSR2" in logs and f"this job is {case}" in logs


def test_a_submission_that_raises_fails_once_without_retries(
    slurm_cluster: Path, tmp_path: Path, data_root: Path
) -> None:
    from harness.api.sandbox import OracleLimits
    from harness.methods.resolve import submission_method
    from harness.oracle.choose import choose_sandbox

    path = write_submission(
        tmp_path,
        "import torch\n"
        "class MultiTaskLoss(torch.nn.Module):\n"
        "    def forward(self, fine_loss, coarse_loss, epoch, total_epochs):\n"
        "        if total_epochs == 3 and epoch >= 1:  # not in the check's probe\n"
        "            raise ValueError('broken on purpose')\n"
        "        return fine_loss + coarse_loss\n",
    )
    method = submission_method(
        path, "raiser", "submission", TASK.loss_names, choose_sandbox("process", warn=print), OracleLimits()
    )
    job = JobSpec(
        task=TASK.name, arch="resnet20", seed=0, preset="slurm-test", config=CONFIG.model_copy(update={"epochs": 3})
    )
    planned = plan(method, [job], "cpu")
    results = tmp_path / "results"
    queue = JobQueue(results / "queue")
    how = Execution(results, data_root, "cpu", slurm=SlurmOptions(), allow_process=True)  # the process sandbox, named
    records = run_planned(planned, {TASK.name: TASK}, queue, how)
    assert records is not None and [r.status for r in records] == ["failed"]
    assert "broken on purpose" in (records[0].error or "") and len(records[0].epochs) == 1
    (entry,) = queue.entries("failed")
    assert entry.attempts == 1  # the submission's own error: no retry
    assert final_state(str(entry.slurm_job)) == "COMPLETED"  # and Slurm did not run the bundle again
