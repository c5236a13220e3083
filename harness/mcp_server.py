"""The MCP server: the Python API's commands as tools for agents, over stdio
(`mtl-bench mcp`, which runs `python -m harness.mcp_server`; needs the `mcp` extra).

Tools: `validate`, `submit`, `status`, `leaderboard`, `plugins`. Each calls the Python API
(harness/python_api.py), never the CLI, and answers with the same pydantic document
(harness/outputs.py) as structured content under `result`: the command's model, or an
`ErrorOutput` for a user's error (a missing or broken file, a bad argument); `exit_code`
says which (0 ok, 1 a job or check failed, 2 bad input). A harness bug is the tool's error
result, never a broken protocol.

The loop of an agent: `validate` a file; `submit` it (`wait` off by default: the jobs
without a record are queued, as with the CLI's --no-wait, and this server starts a local
worker on the queue in the background, which exits once the queue is empty); poll `status`
until no job is pending or running; then `submit` the same arguments with `wait=true`, which
trains nothing once every job is recorded and returns each job's outcome and the board (or
read the board with `leaderboard`).

stdout carries the protocol alone: the SDK points file descriptor 1 at stderr while it
serves, the Python API does the same around each call, and the workers this server starts
write to its stderr.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from harness import python_api
from harness.api.errors import HarnessError
from harness.api.records import Protocol
from harness.outputs import (
    ErrorOutput,
    LeaderboardOutput,
    PluginsOutput,
    RunOutput,
    StatusOutput,
    ValidationOutput,
    error_output,
)
from harness.version import HARNESS_VERSION

INSTRUCTIONS = """Benchmark a multi-task loss (a MultiTaskLoss file, see submissions/example_loss.py) against
the baselines. validate(path) checks the file in its sandbox in seconds. submit(path, preset="tiny" or
"smoke", ...) queues its training jobs and starts a local worker; poll status(results) until no job is
pending or running, then call submit again with the same arguments and wait=true: it trains nothing more and
returns each job's outcome and the board (leaderboard(results, preset) shows the board alone). Every answer has an
exit_code: 0 ok, 1 a job or check failed, 2 bad input (an ErrorOutput with error.kind and error.message)."""

_workers: dict[Path, subprocess.Popen] = {}  # the local worker this server started per results folder
_worker_settings: dict[Path, tuple[str, bool]] = {}  # its device and whether it may run the process sandbox
_workers_lock = threading.Lock()


def validate(
    path: str,
    task: str | None = None,
    sandbox: str | None = None,
    epochs: int = 5,
    steps: int = 20,
    max_file_size: str | None = None,
) -> ValidationOutput | ErrorOutput:
    """Run the submission file in its sandbox on a synthetic loss trajectory (a loss-level file) or on
    synthetic conflicting gradients (a gradient-level file), in seconds: per-epoch weights or coefficients,
    problems and warnings. exit_code 0: no problems; 1: problems; 2: the file cannot run. max_file_size: a
    bigger file is refused unread ('2MiB'; default 1 MiB)."""
    return python_api.validate(
        path, task=task, sandbox=sandbox, epochs=epochs, steps=steps, max_file_size=max_file_size
    )


def submit(
    path: str,
    preset: str = "smoke",
    tasks: list[str] | None = None,
    archs: list[str] | None = None,
    seeds: list[int] | None = None,
    results: str = "results",
    name: str | None = None,
    baselines: bool = True,
    sandbox: str | None = None,
    device: str = "auto",
    data_root: str | None = None,
    epochs: int | None = None,
    train_fraction: float | None = None,
    heldout: bool = False,
    dry_run: bool = False,
    wait: bool = False,
    max_file_size: str | None = None,
) -> RunOutput | ErrorOutput:
    """Train the submission file on the preset's jobs beside the baselines' missing jobs. Presets: tiny (a
    pipeline check in seconds), smoke (minutes on a CPU), screen, dev, full. wait=false (the default): every
    planned job is listed `queued` (none waited for), a local worker starts in the background on the jobs
    without a record, and the answer comes at once; poll `status`, then submit again with wait=true: once
    every job is recorded it returns at once with each job's outcome (ok or failed, its primary metric, its
    record) and the preset's board. wait=true on jobs not yet recorded trains them before answering (minutes
    or more). epochs/train_fraction make it a screening run, heldout scores a validation split (ranked
    apart); dry_run: the plan and its device-hours."""
    answer = python_api.submit(
        path,
        preset=preset,
        tasks=tasks,
        archs=archs,
        seeds=seeds,
        results=results,
        name=name,
        baselines=baselines,
        sandbox=sandbox,
        device=device,
        data_root=data_root,
        epochs=epochs,
        train_fraction=train_fraction,
        heldout=heldout,
        dry_run=dry_run,
        wait=wait,
        max_file_size=max_file_size,
    )
    if isinstance(answer, RunOutput) and any(job.status == "queued" for job in answer.jobs):
        queue = python_api.status(results)  # `queued` lists every planned job: a worker only for what is left
        if isinstance(queue, StatusOutput) and (queue.counts.get("pending") or queue.counts.get("running")):
            ensure_worker(Path(results), device, allow_process=sandbox == "process")
    return answer


def status(results: str = "results") -> StatusOutput | ErrorOutput:
    """The job queue under the results folder: counts per state (pending, running, done, failed, cancelled)
    and every job's state, epochs done, attempts and worker. Poll it after submit until nothing is pending
    or running."""
    answer = python_api.status(results)
    if isinstance(answer, StatusOutput) and (answer.counts.get("pending") or answer.counts.get("running")):
        restart_worker(Path(results))  # the worker this server started ended with jobs left: another one
    return answer


def leaderboard(
    results: str = "results",
    preset: str | None = None,
    final: bool = False,
    epochs: int | None = None,
    train_fraction: float | None = None,
    heldout: bool = False,
) -> LeaderboardOutput | ErrorOutput:
    """The board of a preset (default smoke) from the run records under the results folder: per method and
    task/architecture column the values over seeds, mean and 95% interval, the tests against equal weighting,
    the tuned fixed weights and the best baseline, ranks, and each entry's verdict. epochs/train_fraction/
    heldout: the board of the runs under that screening or held-out protocol."""
    try:
        protocol = python_api.request_of(
            Protocol, epochs=epochs, train_fraction=train_fraction, evaluation="heldout" if heldout else "test"
        )
    except HarnessError as exc:
        return error_output("leaderboard", exc.exit_code, "bad-input", str(exc))
    return python_api.leaderboard(results=results, preset=preset, final=final, protocol=protocol)


def plugins() -> PluginsOutput | ErrorOutput:
    """What is registered: the tasks (their losses, architectures and metrics), the methods (the baselines),
    the method families and their members per task, and the sandboxes, each loaded or broken (with its error)."""
    return python_api.plugins()


TOOLS = (validate, submit, status, leaderboard, plugins)


def ensure_worker(results: Path, device: str, allow_process: bool) -> None:
    """A local worker on the queue under `results`, unless the one this server started there
    still runs: it runs every job it may and exits once the queue is empty."""
    key = results.resolve()
    with _workers_lock:
        _worker_settings[key] = (device, allow_process)
        running = _workers.get(key)
        if running is not None and running.poll() is None:
            return
        _start_worker(key)


def restart_worker(results: Path) -> None:
    """Another worker where the one this server started has ended while jobs are left."""
    key = results.resolve()
    with _workers_lock:
        running = _workers.get(key)
        if running is not None and running.poll() is not None:
            _start_worker(key)


def _start_worker(results: Path) -> None:
    from harness.queue.local import Execution, worker_command

    device, allow_process = _worker_settings[results]
    try:
        command = worker_command(Execution(results, Path(), device, allow_process=allow_process))
    except HarnessError as exc:  # e.g. --device cuda on a machine without one: the jobs wait for other workers
        print(f"mcp: no local worker for {results}: {exc}", file=sys.stderr, flush=True)
        return
    print(f"mcp: starting a worker: {' '.join(command)}", file=sys.stderr, flush=True)
    # its output on our stderr (stdout is the protocol's); its own session, so that it finishes
    # the queued jobs even if the client stops this server
    _workers[results] = subprocess.Popen(
        command, stdin=subprocess.DEVNULL, stdout=sys.stderr.fileno(), start_new_session=True
    )


def build_server() -> Any:
    """The MCPServer with the tools (structured output: the documents' JSON)."""
    from mcp.server.mcpserver import MCPServer

    server = MCPServer("mtl-bench", instructions=INSTRUCTIONS, version=HARNESS_VERSION)
    for tool in TOOLS:
        server.add_tool(tool, structured_output=True)
    return server


def main() -> None:
    build_server().run("stdio")


if __name__ == "__main__":
    main()
