"""Every output of the board (markdown, HTML, CSV and the JSON document's fields) is the same,
byte for byte, as the code rendered before issue 30 split the board's statistics from its
tables: one results folder with paired and unpaired seeds, failures, a superseded file,
corrupt records, published values and reported summaries, recipe rows, screening and
held-out runs, rendered as seven boards. Only the render time and the embedded figures
(matplotlib's bytes) are masked. Regenerate the fixture only from code whose outputs are
known right: MTL_BENCH_WRITE_BOARDS=1 pytest this file."""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

import pytest

from harness.api.records import JobSpec, Protocol, RunRecord, TrainConfig
from harness.report.files import load_board, write_reports
from harness.report.published import import_published
from harness.store import record_path, save_record
from tasks.face_age_gender import AdienceAgeGender
from tests.helpers import FIXTURES, REPO, all_tasks, run_record

TASKS = all_tasks()
ADIENCE = AdienceAgeGender()
FIXTURE = Path(__file__).with_name("boards-before-issue-30.json")
SCREEN = Protocol(epochs=5, train_fraction=0.25)
HELDOUT = Protocol(evaluation="heldout")
# name: (preset, include_hidden, protocol)
BOARDS: dict[str, tuple[str, bool, Protocol | None]] = {
    "dev": ("dev", False, None),
    "full": ("full", False, None),
    "full-screening": ("full", False, SCREEN),
    "full-heldout": ("full", False, HELDOUT),
    "final": ("final", True, None),
    "smoke-empty": ("smoke", False, None),
    "tiny-unreadable-only": ("tiny", False, None),
}


def cifar(method: str, arch: str, seed: int, value: float | None, kind: str = "baseline", **extra: str) -> RunRecord:
    job = JobSpec(
        task="cifar100-mtl", arch=arch, seed=seed, preset=extra.get("preset", "dev"), config=TrainConfig(epochs=2)
    )
    made = run_record(method, job, value, "fine_acc", kind, extra.get("finished", "2026-01-01T00:00:00"))
    if "sha256" in extra:
        made = made.model_copy(update={"method": made.method.model_copy(update={"source_sha256": extra["sha256"]})})
    return made


def adience(method: str, arch: str, fold: int, value: float, finished: str = "2026-01-01T00:00:00", **options):  # type: ignore[no-untyped-def]
    config = ADIENCE.preset("full")[0]
    config = config.model_copy(update={"options": {**config.options, "fold": fold, **options}})
    job = JobSpec(task=ADIENCE.name, arch=arch, seed=42, preset="full", config=config, variant=f"fold {fold}")
    return run_record(method, job, value, "age_exact", "baseline" if method == "equal" else "agent", finished)


def under(run: RunRecord, protocol: Protocol) -> RunRecord:
    job = run.job.model_copy(update={"protocol": protocol, "config": protocol.apply(run.job.config)})
    return run.model_copy(update={"job": job, "key": "s" + run.key[1:], "finished_at": "2026-02-01T00:00:00"})


def corrupt(results: Path, run: RunRecord) -> None:
    path = record_path(results, run)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('{"schema_version": 1, "key": "trunc')


def fill(results: Path) -> None:
    """The results folder every board is rendered from."""
    runs = [
        *(cifar("equal", "resnet20", s, v) for s, v in [(1, 60.0), (2, 61.0), (3, 59.0)]),
        *(cifar("equal", "resnet56", s, v) for s, v in [(1, 70.0), (2, 70.2), (3, 69.8)]),
        *(cifar("dwa", "resnet20", s, v) for s, v in [(1, 60.1), (2, 60.6), (3, 59.4)]),
        *(cifar("dwa", "resnet56", s, v) for s, v in [(1, 71.0), (2, 71.2), (3, 70.8)]),
        *(cifar("mine", "resnet20", s, v + 0.1, "agent") for s, v in [(1, 60.0), (2, 61.0), (3, 59.0)]),
        *(cifar("mine", "resnet56", s, v, "agent") for s, v in [(1, 65.0), (2, 66.0)]),
        cifar("flaky", "resnet20", 1, 80.0, "submission"),
        cifar("flaky", "resnet20", 2, None, "submission"),
        cifar("one", "resnet20", 1, 61.5, "submission"),
        cifar("redo", "resnet20", 1, 10.0, "submission", sha256="1" * 64),
        cifar("redo", "resnet20", 2, 11.0, "submission", sha256="1" * 64),
        cifar("redo", "resnet20", 1, 62.0, "submission", sha256="2" * 64, finished="2026-03-01T00:00:00"),
        cifar("equal", "vgg16bn", 1, 73.0, preset="dev"),
    ]
    standard = [
        cifar(m, "resnet20", s, v + s / 10, preset="full")
        for m, v in (("equal", 60.0), ("dwa", 61.0))
        for s in (11, 12)
    ]
    runs += standard
    runs += [under(cifar("mine", "resnet20", s, 99.0, "agent", preset="full"), SCREEN) for s in (1, 2)]
    runs += [under(r, SCREEN) for r in standard]
    runs += [under(cifar("mine", "resnet20", 1, 98.0, "agent", preset="full"), HELDOUT)]
    runs += [cifar("equal", a, s, 60.0 + s / 10, preset="final") for a in ("resnet20", "vgg16bn") for s in (21, 22)]
    runs += [adience("equal", "resnet18", f, 50.0 + f) for f in range(5)]
    runs += [adience("mine", "resnet18", f, 51.0 + f / 2) for f in range(5)]
    runs += [adience("mine", "resnet18", f, 40.0 + f, "2026-02-01T00:00:00", recipe="gender-first") for f in range(5)]
    for index, run in enumerate(runs):  # a key of its own: the helper's keys share their first 16 characters
        save_record(results, run.model_copy(update={"key": hashlib.sha256(f"{index}".encode()).hexdigest()}))
    corrupt(results, cifar("mine", "resnet20", 4, 1.0, "agent"))
    corrupt(results, cifar("hider", "resnet20", 1, 1.0, "agent"))
    (results / "runs" / "dev" / "hider" / "stray.json").write_text("[]")
    corrupt(results, cifar("ghost", "resnet20", 1, 1.0, "agent", preset="tiny"))
    import_published(FIXTURES / "mls-bench-cv-multitask-loss.json", TASKS, ["full", "final"], results)
    import_published(REPO / "tasks" / "face_age_gender" / "published" / "ror-adience.json", TASKS, ["full"], results)


def masked(text: str, results: Path) -> str:
    text = text.replace(str(results), "RESULTS")
    text = re.sub(r"Rendered \S+ from", "Rendered (time) from", text)
    return re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "data:image/png;base64,(figure)", text)


def rendered(results: Path, out: Path) -> dict[str, dict[str, object]]:
    """Each board's outputs, masked: markdown, HTML, CSV and the JSON document's fields."""
    boards: dict[str, dict[str, object]] = {}
    for name, (preset, hidden, protocol) in BOARDS.items():
        md, html, csv = out / f"{name}.md", out / f"{name}.html", out / f"{name}.csv"
        board = load_board(results, TASKS, preset, hidden, protocol)
        text = write_reports(board, TASKS, md, html, csv)
        assert text == md.read_text()
        document = {
            "protocol": board.protocol_label(),
            "protocols": board.protocol_keys(),
            "comparable_to_published": board.comparable_to_published,
            "cells": board.long_rows(),
            "unreadable_records": board.unreadable(),
        }
        boards[name] = {
            "markdown": masked(text, results),
            "html": masked(html.read_text(), results),
            "csv": masked(csv.read_text(), results),
            "document": masked(json.dumps(document, indent=1, default=str), results),
        }
    return boards


def test_every_output_is_the_one_rendered_before_the_split(tmp_path: Path) -> None:
    results, out = tmp_path / "results", tmp_path / "out"
    out.mkdir()
    fill(results)
    now = rendered(results, out)
    if os.environ.get("MTL_BENCH_WRITE_BOARDS"):
        FIXTURE.write_text(json.dumps(now, indent=1, ensure_ascii=False) + "\n")
        pytest.skip(f"wrote {FIXTURE.name}")
    before = json.loads(FIXTURE.read_text())
    assert list(now) == list(before)
    for name in before:
        for output in before[name]:
            assert now[name][output] == before[name][output], f"{name}: {output} changed"
