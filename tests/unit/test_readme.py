"""The README's counts of the baselines follow the registry: the number after "Baselines:"
(What it does), the number before " methods" on the `baselines/` line of the Layout block,
and one row per registered method in the table of the Baselines section."""

from __future__ import annotations

import re

import pytest

from harness import registry
from tests.helpers import REPO

README = (REPO / "README.md").read_text()


def built_in_methods() -> list[str]:
    """The methods this distribution registers (pyproject.toml's `mtl_bench.methods`), not an
    outside plugin's that happens to be installed."""
    refs = registry.methods.references()
    return [name for name, ref in refs.items() if ref.distribution.startswith(registry.DISTRIBUTION)]


def section(title: str) -> str:
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", README, re.M | re.S)
    assert match, f"README has no '## {title}' section"
    return match[1]


def test_there_are_built_in_methods() -> None:
    assert len(built_in_methods()) >= 4 and "equal" in built_in_methods()


@pytest.mark.parametrize(
    ("where", "pattern"),
    [
        ("What it does: 'Baselines: N, listed in ...'", r"^Baselines: (\d+),"),
        ("Layout: 'baselines/  N methods: ...'", r"^baselines/\s+(\d+) methods"),
    ],
    ids=["what-it-does", "layout"],
)
def test_the_readme_counts_every_registered_method(where: str, pattern: str) -> None:
    found = re.findall(pattern, README, re.M)
    assert len(found) == 1, f"README: expected one line matching {pattern!r} ({where}), found {len(found)}"
    assert int(found[0]) == len(built_in_methods()), (
        f"README ({where}) says {found[0]}; {len(built_in_methods())} methods are registered: "
        f"{', '.join(built_in_methods())}"
    )


def test_the_baselines_table_has_one_row_per_registered_method() -> None:
    rows = re.findall(r"^\| `([^`]+)` \|", section("Baselines"), re.M)
    assert len(rows) == len(set(rows)), f"a method has two rows: {sorted(r for r in rows if rows.count(r) > 1)}"
    assert set(rows) == set(built_in_methods()), (
        f"registered, no row: {sorted(set(built_in_methods()) - set(rows))}; "
        f"a row, not registered: {sorted(set(rows) - set(built_in_methods()))}"
    )


def test_the_readme_states_the_number_of_mutants_and_that_all_are_killed() -> None:
    from tests.unit.baselines.test_mutants import MUTANTS

    text = section("Baselines")
    assert re.search(rf"\b{len(MUTANTS)} one-line mutants\b", text), f"README should say {len(MUTANTS)} mutants"
    assert f"all {len(MUTANTS)} are killed" in text
