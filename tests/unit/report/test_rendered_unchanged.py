"""Every output of the board (markdown, HTML, CSV and the JSON document's fields) is the same,
byte for byte, as the reviewed rendering in `boards.json`: one results folder with paired and
unpaired seeds, failures, a superseded file, corrupt records, published values and reported
summaries, recipe rows, screening and held-out runs, single-task controls and fixed-weight
grid points (with held-out runs to choose on), rendered as seven boards. Only the render time
and the embedded figures (matplotlib's bytes) are masked. Regenerate the fixture only from
code whose outputs are known right: MTL_BENCH_WRITE_BOARDS=1 pytest this file.

Issue 31 changed the text (headers name their checkpoint rule, marks are Holm-corrected,
new columns and sections) but no number: every field of every cell the board had before it
(`board-numbers-before-issue-31.json`, the documents of the issue-30 rendering) is unchanged."""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from pathlib import Path
from typing import Any

import pytest

from harness.api.records import JobSpec, Protocol, RunRecord, TrainConfig
from harness.report.files import load_board, write_reports
from harness.report.long_form import long_rows
from harness.report.published import import_published
from harness.store import record_path, save_record
from tasks.face_age_gender import AdienceAgeGender
from tests.helpers import FIXTURES, REPO, all_tasks, run_record

TASKS = all_tasks()
ADIENCE = AdienceAgeGender()
FIXTURE = Path(__file__).with_name("boards.json")
NUMBERS_BEFORE = Path(__file__).with_name("board-numbers-before-issue-31.json")
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


def cifar(method: str, arch: str, seed: int, value: float | None, kind: str = "baseline", **extra: Any) -> RunRecord:
    """A cifar run; its final epoch scores fine `value` - 1 and coarse `coarse` (default value + 5)."""
    job = JobSpec(
        task="cifar100-mtl", arch=arch, seed=seed, preset=extra.get("preset", "dev"), config=TrainConfig(epochs=2)
    )
    made = run_record(method, job, value, "fine_acc", kind, extra.get("finished", "2026-01-01T00:00:00"))
    spec = {key: extra[key] for key in ("trains", "loss_weights") if key in extra}
    if "sha256" in extra:
        spec["source_sha256"] = extra["sha256"]
    finals = {} if value is None else {"fine_acc": value - 1.0, "coarse_acc": extra.get("coarse", value + 5.0)}
    return made.model_copy(update={"method": made.method.model_copy(update=spec), "final_metrics": finals})


def controls(preset: str, seeds: tuple[int, ...], protocol: Protocol | None = None) -> list[RunRecord]:
    """resnet20's single-task controls and two fixed-weight grid points (coarse: 66 at w=0.3, 62 at w=0.7)."""
    runs = [
        *(
            cifar("single:fine", "resnet20", s, 62.0 + s / 10, trains=("fine",), coarse=1.0, preset=preset)
            for s in seeds
        ),
        *(cifar("single:coarse", "resnet20", s, 1.0, trains=("coarse",), coarse=66.0, preset=preset) for s in seeds),
        *(
            cifar("fixed-weights:0.3-0.7", "resnet20", s, 59.5 + s / 5, loss_weights=(0.6, 1.4), preset=preset)
            for s in seeds
        ),
        *(
            cifar("fixed-weights:0.7-0.3", "resnet20", s, 60.5 - s / 5, loss_weights=(1.4, 0.6), preset=preset)
            for s in seeds
        ),
    ]
    return runs if protocol is None else [under(r, protocol) for r in runs]


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
    runs += controls("dev", (1, 2, 3))
    # the full preset's grid and controls with held-out runs (without equal's: so the tuned point is chosen on test)
    runs += controls("full", (11, 12))
    held = controls("full", (11, 12), HELDOUT)
    runs += [r.model_copy(update={"best_primary": 70.0 - r.best_primary}) if r.method.loss_weights else r for r in held]
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
            "cells": long_rows(board),
            "unreadable_records": board.unreadable(),
        }
        boards[name] = {
            "markdown": masked(text, results),
            "html": masked(html.read_text(), results),
            "csv": masked(csv.read_text(), results),
            "document": masked(json.dumps(document, indent=1, default=str), results),
        }
    return boards


def same(before: object, now: object) -> bool:
    """Equal; floats to 1e-9 relative (SciPy's t distribution replaced the hand-written one
    in the tests' p-values and intervals, in the last digits)."""
    if isinstance(before, float) and isinstance(now, float):
        return math.isclose(before, now, rel_tol=1e-9, abs_tol=1e-12)
    return before == now


@pytest.fixture(scope="module")
def now(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, object]]:
    """The boards rendered once for both tests (seconds of board building each)."""
    root = tmp_path_factory.mktemp("rendered")
    results, out = root / "results", root / "out"
    out.mkdir()
    fill(results)
    return rendered(results, out)


def test_no_number_the_boards_had_before_issue_31_changed(now: dict[str, dict[str, object]]) -> None:
    before = json.loads(NUMBERS_BEFORE.read_text())
    assert list(now) == list(before)
    for name, old_document in before.items():
        document = json.loads(str(now[name]["document"]))
        cells = {(c["method"], c["published"], c["task"], c["arch"]): c for c in document["cells"]}
        for old in old_document["cells"]:
            new = cells[(old["method"], old["published"], old["task"], old["arch"])]
            assert new["column"] == f"{old['column']} ({new['rule']})", name
            changed = {k: (v, new[k]) for k, v in old.items() if k != "column" and not same(v, new[k])}
            assert not changed, f"{name}: {old['method']} {old['arch']}: {changed}"
        assert {k: document[k] for k in old_document if k != "cells"} == {
            k: v for k, v in old_document.items() if k != "cells"
        }


def test_every_output_is_the_one_rendered_before(now: dict[str, dict[str, object]]) -> None:
    if os.environ.get("MTL_BENCH_WRITE_BOARDS"):
        FIXTURE.write_text(json.dumps(now, indent=1, ensure_ascii=False) + "\n")
        pytest.skip(f"wrote {FIXTURE.name}")
    before = json.loads(FIXTURE.read_text())
    assert list(now) == list(before)
    for name in before:
        for output in before[name]:
            assert now[name][output] == before[name][output], f"{name}: {output} changed"
