"""`worker`: run queued jobs, one process per device slot."""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

from harness.api.errors import HarnessError
from harness.cli.options import (
    add_group_writable_option,
    add_results_option,
    add_threads_option,
    apply_group_writable,
    queue_of,
    split_list,
)
from harness.queue.jobqueue import DEFAULT_LEASE_SECONDS, MAX_ATTEMPTS


def register(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = commands.add_parser(
        "worker",
        help="run queued jobs: one process per device slot",
        description="Claim jobs from RESULTS/queue and run them, one process per slot; a slot runs "
        "only the jobs planned for its device type (cpu or cuda). A job whose worker dies goes back "
        "to the queue when its lease expires, and one hit by an infrastructure error (out of memory, "
        f"a CUDA fault) at once; it resumes from its last epoch checkpoint, at most {MAX_ATTEMPTS} starts in all.",
    )
    parser.add_argument(
        "--devices",
        nargs="+",
        default=["auto"],
        help="cpu, cuda:0,cuda:1, ... (default: every CUDA device; the CPU on a machine without a GPU; "
        "an error if a GPU is there but CUDA cannot use it)",
    )
    parser.add_argument(
        "--slots-per-device",
        type=int,
        default=1,
        help="jobs at once per device; each job is charged its share of the device-hours",
    )
    add_threads_option(parser)
    add_results_option(parser)
    parser.add_argument(
        "--lease",
        type=float,
        default=DEFAULT_LEASE_SECONDS,
        help="seconds without a heartbeat after which a job is handed to another worker",
    )
    parser.add_argument("--exit-when-idle", action="store_true", help="stop when the queue is empty")
    parser.add_argument(
        "--allow-process-sandbox",
        action="store_true",
        help="run jobs queued for the process sandbox, which isolates nothing (submit passes it to the workers it "
        "starts when it was given --sandbox process); without it such a job fails with a record saying why",
    )
    parser.add_argument(
        "--keys-file",
        type=Path,
        help="serve only the jobs whose keys this file lists, one per line (a Slurm bundle's worker)",
    )
    parser.add_argument(
        "--tensorboard",
        type=Path,
        metavar="DIR",
        help="write each job's curves and hyper-parameters as TensorBoard event files under DIR/PRESET/METHOD/ "
        'while it trains, one flush per epoch (submit passes it to the workers it starts; needs pip install -e ".[tensorboard]")',
    )
    add_group_writable_option(parser)
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    from harness.queue.local import local_devices
    from harness.queue.worker import release_earlier_runs, run_workers
    from harness.run.devices import resolve_device, slot_threads

    devices = split_list(args.devices) or ["auto"]
    if devices == ["auto"]:
        devices = local_devices("auto")
    for device in devices:
        resolve_device(device)
    if args.slots_per_device < 1:
        raise HarnessError("--slots-per-device must be at least 1")
    if args.threads_per_slot is not None and args.threads_per_slot < 1:
        raise HarnessError("--threads-per-slot must be at least 1")
    if args.tensorboard is not None and importlib.util.find_spec("tensorboard") is None:
        raise HarnessError('--tensorboard needs the tensorboard package: pip install -e ".[tensorboard]"')
    only = None
    if args.keys_file is not None:
        try:
            only = [line.strip() for line in args.keys_file.read_text().splitlines() if line.strip()]
        except OSError as exc:
            raise HarnessError(f"cannot read --keys-file {args.keys_file}: {exc.strerror}") from None
    apply_group_writable(args)  # before the queue's folders, the slots and their files
    slots = len(devices) * args.slots_per_device
    threads = slot_threads(slots, args.threads_per_slot)
    queue = queue_of(args)
    print(
        f"worker: {slots} slot(s) on {', '.join(devices)}, {threads} CPU thread(s) per slot, serving {queue.root}",
        flush=True,
    )
    released = release_earlier_runs(queue.root)
    if released:
        print(f"worker: {released} job(s) of this Slurm job's earlier run resume from their checkpoints", flush=True)
    failed = run_workers(
        queue.root,
        devices,
        args.slots_per_device,
        args.lease,
        args.exit_when_idle,
        threads=threads,
        only=only,
        allow_process=args.allow_process_sandbox,
        tensorboard=args.tensorboard,
    )
    return 1 if failed else 0
