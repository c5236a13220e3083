"""Command-line options the subcommands share, and the one place where arguments become a
command's typed request (harness/commands/requests.py): `submit_request`,
`baselines_request`, `leaderboard_request`, `validate_request`. Light on purpose: it imports
no torch, so `--help` stays instant; plugins are read only where their options are needed."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness import registry
from harness.api.errors import HarnessError
from harness.commands.requests import (
    DEFAULT_DATA,
    DEFAULT_RESULTS,
    MAX_FILE_ENV,
    PRESETS,
    BaselinesRequest,
    LeaderboardRequest,
    SlurmRequest,
    SubmitRequest,
    ValidateRequest,
    default_max_file_bytes,
    parse_size,
    unknown_preset,
)

if TYPE_CHECKING:
    from harness.api.records import Protocol
    from harness.api.task import TaskOption
    from harness.queue.jobqueue import JobQueue


def split_list(values: list[str] | None) -> list[str] | None:
    """`--x a b,c` -> [a, b, c]; None when not given."""
    if not values:
        return None
    return [item for value in values for item in value.split(",") if item]


def parse_seeds(values: list[str] | None) -> list[int] | None:
    items = split_list(values)
    if items is None:
        return None
    try:
        seeds = [int(item) for item in items]
    except ValueError:
        raise HarnessError(f"--seeds takes integers, got {' '.join(items)}") from None
    if any(seed < 0 for seed in seeds):
        raise HarnessError(f"--seeds takes whole numbers >= 0, got {' '.join(items)}")
    return seeds


def results_folder(text: str) -> Path:
    """--results: a folder, or a path where one can be made; a file there is refused before
    anything starts (argparse turns the error into a usage error, exit code 2)."""
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is not a folder")
    return path


def indent(text: str) -> str:
    """Multi-line details (a traceback) below a line of ours, each line indented and rid of
    control characters (a carriage return or an escape could overwrite the line above)."""
    from harness.oracle.guest.protocol import clean_details

    return "\n".join("    " + line for line in clean_details(text, 100_000).splitlines())


def add_results_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--results", type=results_folder, default=DEFAULT_RESULTS, help="results folder (default: results)"
    )


def checked_preset(name: str, known: list[str]) -> str:
    """--preset: one of `known`, else a one-line error (exit code 2), not argparse's usage."""
    if name not in known:
        raise HarnessError(unknown_preset(name, known))
    return name


def max_file_bytes(args: argparse.Namespace) -> int:
    """--max-file-size, else $MTL_BENCH_MAX_SUBMISSION_BYTES, else 1 MiB; a one-line error if
    either cannot be read or is above the ceiling."""
    given = getattr(args, "max_file_size", None)
    try:
        return parse_size(given) if given is not None else default_max_file_bytes()
    except ValueError as exc:
        raise HarnessError(str(exc)) from None


def add_max_file_size_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--max-file-size",
        metavar="SIZE",
        help=f"refuse a submission file bigger than SIZE before parsing it: 2MiB, 512KiB, 1MB or bytes "
        f"(default: ${MAX_FILE_ENV}, else 1MiB; at most 16MiB: parsing costs about 600 bytes of memory "
        "per byte of source)",
    )


def add_preset_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--preset",
        default="smoke",
        metavar="{" + ",".join(PRESETS) + "}",
        help="tiny: a pipeline check in seconds (numbers mean nothing); "
        "smoke: synthetic data, ResNet-20 / ResNet18 at 48 px, 2 epochs (CPU, a minute or two); "
        "screen: dev's first architecture for a third of its epochs on a quarter of the training set "
        "(a quick comparison, ranked apart); dev: real data, visible archs, short schedule; "
        "full: the full protocol, 3 seeds",
    )


def _dest(option: TaskOption) -> str:
    return "task_option_" + option.flag.lstrip("-").replace("-", "_")


def registered_task_options() -> dict[str, tuple[TaskOption, list[str]]]:
    """Each flag the registered tasks declare, with the tasks that declare it (a task that
    fails to load is left out here; naming it reports its error)."""
    flags: dict[str, tuple[TaskOption, list[str]]] = {}
    loaded, _ = registry.tasks.load_all()
    for task in loaded.values():
        for option in task.cli_options:
            first, owners = flags.setdefault(option.flag, (option, []))
            if first.is_switch() != option.is_switch():
                continue  # two tasks disagree on the flag's kind: the first declaration wins
            owners.append(task.name)
    return flags


def add_task_options(parser: argparse.ArgumentParser) -> None:
    """The registered tasks' own switches, one group, each flag once."""
    flags = registered_task_options()
    if not flags:
        return
    group = parser.add_argument_group("task options", "settings that belong to some tasks (named in brackets)")
    for flag, (option, owners) in flags.items():
        text = f"{option.help} [{', '.join(owners)}]"
        if option.is_switch():
            group.add_argument(flag, dest=_dest(option), action="store_true", help=text)
        else:
            group.add_argument(flag, dest=_dest(option), choices=option.choices, help=text)


def task_flags(args: argparse.Namespace) -> dict[str, str | bool]:
    """The registered tasks' own switches given on the command line, by flag (each chosen
    task that declares a flag takes it: commands/planning.task_overrides)."""
    flags: dict[str, str | bool] = {}
    for flag, (option, _) in registered_task_options().items():
        given = getattr(args, _dest(option), None)
        if given is not None and given is not False:
            flags[flag] = given
    return flags


def add_protocol_options(parser: argparse.ArgumentParser) -> None:
    """Screening and held-out evaluation: runs under them are ranked only against runs of the
    same protocol, never beside the preset's own."""
    group = parser.add_argument_group(
        "protocol", "changes to the preset's protocol; such runs get boards of their own (not the published table's)"
    )
    group.add_argument(
        "--epochs", type=int, metavar="N", help="screening: train N epochs (the schedule fits N), even N = the preset's"
    )
    group.add_argument(
        "--train-fraction",
        type=float,
        metavar="F",
        help="screening: train on a fixed, seeded share F (0 < F <= 1) of the training set",
    )
    group.add_argument(
        "--protocol",
        choices=("standard", "heldout"),
        default="standard",
        help="heldout: score on a fixed, seeded 10%% validation split carved out of the training set and never "
        "read the test split (only `final` scores the test split), so iterating cannot select on test accuracy",
    )


def protocol_of(args: argparse.Namespace) -> Protocol:
    """The protocol the --epochs, --train-fraction and --protocol flags ask for."""
    from pydantic import ValidationError

    from harness.api.records import Protocol

    try:
        return Protocol(
            epochs=getattr(args, "epochs", None),
            train_fraction=getattr(args, "train_fraction", None),
            evaluation="heldout" if getattr(args, "protocol", "standard") == "heldout" else "test",
        )
    except ValidationError as exc:
        error = exc.errors()[0]
        flag = "--" + str(error["loc"][0]).replace("_", "-")
        raise HarnessError(f"{flag}: {error['msg'].lower()}") from None


def add_job_options(parser: argparse.ArgumentParser, preset: bool = True) -> None:
    if preset:
        add_preset_option(parser)
        add_protocol_options(parser)
    parser.add_argument("--tasks", nargs="+", metavar="TASK", help="tasks to run (default: all registered)")
    parser.add_argument("--archs", nargs="+", metavar="ARCH", help="architectures (default: the preset's)")
    parser.add_argument("--seeds", nargs="+", metavar="SEED", help="seeds (default: the preset's)")
    add_results_option(parser)
    parser.add_argument(
        "--data-root",
        type=Path,
        default=DEFAULT_DATA,
        help="data folder (default: data, or $MTL_DATA_ROOT); each task names its sets under it "
        "(CIFAR-100 in DATA_ROOT/cifar100, UTKFace in DATA_ROOT/utkface, ...)",
    )
    parser.add_argument(
        "--device",
        default="auto",
        help="auto (every CUDA device; the CPU on a machine without a GPU; an error if a GPU is there "
        "but CUDA cannot use it), cpu, cuda or cuda:N. Part of each job's key: CPU and GPU results are "
        "kept apart. With --no-wait, cuda queues the jobs for GPU workers elsewhere",
    )
    parser.add_argument("--force", action="store_true", help="rerun jobs whose record already exists")
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="print the jobs that would run, those already recorded and the estimated device-hours "
        "(from harness/run/cost_table.json), then stop: nothing is queued or trained",
    )
    parser.add_argument(
        "--no-wait",
        action="store_true",
        help="only enqueue the jobs; run them with `runner.py worker` (here or on other machines "
        "sharing the results folder)",
    )
    parser.add_argument(
        "--slots-per-device",
        type=int,
        default=1,
        help="worker slots per device (jobs at once; with --executor slurm, harness jobs per Slurm job); "
        "each job is charged its share of the device-hours",
    )
    parser.add_argument(
        "--deterministic",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="CUDA jobs compute deterministically: torch's deterministic algorithms, cuBLAS's fixed workspace "
        "and inductor's deterministic mode, so repeats are identical (default: on for the final evaluation, "
        "off otherwise; the CPU is deterministic either way). Part of the job's key when on",
    )
    add_threads_option(parser)
    add_tensorboard_option(parser)
    add_group_writable_option(parser)
    add_executor_options(parser)


GROUP_WRITABLE_UMASK = 0o002


def add_group_writable_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--group-writable",
        action="store_true",
        help="a team folder: set the umask to 002, so every file and folder written (records, queue entries, "
        "checkpoints, boards, the workers' and Slurm jobs' too) is group-writable (0664, folders 0775); "
        "without it they honour your umask (022: files 0644, folders 0755). Give the results folder a group "
        "and the setgid bit (chgrp TEAM results; chmod g+ws results) so new folders keep the group",
    )


def apply_group_writable(args: argparse.Namespace) -> None:
    """--group-writable: the process's umask becomes 002 before anything is written; the
    workers it starts (and Slurm, which gives a job its submitter's umask) inherit it."""
    if getattr(args, "group_writable", False):
        os.umask(GROUP_WRITABLE_UMASK)


def add_json_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--json",
        action="store_true",
        help="print one JSON document on stdout (schema: docs/schema/COMMAND.v1.json); everything "
        "else, progress included, goes to stderr; exit codes unchanged",
    )


def add_tensorboard_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--tensorboard",
        type=Path,
        metavar="DIR",
        help="also write each run's per-epoch losses, task weights and test metrics as TensorBoard "
        'event files under DIR/PRESET/METHOD/ (needs pip install -e ".[tensorboard]")',
    )


def add_executor_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("executor")
    group.add_argument(
        "--executor",
        choices=("local", "slurm"),
        default="local",
        help="local: workers on this machine (default); slurm: the jobs go to Slurm in bundles of "
        "--slots-per-device harness jobs per Slurm job (one device each), through submitit",
    )
    group.add_argument("--slurm-partition", help="Slurm partition (default: the cluster's)")
    group.add_argument("--slurm-account", help="Slurm account to charge")
    group.add_argument(
        "--slurm-config",
        type=Path,
        metavar="FILE",
        help="a TOML file of these options (partition, account, time, gpus-per-job, cpus-per-job, [opt]); "
        "flags given here win over it",
    )
    group.add_argument("--slurm-time", type=int, metavar="MINUTES", help="each Slurm job's time limit (default 240)")
    group.add_argument("--slurm-gpus-per-job", type=int, metavar="N", help="GPUs per Slurm job (default 0: the CPU)")
    group.add_argument("--slurm-cpus-per-job", type=int, metavar="N", help="CPUs per Slurm job (default: one per slot)")
    group.add_argument(
        "--slurm-opt",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="another sbatch option, e.g. --slurm-opt qos=low or --slurm-opt exclusive (repeatable)",
    )


def add_threads_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--threads-per-slot",
        type=int,
        default=None,
        metavar="N",
        help="CPU threads of each worker slot (default: the CPU cores available to the process divided by "
        "the slots on this machine)",
    )


def add_sandbox_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--sandbox",
        choices=registry.sandboxes.names(),
        default=None,
        help="where the submission's code runs (default: bwrap where it works, else process "
        "with a warning). process has no file-system or network isolation",
    )


def queue_of(args: argparse.Namespace) -> JobQueue:
    from harness.commands.planning import queue_root
    from harness.queue.jobqueue import DEFAULT_LEASE_SECONDS, JobQueue

    return JobQueue(queue_root(args.results), getattr(args, "lease", DEFAULT_LEASE_SECONDS))


def _tuple(items: list[str] | None) -> tuple[str, ...] | None:
    return tuple(items) if items is not None else None


def jobs_fields(args: argparse.Namespace) -> dict[str, Any]:
    """The fields every training command's request takes from its arguments."""
    return {
        "tasks": split_list(args.tasks),
        "archs": split_list(args.archs),
        "seeds": parse_seeds(args.seeds),
        "task_options": task_flags(args),
        "results": args.results,
        "data_root": args.data_root,
        "device": args.device,
        "force": args.force,
        "dry_run": args.dry_run,
        "wait": not args.no_wait,
        "deterministic": args.deterministic,
        "slots_per_device": args.slots_per_device,
        "threads_per_slot": args.threads_per_slot,
        "tensorboard": args.tensorboard,
        "executor": args.executor,
        "slurm": SlurmRequest(
            partition=args.slurm_partition,
            account=args.slurm_account,
            config=args.slurm_config,
            time_minutes=args.slurm_time,
            gpus_per_job=args.slurm_gpus_per_job,
            cpus_per_job=args.slurm_cpus_per_job,
            options=tuple(args.slurm_opt),
        ),
    }


def submit_request(args: argparse.Namespace, command: str = "submit") -> SubmitRequest:
    """`submit FILE` or `final FILE` as a request (final: the final preset, standard protocol)."""
    final = command == "final"
    return SubmitRequest(
        command="final" if final else "submit",
        file=args.file,
        name=args.name,
        entry_type=args.entry_type,
        baselines=not args.no_baselines,
        sandbox=args.sandbox,
        preset="final" if final else checked_preset(args.preset, PRESETS),
        protocol=protocol_of(args),
        max_file_bytes=max_file_bytes(args),
        **jobs_fields(args),
    )


def baselines_request(args: argparse.Namespace) -> BaselinesRequest:
    return BaselinesRequest(
        only=_tuple(split_list(args.only)),
        controls=args.controls,
        frontier=args.frontier,
        preset=checked_preset(args.preset, PRESETS),
        protocol=protocol_of(args),
        **jobs_fields(args),
    )


def leaderboard_request(args: argparse.Namespace) -> LeaderboardRequest:
    return LeaderboardRequest(
        preset=None if args.preset is None else checked_preset(args.preset, [*PRESETS, "final"]),
        final=args.final,
        protocol=protocol_of(args),
        results=args.results,
        out=args.out,
        html=args.html,
        csv=args.csv,
        tensorboard=args.tensorboard,
    )


def validate_request(args: argparse.Namespace) -> ValidateRequest:
    return ValidateRequest(
        file=args.file,
        task=args.task,
        sandbox=args.sandbox,
        epochs=args.epochs,
        steps=args.steps,
        max_file_bytes=max_file_bytes(args),
    )
