"""The command-line interface: `python runner.py --help`."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from harness.errors import HarnessError, SubmissionError

DEFAULT_RESULTS = Path("results")
DEFAULT_DATA = Path(os.environ.get("MTL_DATA_ROOT", "data"))


def _split_list(values: list[str] | None) -> list[str] | None:
    if not values:
        return None
    return [item for value in values for item in value.split(",") if item]


def _seeds(values: list[str] | None) -> list[int] | None:
    items = _split_list(values)
    if items is None:
        return None
    try:
        return [int(item) for item in items]
    except ValueError:
        raise HarnessError(f"--seeds takes integers, got {' '.join(items)}") from None


def _add_run_options(parser: argparse.ArgumentParser, preset: bool = True) -> None:
    if preset:
        _add_preset_option(parser)
    _add_job_options(parser)


def _add_preset_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--preset", default="smoke", choices=["tiny", "smoke", "dev", "full"],
        help="tiny: a pipeline check in seconds (numbers mean nothing); "
        "smoke: synthetic data, ResNet-20 / ResNet18 at 64 px, 2 epochs (CPU, a minute or two); "
        "dev: real data, visible archs, short schedule; full: the full protocol, 3 seeds",
    )


def _add_job_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tasks", nargs="+", metavar="TASK", help="tasks to run (default: all)")
    parser.add_argument("--archs", nargs="+", metavar="ARCH", help="architectures (default: the preset's)")
    parser.add_argument("--seeds", nargs="+", metavar="SEED", help="seeds (default: the preset's)")
    parser.add_argument("--results", type=Path, default=DEFAULT_RESULTS, help="results folder (default: results)")
    parser.add_argument(
        "--data-root", type=Path, default=DEFAULT_DATA,
        help="data folder (default: data, or $MTL_DATA_ROOT); CIFAR-100 in DATA_ROOT/cifar100, "
        "UTKFace in DATA_ROOT/utkface, the competition CSV in DATA_ROOT/face-csv, Adience in DATA_ROOT/adience",
    )
    face = parser.add_argument_group("face tasks")
    face.add_argument("--face-dataset", choices=["utkface", "csv"],
                      help="data of face-age-gender in dev/full (default: utkface)")
    face.add_argument("--no-pretrained", action="store_true",
                      help="train the face backbones from scratch instead of ImageNet weights")
    face.add_argument("--no-balanced-sampling", action="store_true",
                      help="plain shuffling instead of inverse age-bin frequency sampling")
    face.add_argument("--no-tta", action="store_true", help="evaluate without the flip test-time augmentation")
    parser.add_argument("--device", default="auto", help="auto (CUDA if present, else CPU), cpu, cuda or cuda:N")
    parser.add_argument("--force", action="store_true", help="rerun jobs whose record already exists")
    parser.add_argument(
        "--no-wait", action="store_true",
        help="only enqueue the jobs; run them with `runner.py worker` (here or on other machines "
        "sharing the results folder)",
    )
    parser.add_argument("--slots-per-device", type=int, default=1, help="local worker slots per device")


def _add_sandbox_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--sandbox", choices=["bwrap", "docker", "process"], default=None,
        help="where the submission's code runs (default: bwrap where it works, else process "
        "with a warning). process has no file-system or network isolation",
    )


def _add_entry_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, help="Python file defining class MultiTaskLoss(nn.Module)")
    parser.add_argument("--name", help="row name on the leaderboard (default: the file name)")
    parser.add_argument(
        "--type", dest="entry_type", default="submission",
        choices=["submission", "agent", "vanilla", "baseline", "human"],
        help="row type on the leaderboard: agent (written by an agent with tools), vanilla (a model's "
        "one-shot answer), baseline (a reference method), human, or submission (default)",
    )
    parser.add_argument("--no-baselines", action="store_true", help="do not run the missing jobs of the seed's baselines (equal, uncertainty, dwa, pcgrad; `baselines` runs the others)")
    _add_sandbox_option(parser)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="runner.py",
        description="Benchmark harness for multi-task loss functions: trains networks with a "
        "MultiTaskLoss under a fixed protocol and ranks it against baselines.",
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true",
        help="also print the submission's traceback when it cannot be loaded",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    submit = commands.add_parser(
        "submit", help="train a submission (and any missing baselines) and print the leaderboard",
        description="Train FILE's MultiTaskLoss on every job of the preset, run the baselines "
        "on the same jobs where their records are missing, and print the leaderboard.",
    )
    _add_entry_options(submit)
    _add_run_options(submit)

    final = commands.add_parser(
        "final", help="the final evaluation: the full protocol on every architecture, hidden ones included",
        description="Train FILE under the `final` preset: the full protocol (CIFAR-100: 200 epochs, "
        "seeds 42, 123, 456) on every architecture including the hidden ones (VGG-16-BN; ConvNeXt-Tiny for "
        "the face tasks), run missing baselines on the same jobs, and render the leaderboard with the hidden "
        "columns (results/leaderboard-final.md and .html). Only this command and `leaderboard --final` "
        "show hidden results.",
    )
    _add_entry_options(final)
    _add_run_options(final, preset=False)

    baselines = commands.add_parser("baselines", help="train the baselines on the preset's jobs")
    baselines.add_argument("--only", nargs="+", metavar="NAME", help="baselines to run (default: all)")
    _add_run_options(baselines)

    work = commands.add_parser(
        "worker", help="run queued jobs: one process per device slot",
        description="Claim jobs from RESULTS/queue and run them, one process per slot. A job "
        "whose worker dies goes back to the queue when its lease expires and resumes from its "
        "last epoch checkpoint.",
    )
    work.add_argument("--devices", nargs="+", default=["auto"],
                      help="cpu, cuda:0,cuda:1, ... (default: every CUDA device, else cpu)")
    work.add_argument("--slots-per-device", type=int, default=1, help="jobs at once per device")
    work.add_argument("--results", type=Path, default=DEFAULT_RESULTS)
    work.add_argument("--lease", type=float, default=60.0,
                      help="seconds without a heartbeat after which a job is handed to another worker")
    work.add_argument("--exit-when-idle", action="store_true", help="stop when the queue is empty")

    status = commands.add_parser("status", help="print the queue as a table")
    status.add_argument("--results", type=Path, default=DEFAULT_RESULTS)

    cancel = commands.add_parser("cancel", help="cancel the queued and running jobs of a submission")
    cancel.add_argument("name", help="the method name (the --name given to submit, or the file name)")
    cancel.add_argument("--results", type=Path, default=DEFAULT_RESULTS)

    check = commands.add_parser(
        "validate", help="check a submission in seconds, in the sandbox",
        description="Load FILE in the sandboxed oracle, run it on a synthetic loss trajectory "
        "and print the effective weight per task and every problem found. Exit code 0: no "
        "problems; 1: problems; 2: the file cannot be used at all.",
    )
    check.add_argument("file", type=Path)
    check.add_argument("--task", default="cifar100-mtl", help="whose loss order to use")
    check.add_argument("--epochs", type=int, default=5, help="epochs of the synthetic trajectory")
    check.add_argument("--steps", type=int, default=20, help="steps per epoch of the trajectory")
    check.add_argument("--plot", type=Path, help="also draw the weights into this PNG file")
    _add_sandbox_option(check)

    board = commands.add_parser("leaderboard", help="render the leaderboard from the run records")
    board.add_argument("--preset", choices=["tiny", "smoke", "dev", "full", "final"],
                       help="whose runs to rank (default: smoke, or final with --final)")
    board.add_argument("--final", action="store_true",
                       help="the final evaluation's board: shows the hidden architectures' columns")
    board.add_argument("--results", type=Path, default=DEFAULT_RESULTS)
    board.add_argument("--out", type=Path, help="write the markdown here instead of printing it")
    board.add_argument("--html", type=Path, metavar="FILE",
                       help="also write the HTML report (tables, training curves, task weights) here")
    board.add_argument("--csv", type=Path, metavar="FILE", help="also write one CSV row per cell here")

    published = commands.add_parser(
        "import-published", help="import a benchmark's published results as reference rows",
        description="Read published leaderboard data (MLS-Bench JSON: rows with model, seed and metric "
        "columns such as test_acc_resnet20-cifar100mt) into RESULTS/published/. Leaderboards of the given "
        "presets show them as rows marked (published), beside this harness's runs.",
    )
    published.add_argument("file", type=Path)
    published.add_argument("--presets", nargs="+", default=["full", "final"],
                           help="presets whose protocol the numbers were measured under (default: full final)")
    published.add_argument("--results", type=Path, default=DEFAULT_RESULTS)

    data = commands.add_parser(
        "data", help="download or check a data set, write a synthetic one, or fetch ImageNet weights",
        description="cifar100: download (if needed) and verify the md5 sums. utkface, face-csv, adience: "
        "read the folder and report usable and skipped samples (these sets cannot be downloaded "
        "automatically: see the README's Face task section). weights: download torchvision's ImageNet "
        "weights of the face backbones into torch's cache.",
    )
    data.add_argument("dataset", choices=["cifar100", "utkface", "face-csv", "adience", "weights"])
    data.add_argument("--root", type=Path, help="the data set's folder (default: DATA_ROOT/<dataset>)")
    data.add_argument(
        "--synthetic", action="store_true",
        help="write the small synthetic stand-in (same file format) instead of downloading",
    )
    data.add_argument("--archs", nargs="+", default=["resnet18", "efficientnet_b0", "convnext_tiny"],
                      help="backbones whose weights to fetch (weights only)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        from harness import commands

        return commands.dispatch(args)
    except SubmissionError as exc:
        print(f"error: {exc}", file=sys.stderr)
        if exc.details and args.verbose:
            print(_indent(exc.details), file=sys.stderr)
        return exc.exit_code
    except HarnessError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted: finished jobs are saved; rerun the command to continue", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into e.g. `head`, which has stopped reading
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as exc:  # a bug of ours: a short line here, the traceback in a file
        report = _save_crash_report()
        print(f"internal error (a harness bug): {type(exc).__name__}: {exc}; traceback in {report}", file=sys.stderr)
        return 3


def _save_crash_report() -> str:
    import tempfile
    import traceback

    handle, path = tempfile.mkstemp(prefix="mtl-harness-crash-", suffix=".txt")
    with os.fdopen(handle, "w") as out:
        out.write(traceback.format_exc())
    return path


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in text.splitlines())
