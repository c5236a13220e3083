"""The Slurm options from a small TOML file, under the command line's --slurm-* flags.

A cluster's partition, account, time limit and sbatch extras rarely change between runs,
so an operator writes them once (keys named as the flags, without `--slurm-`):

    partition = "gpu"
    account = "mtl"
    time = 240            # minutes
    gpus-per-job = 1
    cpus-per-job = 8

    [opt]                 # more sbatch options, as --slurm-opt KEY=VALUE
    qos = "low"

A flag given on the command line wins over the file's value; `[opt]` keys merge, the
command line's winning. Unknown keys and wrong types are one-line errors naming the file.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from harness.api.errors import HarnessError
from harness.queue.slurm import SlurmOptions

# file key -> SlurmOptions field
FIELDS = {
    "partition": "partition",
    "account": "account",
    "time": "time_minutes",
    "gpus-per-job": "gpus_per_job",
    "cpus-per-job": "cpus_per_job",
}


def read_slurm_config(path: Path) -> dict[str, Any]:
    """The file's values as SlurmOptions fields (`extra` for its [opt] table)."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise HarnessError(f"--slurm-config {path}: not a UTF-8 text file") from None
    except OSError as exc:
        raise HarnessError(f"--slurm-config {path}: cannot read it ({exc.strerror or exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise HarnessError(f"--slurm-config {path}: not valid TOML ({exc})") from None
    values: dict[str, Any] = {}
    for key, value in data.items():
        if key == "opt":
            if not isinstance(value, dict):
                raise HarnessError(f"--slurm-config {path}: [opt] must be a table of sbatch options")
            # true: a flag without a value (exclusive = true -> --exclusive); false: left out
            values["extra"] = {
                str(k).lstrip("-"): v if v is True else str(v) for k, v in value.items() if v is not False
            }
        elif key in FIELDS:
            values[FIELDS[key]] = value
        else:
            known = ", ".join([*FIELDS, "[opt]"])
            raise HarnessError(f"--slurm-config {path}: unknown key {key!r} (known: {known})")
    return values


def merged_slurm_options(
    file_values: Mapping[str, Any], flag_values: Mapping[str, Any], flag_extra: Mapping[str, str | bool], source: str
) -> SlurmOptions:
    """File values under the flags given (None: not given); `source` names the file in errors."""
    values = dict(file_values)
    values.update({name: value for name, value in flag_values.items() if value is not None})
    values["extra"] = {**dict(file_values.get("extra", {})), **flag_extra}
    try:
        return SlurmOptions(**values)
    except ValidationError as exc:
        problem = exc.errors()[0]
        where = ".".join(str(part) for part in problem["loc"])
        flag = {field: key for key, field in FIELDS.items()}.get(where, where)
        raise HarnessError(f"Slurm option {flag} ({source}): {problem['msg']}") from None
