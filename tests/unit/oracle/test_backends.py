"""What each backend shows the oracle: only its own guest package, never the harness."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.api import LaunchRequest, OracleLimits
from harness.oracle.backends import bwrap
from harness.oracle.backends.bwrap import BwrapSandbox
from harness.oracle.guest import GUEST_DIR
from tests.helpers import REPO


def binds(command: list[str]) -> dict[str, str]:
    """Destination -> source of every bind in a bwrap command line."""
    out = {}
    for i, arg in enumerate(command):
        if arg in ("--ro-bind", "--bind"):
            out[command[i + 2]] = command[i + 1]
    return out


def request(tmp_path: Path) -> LaunchRequest:
    submission = tmp_path / "loss.py"
    submission.write_text("")
    return LaunchRequest(tmp_path, submission, GUEST_DIR, OracleLimits())


def test_bwrap_mounts_the_guest_package_and_nothing_else_of_the_project(tmp_path: Path) -> None:
    command = BwrapSandbox().command(request(tmp_path))
    mounted = binds(command)
    assert mounted["/sandbox/guest"] == str(GUEST_DIR)
    harness_dir = REPO / "harness"
    for source in mounted.values():
        path = Path(source)
        if path == GUEST_DIR:
            continue
        assert not (path / "run" / "trainer.py").exists() and not (path / "harness").is_dir(), source
        assert not harness_dir.is_relative_to(path) or path == Path("/"), f"{source} contains the harness"
    assert command[command.index("-c") + 1].startswith("import sys; sys.path.insert(0, '/sandbox'); from guest.server")


def test_bwrap_masks_an_installed_harness_inside_the_python_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A non-editable install keeps the harness and plugins in site-packages, which is bound
    read-only: those folders are covered by empty tmpfs mounts."""
    site = tmp_path / "venv" / "lib" / "site-packages"
    (site / "harness" / "run").mkdir(parents=True)
    (site / "tasks").mkdir()
    monkeypatch.setattr(bwrap, "python_roots", lambda: [tmp_path / "venv"])
    monkeypatch.setattr(bwrap, "trusted_code_locations", lambda: [site / "harness", site / "tasks", Path("/elsewhere")])
    command = BwrapSandbox().command(request(tmp_path))
    masked = [command[i + 1] for i, arg in enumerate(command) if arg == "--tmpfs"]
    assert str(site / "harness") in masked and str(site / "tasks") in masked
    assert "/elsewhere" not in masked  # not inside anything mounted: nothing to hide
    assert command.index(str(site / "harness")) > command.index(str(tmp_path / "venv"))  # after the bind


def test_trusted_code_locations_find_this_harness() -> None:
    locations = bwrap.trusted_code_locations()
    assert (REPO / "harness").resolve() in locations and (REPO / "baselines").resolve() in locations
