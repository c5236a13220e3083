"""`mtl-bench mcp`: a subcommand of the CLI that replaces its process with the MCP server
(`python -m harness.mcp_server`, above the Python API: the CLI never imports either), and
says how to install the extra where the `mcp` package is missing. The server itself, end to
end over stdio: tests/integration/test_mcp.py."""

from __future__ import annotations

import argparse
import sys

import pytest

from harness.api.errors import HarnessError
from harness.cli import mcp


def test_the_cli_has_the_mcp_command() -> None:
    from harness.cli import SUBCOMMANDS, build_parser

    assert mcp in SUBCOMMANDS
    assert build_parser().parse_args(["mcp"]).func is mcp.run


def test_it_execs_the_server_module(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mcp.importlib.util, "find_spec", lambda name: object())
    execs: list[tuple[str, list[str]]] = []
    monkeypatch.setattr(mcp.os, "execv", lambda path, argv: execs.append((path, argv)))
    mcp.run(argparse.Namespace())
    assert execs == [(sys.executable, [sys.executable, "-m", "harness.mcp_server"])]


def test_without_the_package_it_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mcp.importlib.util, "find_spec", lambda name: None)
    monkeypatch.setattr(mcp.os, "execv", lambda path, argv: pytest.fail("exec without the package"))
    with pytest.raises(HarnessError, match=r"needs the mcp package: pip install -e '\.\[mcp\]'"):
        mcp.run(argparse.Namespace())
