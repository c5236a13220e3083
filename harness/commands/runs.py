"""`submit`, `final` and `baselines`: plan the jobs once, hand them to the queue, and answer
with every job's outcome and, when they waited, the board (`RunOutput`). Progress goes to
stdout (the front doors send it to stderr when they answer with a document)."""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass
from typing import Literal

from harness import registry
from harness.api.errors import PluginError
from harness.api.records import RunRecord
from harness.api.sandbox import OracleLimits
from harness.api.task import Task
from harness.commands.dry_run import PlannedItem, dry_run_plan
from harness.commands.leaderboard import publish_board
from harness.commands.planning import (
    CONTROL_PRESETS,
    board_stem,
    chosen_tasks,
    execution,
    family_methods,
    job_device_type,
    plan_jobs,
    queue_root,
)
from harness.commands.requests import BaselinesRequest, JobsRequest, SubmitRequest
from harness.methods.resolve import (
    Method,
    check_submission,
    methods_for_task,
    refuse_file_as_baseline,
    submission_method,
    submit_baselines,
)
from harness.oracle.backends.base import cgroup_limits
from harness.oracle.choose import UNISOLATED, choose_sandbox
from harness.outputs import JobResult, LeaderboardOutput, RunOutput
from harness.queue.jobqueue import JobQueue
from harness.queue.local import Execution, all_recorded, run_planned
from harness.run.jobs import PlannedJob
from harness.store import record_path
from harness.submission_store import read_bounded, store_submission


@dataclass(frozen=True)
class RunAnswer:
    output: RunOutput
    board_text: str | None = None  # the board as markdown, when the command waited
    dry_run: list[PlannedItem] | None = None  # --dry-run: each planned job with its record or estimate
    error: str | None = None  # why the exit code is not 0, as one line


def submit(request: SubmitRequest) -> RunAnswer:
    """Train the file on the preset's jobs beside the seed's baselines (their missing jobs)."""
    refuse_file_as_baseline(request.entry_type)
    tasks = chosen_tasks(request.tasks)
    name = request.row_name
    job_device_type(request)  # fail fast on a bad --device
    how = execution(request)
    sandbox = choose_sandbox(request.sandbox, warn=lambda text: print(text, file=sys.stderr))
    held = cgroup_limits() if sandbox.name != "docker" else ""  # docker: the engine's cgroup
    if "rlimits only" in held:  # the run records say so too; say it before hours of training
        print(f"warning: oracle limits here: {held} (rlimits miss shared memory, tmpfs and children)", file=sys.stderr)
    # the workers this command starts run the process sandbox only because it was named here
    how = dataclasses.replace(how, allow_process=sandbox.name == UNISOLATED)
    # the file's bytes are read once, here: the check and every job run this stored copy and
    # must find those bytes in it (a dry run writes nothing and runs nothing: it reads the file),
    # at most request.max_file_bytes of them: a bigger file is refused unparsed, as one line
    stored = None
    if request.dry_run:
        read_bounded(request.file, request.max_file_bytes)
    else:
        stored = store_submission(request.file, queue_root(request.results), request.max_file_bytes)
    submissions = {
        task.name: submission_method(
            stored.path if stored else request.file,
            name,
            request.entry_type,
            task.loss_names,
            sandbox,
            OracleLimits(),
            check=False,
            shown_as=request.file,
            expected_sha256=stored.sha256 if stored else None,
        )
        for task in tasks.values()
    }
    planned = plan_jobs(with_baselines(submissions, tasks, request), tasks, request)
    if request.dry_run:  # no sandbox started: the plan and its cost only
        return _dry_run(request, planned, name)
    submission_jobs = [item for item in planned if item.method.spec.name == name]
    if not request.force and all_recorded(submission_jobs, request.results):
        # this exact file already trained every job: its check passed then, nothing is rerun
        print(f"submission {request.file} as {name!r}: every job already recorded, not checked again", flush=True)
    else:
        # the probe passes the losses positionally: one check per number of losses. A file the
        # check rejects leaves no run record (it never trained: no board row, and a rerun checks
        # it again); the front door reports the SubmissionError as one line
        for method in {len(m.loss_names): m for m in submissions.values()}.values():
            check_submission(method)
        print(f"submission {request.file} checked in the {sandbox.name} sandbox as {name!r}", flush=True)
    answer = _run(request, tasks, planned, how, name)
    failed = [job for job in answer.output.jobs if job.status == "failed" and job.method == name]
    if not failed:
        return answer
    error = f"{len(failed)} job(s) of {name} failed: {failed[0].error}"
    return dataclasses.replace(answer, output=_with_code(answer.output, 1), error=error)


def with_baselines(
    submissions: dict[str, Method], tasks: dict[str, Task], request: SubmitRequest
) -> dict[str, list[Method]]:
    """Per task: the seed's baselines that can run it (with a note for the others), and under
    `final` the task's single-task controls, then the submission."""
    names = submit_baselines() if request.baselines else ()
    if request.baselines:  # a method plugin that does not load may be one of them: say so
        for error in registry.methods.load_all()[1].values():
            print(f"warning: {error}", flush=True)
    controls = request.baselines and request.final  # the final preset's baseline set (not `submit`'s)
    warnings: dict[str, None] = {}
    methods: dict[str, list[Method]] = {}
    for task in tasks.values():
        own = [*names, *(family_methods("controls", task, warnings) if controls else ())]
        baselines, notes = methods_for_task(list(dict.fromkeys(own)), task.loss_names, task.name, strict=False)
        for note in notes:
            print(f"note: baseline {note}", flush=True)
        methods[task.name] = [*baselines, submissions[task.name]]
    for warning in warnings:
        print(f"warning: {warning}", flush=True)
    return methods


def baselines(request: BaselinesRequest) -> RunAnswer:
    """Train the registered methods (or those named, or the controls and frontier asked for)
    on the preset's jobs."""
    tasks = chosen_tasks(request.tasks)
    how = execution(request)
    planned = plan_jobs(baseline_methods(request, tasks), tasks, request)
    if request.dry_run:
        return _dry_run(request, planned, None)
    answer = _run(request, tasks, planned, how, None)
    if answer.output.failed and answer.output.leaderboard is not None:
        return dataclasses.replace(answer, output=_with_code(answer.output, 1))
    return answer


def baseline_methods(request: BaselinesRequest, tasks: dict[str, Task]) -> dict[str, list[Method]]:
    """Per task, the methods `baselines` trains on it. The names given with --only (a method
    family's member, such as single:fine, only on the tasks that have it; a name that no
    chosen task has is an error), else, without --controls and --frontier, every registered
    method that can run the task (a note for the others) and, under the full preset, the
    task's single-task controls; then the members of the families asked for: --controls the
    task's single-task controls, --frontier its fixed-weight frontier with its centre."""
    only = request.only or ()
    everything = not only and not request.controls and not request.frontier
    roles = [
        role
        for role, wanted in (
            ("controls", request.controls or (everything and request.preset in CONTROL_PRESETS)),
            ("frontier", request.frontier),
        )
        if wanted
    ]
    members = {name: family for name in only if (family := registry.family_of(name)) is not None}
    has = {
        task: {name for name in members if name in registry.members(members[name], tasks[task].loss_names)}
        for task in tasks
    }
    for name, family in members.items():
        if not any(name in found for found in has.values()):
            there = dict.fromkeys(m for task in tasks.values() for m in registry.members(family, task.loss_names))
            raise PluginError(
                f"unknown method {name!r}: no chosen task ({', '.join(tasks)}) has it; "
                f"their {family} methods: {', '.join(there) or 'none'}"
            )
    warnings: dict[str, None] = {}
    methods: dict[str, list[Method]] = {}
    for task in tasks.values():
        named = [name for name in only if name not in members or name in has[task.name]]
        for name in [name for name in members if name not in has[task.name]]:
            print(f"note: {name} left out on {task.name}: not one of its {members[name]} methods", flush=True)
        added = list(registry.methods.names()) if everything else []
        for role in roles:
            added.extend(family_methods(role, task, warnings))
        strict, _ = methods_for_task(list(dict.fromkeys(named)), task.loss_names, task.name, strict=True)
        rest = [name for name in dict.fromkeys(added) if name not in named]
        loose, notes = methods_for_task(rest, task.loss_names, task.name, strict=False)
        for note in notes:
            print(f"note: {note}", flush=True)
        methods[task.name] = [*strict, *loose]
    for warning in warnings:
        print(f"warning: {warning}", flush=True)
    return methods


def _run(
    request: JobsRequest, tasks: dict[str, Task], planned: list[PlannedJob], how: Execution, submission: str | None
) -> RunAnswer:
    """The planned jobs through the queue; when they waited, the board, written once."""
    queue = JobQueue(queue_root(request.results))
    records = run_planned(planned, tasks, queue, how)
    if records is None:
        return RunAnswer(run_output(request, planned, None, submission))
    stem = board_stem(request.results, request.preset, request.protocol.key)
    board = publish_board(request.results, request.preset, request.final, request.protocol, stem, request.tensorboard)
    output = run_output(request, planned, records, submission, board=board.output)
    if submission is not None:
        output = output.model_copy(update={"verdict": board.verdict(submission)})
    return RunAnswer(output, board_text=board.text)


def _dry_run(request: JobsRequest, planned: list[PlannedJob], submission: str | None) -> RunAnswer:
    """The plan: a recorded job `ok` with its record, the others `planned` with their estimates."""
    items, estimates = dry_run_plan(planned, request.results, request.force)
    records = [item.record for item in items if item.record is not None]
    seconds = {item.job.key: item.seconds for item in items if item.record is None}
    output = run_output(request, planned, records, submission, dry_run_seconds=seconds)
    output = output.model_copy(update={"dry_run": True, "estimates": estimates})
    return RunAnswer(output, dry_run=items)


def _with_code(output: RunOutput, code: int) -> RunOutput:
    return output.model_copy(update={"exit_code": code})


def run_output(
    request: JobsRequest,
    planned: list[PlannedJob],
    records: list[RunRecord] | None,
    submission: str | None,
    dry_run_seconds: dict[str, float | None] | None = None,
    board: LeaderboardOutput | None = None,
) -> RunOutput:
    """The document of submit, final and baselines: every planned job's outcome (`queued`
    without waiting; `planned` with its estimate in a dry run) and the board when they waited."""
    by_key = {record.key: record for record in records or []}
    waiting: Literal["planned", "queued"] = "planned" if dry_run_seconds is not None else "queued"
    jobs = []
    for item in planned:
        record = by_key.get(item.key)
        seconds = (dry_run_seconds or {}).get(item.key)
        jobs.append(
            JobResult(
                method=item.method.spec.name,
                task=item.job.task,
                arch=item.job.arch,
                seed=item.job.seed,
                variant=item.job.variant,
                status=waiting if record is None else ("ok" if record.status == "ok" else "failed"),
                primary_metric=record.primary_metric if record else None,
                best_primary=record.best_primary if record else None,
                error=record.error if record else None,
                record=str(record_path(request.results, record)) if record else None,
                estimated_device_hours=None if seconds is None else seconds / 3600,
            )
        )
    return RunOutput(
        command=request.command,
        exit_code=0,
        preset=request.preset,
        protocol=" | ".join(sorted({item.job.protocol.key for item in planned})) or request.protocol.key,
        submission=submission,
        jobs=jobs,
        failed=sum(job.status == "failed" for job in jobs),
        leaderboard=board,
        files=board.files if board is not None else [],
    )
