"""Reports: hidden columns never leak, the final command, CSV export, and the HTML report as
a real page in headless Chromium."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from harness.api.records import EpochLog, RunRecord
from harness.report.board import build_board
from harness.report.html import render_html
from harness.report.markdown import rendered_line
from harness.store import save_record
from tests.helpers import PYTHON, REPO, all_tasks, run_main, runner

from .test_leaderboard_and_store import PUBLISHED, record

TASKS = all_tasks()
HIDDEN_VALUE = 77.777  # a value only hidden-architecture records carry
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _with_epochs(run: RunRecord, fine: list[float], weights: list[float]) -> RunRecord:
    epochs = [
        EpochLog(
            epoch=i,
            lr=0.1,
            train_losses={"fine": 1.0, "coarse": 0.5},
            task_weights={"fine": 1.0, "coarse": w},
            test_metrics={"fine_acc": f, "coarse_acc": f + 20},
            seconds=1.0,
            images_per_second=100.0,
        )
        for i, (f, w) in enumerate(zip(fine, weights))
    ]
    return run.model_copy(update={"epochs": epochs})


def _hidden_results(results: Path) -> None:
    """Final-evaluation records, hidden columns included, plus the published import."""
    for seed in (42, 123, 456):
        save_record(results, record("equal", "vgg16bn", seed, HIDDEN_VALUE, preset="final"))
        save_record(results, record("equal", "resnet20", seed, 60.0 + seed / 1000, preset="final"))
    code = subprocess.run(
        [PYTHON, "runner.py", "import-published", str(PUBLISHED), "--results", str(results)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert code.returncode == 0 and "imported 27 published values of 3 methods" in code.stdout, code.stderr


HIDDEN_MARKERS = ("vgg16bn", "77.77", "73.90", "74.26", "72.56")  # the last three: published VGG means


def _reveals_hidden(text: str) -> bool:
    return any(marker in text for marker in HIDDEN_MARKERS)


@pytest.mark.slow  # end to end; quick: hidden columns in test_leaderboard_and_store.py
def test_submit_and_dev_paths_never_reveal_hidden_results(
    tmp_path: Path, data_root: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    results = tmp_path / "results"
    _hidden_results(results)
    done = runner(
        "submit",
        "submissions/example_loss.py",
        "--preset",
        "tiny",
        "--tasks",
        "cifar100-mtl",
        "--no-baselines",
        "--name",
        "my-agent",
        "--type",
        "agent",
        "--results",
        results,
        "--data-root",
        data_root,
    )
    assert done.returncode == 0, done.stderr
    assert re.search(r"\| my-agent\s+\| agent\s+\|", done.stdout)
    console = [done.stdout, done.stderr]
    for preset in ("tiny", "full", "final"):
        code, out, err = run_main(capsys, monkeypatch, "leaderboard", "--preset", preset, "--results", results)
        assert code == 0
        console += [out, err]
        code, out, err = run_main(
            capsys,
            monkeypatch,
            "leaderboard",
            "--preset",
            preset,
            "--results",
            results,
            "--out",
            tmp_path / f"{preset}.md",
            "--html",
            tmp_path / f"{preset}.html",
            "--csv",
            tmp_path / f"{preset}.csv",
            *(("--tensorboard", tmp_path / "tb") if importlib.util.find_spec("tensorboard") else ()),
        )
        assert code == 0
        console += [out, err]
    code, out, err = run_main(capsys, monkeypatch, "status", "--results", results)
    console += [out, err]
    for text in console:
        assert not _reveals_hidden(text), text
    rendered = [p for p in tmp_path.rglob("*") if p.is_file() and not {"runs", "queue", "published"} & set(p.parts)]
    assert {p.suffix for p in rendered} >= {".md", ".html", ".csv"}
    for path in rendered:
        assert not _reveals_hidden(path.read_text(errors="replace")), path
        assert "vgg16bn" not in str(path), path  # no TensorBoard run folder of a hidden architecture
    # the control: the final board shows them, so the checks above can fail
    code, out, _ = run_main(capsys, monkeypatch, "leaderboard", "--final", "--results", results)
    assert code == 0 and all(marker in out for marker in HIDDEN_MARKERS)
    if importlib.util.find_spec("tensorboard"):
        run_main(capsys, monkeypatch, "leaderboard", "--final", "--results", results, "--tensorboard", tmp_path / "tbf")
        assert any("vgg16bn" in str(p) for p in (tmp_path / "tbf").rglob("*"))


def test_final_flag_needs_the_final_preset(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, _, err = run_main(capsys, monkeypatch, "leaderboard", "--final", "--preset", "dev", "--results", tmp_path)
    assert code == 2 and "--preset final" in err


def test_final_command_plans_the_hidden_architecture(tmp_path: Path, data_root: Path) -> None:
    env = {**os.environ, "CIFAR100_ROOT": str(data_root / "synthetic-cifar100")}
    done = subprocess.run(
        [
            PYTHON,
            "runner.py",
            "final",
            "submissions/example_loss.py",
            "--tasks",
            "cifar100-mtl",
            "--no-wait",
            "--results",
            str(tmp_path),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    # 7 methods (the submission, the seed's four, the controls single:fine and single:coarse) x 3 archs x 3 seeds
    assert "63 jobs: 0 already recorded, 63 enqueued" in done.stdout
    pending = [p.read_text() for p in (tmp_path / "queue" / "pending").glob("*.json")]
    assert sum('"arch": "vgg16bn"' in text or '"arch":"vgg16bn"' in text for text in pending) == 21
    assert all('"preset": "final"' in text or '"preset":"final"' in text for text in pending)


def test_csv_export_from_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    for seed, value in [(1, 60.0), (2, 61.0), (3, 62.0)]:
        save_record(tmp_path, record("equal", "resnet20", seed, value, preset="dev"))
    code, out, _ = run_main(
        capsys, monkeypatch, "leaderboard", "--preset", "dev", "--results", tmp_path, "--csv", tmp_path / "board.csv"
    )
    assert code == 0 and "board.csv" in out
    table = pd.read_csv(tmp_path / "board.csv")
    row = table.iloc[0]
    assert (row["method"], row["arch"], row["n"], row["mean"]) == ("equal", "resnet20", 3, 61.0)
    assert row["ci95_low"] == pytest.approx(61.0 - 4.302653 / 3**0.5, abs=1e-4)


def _report(tmp_path: Path) -> Path:
    runs = []
    for seed in (1, 2, 3):
        runs.append(_with_epochs(record("equal", "resnet20", seed, 50.0 + seed), [40.0, 50.0 + seed], [1.0, 1.0]))
        runs.append(
            _with_epochs(record("mine", "resnet20", seed, 55.0 + seed, "agent"), [45.0, 55.0 + seed], [0.8, 0.5])
        )
        runs.append(
            _with_epochs(record("mine", "resnet56", seed, 60.0 + seed, "agent"), [50.0, 60.0 + seed], [0.9, 0.6])
        )
    board = build_board(runs, TASKS, "dev")
    path = tmp_path / "report.html"
    path.write_text(render_html(board, TASKS, rendered_line(board)))
    return path


def test_html_report_has_tables_curves_and_provenance(tmp_path: Path) -> None:
    html = _report(tmp_path).read_text()
    # per column one panel per curve metric (fine, coarse) and per task loss's weight (fine, coarse)
    assert html.count('<img class="curves"') == 8
    assert html.count("data:image/png;base64,") == 8
    assert "65.00 ± 1.00 ▼" not in html and "57.00 ± 1.00 ▲" in html
    assert "Reproducibility" in html and "device-hours" in html and "<details>" in html
    assert "<script src" not in html and "http://" not in html and "https://" not in html  # self-contained


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium not installed (Debian package chromium; .ci/run installs it)")
def test_html_report_renders_in_headless_chromium(tmp_path: Path) -> None:
    path = _report(tmp_path)
    done = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--no-first-run",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--virtual-time-budget=5000",
            "--dump-dom",
            path.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    body = re.search(r"<body([^>]*)>", done.stdout)
    assert body is not None, done.stdout[:500]
    assert 'data-loaded-images="8"' in body.group(1)  # every panel of both columns decoded with a size
    tables = int(re.search(r'data-tables="(\d+)"', body.group(1)).group(1))
    assert tables == 4  # leaderboard, two per-column tables, the job list
    assert "test acc resnet20-cifar100mt" in done.stdout and "mine" in done.stdout
