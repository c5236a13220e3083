"""One typed request per command: what `submit`, `final`, `baselines`, `leaderboard` and
`validate` are asked to do. The CLI (`cli/options.py`) turns its arguments into these, the
Python API (`python_api.py`) its keyword arguments; both then call the same library
function in `harness/commands/`, so the two front doors cannot drift apart. Light on
purpose: pydantic and the API's records only, no torch."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from harness.api.records import EntryType, Protocol

DEFAULT_RESULTS = Path("results")
DEFAULT_DATA = Path(os.environ.get("MTL_DATA_ROOT", "data"))
PRESETS = ["tiny", "smoke", "screen", "dev", "full"]
# A submission file's size limit at the front doors (`submit`, `final`, `validate`): 1 MiB, or
# $MTL_BENCH_MAX_SUBMISSION_BYTES, or --max-file-size; never above the ceiling, which every
# later reader of the stored copy allows (the same numbers as oracle/guest/loader.py's
# MAX_SOURCE_BYTES and SOURCE_BYTES_CEILING, which a test keeps equal: this module imports no torch).
DEFAULT_MAX_FILE_BYTES = 1024 * 1024
MAX_FILE_BYTES_CEILING = 4 * 1024 * 1024
MAX_FILE_ENV = "MTL_BENCH_MAX_SUBMISSION_BYTES"
_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1000, "kib": 1024, "m": 1000**2, "mb": 1000**2, "mib": 1024**2}


def parse_size(text: str, source: str = "--max-file-size") -> int:
    """`2MiB`, `512KiB`, `1MB`, `300000` (bytes) as a number of bytes, between 1 and the
    ceiling; a ValueError says why not, naming `source`."""
    cleaned = text.strip().lower().replace("_", "").replace(",", "")
    number = cleaned.rstrip("kmibB")
    unit = cleaned[len(number) :].strip()
    try:
        value = float(number) * _UNITS[unit]
    except (KeyError, ValueError):
        raise ValueError(f"{source} takes a size such as 2MiB, 512KiB or a number of bytes, got {text!r}") from None
    return check_size(int(value), source)


def check_size(value: int, source: str = "--max-file-size") -> int:
    if not 1 <= value <= MAX_FILE_BYTES_CEILING:
        raise ValueError(f"{source} must be between 1 byte and 4 MiB (the ceiling), got {value:,} bytes")
    return value


def default_max_file_bytes() -> int:
    """$MTL_BENCH_MAX_SUBMISSION_BYTES (a size such as 2MiB), else 1 MiB."""
    text = os.environ.get(MAX_FILE_ENV)
    return DEFAULT_MAX_FILE_BYTES if not text else parse_size(text, f"${MAX_FILE_ENV}")


MaxFileBytes = Annotated[int, AfterValidator(check_size)]


def unknown_preset(name: str, known: list[str]) -> str:
    """The one line for a preset that is not one of `known`."""
    return f"unknown preset {name!r}: expected one of {', '.join(known)}"


def _a_folder(path: Path) -> Path:
    """A results folder, or where one can be made: a file there is refused before anything starts."""
    if path.exists() and not path.is_dir():
        raise ValueError(f"{path} is not a folder")
    return path


ResultsFolder = Annotated[Path, AfterValidator(_a_folder)]


class Request(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SlurmRequest(Request):
    """The --slurm-* flags; None: the --slurm-config file's value, else the default."""

    partition: str | None = None
    account: str | None = None
    config: Path | None = Field(default=None, description="a TOML file of these options; flags win over it")
    time_minutes: int | None = None
    gpus_per_job: int | None = None
    cpus_per_job: int | None = None
    options: tuple[str, ...] = Field(default=(), description="other sbatch options: KEY=VALUE or a bare KEY")


class JobsRequest(Request):
    """What the commands that train share: which jobs, where, and how they run."""

    command: Literal["submit", "final", "baselines"]
    preset: str = "smoke"
    protocol: Protocol = Protocol()
    tasks: tuple[str, ...] | None = Field(default=None, description="None: every registered task that loads")
    archs: tuple[str, ...] | None = Field(default=None, description="None: the preset's")
    seeds: tuple[Annotated[int, Field(ge=0)], ...] | None = Field(default=None, description="None: the preset's")
    task_options: dict[str, str | bool] = Field(
        default_factory=dict,
        description="the tasks' own switches by flag (`{'--no-tta': True}`), for every chosen task that declares it",
    )
    results: ResultsFolder = DEFAULT_RESULTS
    data_root: Path = DEFAULT_DATA
    device: str = "auto"
    force: bool = False
    dry_run: bool = False
    wait: bool = True
    deterministic: bool | None = Field(
        default=None, description="CUDA's deterministic modes for every job (None: the preset's, on for final)"
    )
    slots_per_device: int = 1
    threads_per_slot: int | None = None
    tensorboard: Path | None = None
    executor: Literal["local", "slurm"] = "local"
    slurm: SlurmRequest = SlurmRequest()

    @property
    def final(self) -> bool:
        """The final evaluation: its preset, the hidden architectures shown."""
        return False

    @model_validator(mode="after")
    def _known_preset(self) -> JobsRequest:
        """A preset of the list; `final` only for the final evaluation (it shows hidden columns)."""
        if self.preset not in PRESETS and not (self.final and self.preset == "final"):
            raise ValueError(unknown_preset(self.preset, PRESETS))
        return self


class SubmitRequest(JobsRequest):
    """`submit FILE` (and `final FILE`): train a submission beside the seed's baselines."""

    command: Literal["submit", "final"] = "submit"
    file: Path
    name: str | None = Field(default=None, description="the row's name (default: the file's stem)")
    entry_type: EntryType = "submission"
    baselines: bool = Field(default=True, description="run the seed's baselines' missing jobs too")
    sandbox: str | None = Field(default=None, description="None: bwrap where it works")
    max_file_bytes: MaxFileBytes = Field(
        default_factory=default_max_file_bytes,
        description="a bigger file is refused before it is parsed (default 1 MiB, or $MTL_BENCH_MAX_SUBMISSION_BYTES; "
        "at most 4 MiB)",
    )

    @property
    def final(self) -> bool:
        return self.command == "final"

    @model_validator(mode="after")
    def _final_preset(self) -> SubmitRequest:
        """`final` is the final evaluation's preset and protocol, nothing else."""
        if self.final and (self.preset != "final" or not self.protocol.standard):
            raise ValueError("the final evaluation runs the final preset under its standard protocol")
        return self

    @property
    def row_name(self) -> str:
        return self.name or self.file.stem


class BaselinesRequest(JobsRequest):
    """`baselines`: train registered methods on the preset's jobs."""

    command: Literal["baselines"] = "baselines"
    only: tuple[str, ...] | None = Field(
        default=None,
        description="None: every registered method that can run (with the controls under the full preset); "
        "a family's member (`single:fine`) runs on the chosen tasks that have it",
    )
    controls: bool = Field(default=False, description="every chosen task's single-task controls (single:LOSS)")
    frontier: bool = Field(
        default=False, description="every chosen task's fixed-weight frontier (fixed-weights:...) and its centre, equal"
    )


class LeaderboardRequest(Request):
    """`leaderboard`: the board of one preset and protocol from the run records."""

    command: Literal["leaderboard"] = "leaderboard"
    preset: str | None = Field(default=None, description="None: smoke, or final with `final`")

    @model_validator(mode="after")
    def _known_preset(self) -> LeaderboardRequest:
        if self.preset is not None and self.preset not in [*PRESETS, "final"]:
            raise ValueError(unknown_preset(self.preset, [*PRESETS, "final"]))
        return self

    final: bool = False
    protocol: Protocol = Protocol()
    results: ResultsFolder = DEFAULT_RESULTS
    out: Path | None = None
    html: Path | None = None
    csv: Path | None = None
    tensorboard: Path | None = None

    @property
    def board_preset(self) -> str:
        return self.preset or ("final" if self.final else "smoke")


class ValidateRequest(Request):
    """`validate FILE`: the file in the sandbox on a synthetic trajectory."""

    command: Literal["validate"] = "validate"
    file: Path
    task: str | None = Field(default=None, description="whose losses to use (None: the first registered task)")
    sandbox: str | None = None
    epochs: int = 5
    steps: int = 20
    max_file_bytes: MaxFileBytes = Field(
        default_factory=default_max_file_bytes,
        description="a bigger file is refused before it is parsed (default 1 MiB, or $MTL_BENCH_MAX_SUBMISSION_BYTES; "
        "at most 4 MiB)",
    )
