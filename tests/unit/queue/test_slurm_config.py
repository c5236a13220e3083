"""The Slurm options file: its values under the flags, and one-line errors for bad files."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.api.errors import HarnessError
from harness.queue.slurm_config import merged_slurm_options, read_slurm_config
from tests.helpers import run_main

NO_FLAGS = {"partition": None, "account": None, "time_minutes": None, "gpus_per_job": None, "cpus_per_job": None}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "slurm.toml"
    path.write_text(text)
    return path


def test_the_file_gives_every_option(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        'partition = "gpu"\naccount = "mtl"\ntime = 90\ngpus-per-job = 1\ncpus-per-job = 8\n[opt]\nqos = "low"\n',
    )
    options = merged_slurm_options(read_slurm_config(path), NO_FLAGS, {}, "file")
    assert (options.partition, options.account, options.time_minutes) == ("gpu", "mtl", 90)
    assert (options.gpus_per_job, options.cpus_per_job, options.extra) == (1, 8, {"qos": "low"})
    assert options.device_type == "cuda"


def test_flags_given_win_and_extras_merge(tmp_path: Path) -> None:
    path = write(tmp_path, 'partition = "gpu"\ntime = 90\n[opt]\nqos = "low"\nconstraint = "a100"\n')
    flags = {**NO_FLAGS, "time_minutes": 30, "gpus_per_job": 0}
    options = merged_slurm_options(read_slurm_config(path), flags, {"qos": "high"}, "file")
    assert (options.partition, options.time_minutes, options.gpus_per_job) == ("gpu", 30, 0)
    assert options.extra == {"qos": "high", "constraint": "a100"}


def test_without_a_file_the_defaults_hold() -> None:
    options = merged_slurm_options({}, NO_FLAGS, {}, "command line")
    assert (options.time_minutes, options.gpus_per_job, options.partition) == (240, 0, None)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('partitoin = "gpu"\n', "unknown key 'partitoin'"),
        ("time = [\n", "not valid TOML"),
        ("opt = 3\n", "[opt] must be a table"),
    ],
)
def test_a_bad_file_is_refused_by_name(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(HarnessError, match=message.replace("[", r"\[")) as caught:
        read_slurm_config(path)
    assert str(path) in str(caught.value)


def test_a_value_of_the_wrong_type_names_the_key(tmp_path: Path) -> None:
    path = write(tmp_path, 'time = "soon"\n')
    with pytest.raises(HarnessError, match=r"Slurm option time \(--slurm-config .*slurm.toml\)"):
        merged_slurm_options(read_slurm_config(path), NO_FLAGS, {}, f"--slurm-config {path}")


def test_the_cli_stops_on_a_bad_file_in_one_line_before_queueing(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    results = tmp_path / "results"
    for path, expected in (
        (tmp_path / "absent.toml", "cannot read it"),
        (write(tmp_path, "gpus = 1\n"), "unknown key"),
    ):
        code, _, err = run_main(
            capsys, monkeypatch, "baselines", "--preset", "tiny", "--only", "equal", "--executor", "slurm",
            "--slurm-config", path, "--results", results, "--data-root", tmp_path / "data",
        )  # fmt: skip
        assert code == 2 and err.strip().count("\n") == 0 and expected in err, err
        assert not (results / "queue" / "pending").exists() or not any((results / "queue" / "pending").iterdir())


def test_a_flag_without_a_value_passes_as_a_bare_flag(tmp_path: Path) -> None:
    from harness.commands.planning import slurm_extra

    path = write(tmp_path, "[opt]\nexclusive = true\nrequeue = false\nqos = 'low'\n")
    assert read_slurm_config(path)["extra"] == {"exclusive": True, "qos": "low"}  # false: left out
    assert slurm_extra(["exclusive", "qos=low"]) == {"exclusive": True, "qos": "low"}
    with pytest.raises(HarnessError, match="expected KEY=VALUE or a bare KEY"):
        slurm_extra(["=low"])


def test_a_file_that_is_not_text_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "slurm.toml"
    path.write_bytes(b"partition = '\xff\xfe'\n")
    with pytest.raises(HarnessError, match="not a UTF-8 text file"):
        read_slurm_config(path)


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (["--device", "cuda"], "--device does not apply with --executor slurm"),
        (["--slurm-gpus-per-job", "2"], "trains on one GPU"),
    ],
)
def test_options_slurm_cannot_honour_are_refused_before_queueing(
    flags: list[str], expected: str, tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    results = tmp_path / "results"
    code, _, err = run_main(
        capsys, monkeypatch, "baselines", "--preset", "tiny", "--only", "equal", "--executor", "slurm", *flags,
        "--results", results, "--data-root", tmp_path / "data",
    )  # fmt: skip
    assert code == 2 and err.strip().count("\n") == 0 and expected in err, err
    assert not (results / "queue" / "pending").exists() or not any((results / "queue" / "pending").iterdir())
