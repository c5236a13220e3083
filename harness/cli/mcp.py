"""`mcp`: serve the commands to agents over the Model Context Protocol (stdio). The server
is `harness/mcp_server.py`, above the Python API it calls; this command replaces its own
process with `python -m harness.mcp_server`, so the CLI never imports the Python API."""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys

from harness.api.errors import HarnessError


def register(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = commands.add_parser(
        "mcp",
        help="serve validate, submit, status and leaderboard to agents as MCP tools over stdio",
        description="An MCP server on stdin/stdout (configure a client with the command `mtl-bench mcp`): the "
        "tools validate, submit (queues the jobs and starts a local worker; wait=true waits), status (poll the "
        "queue) and leaderboard answer with the --json documents. Needs the mcp extra: pip install -e '.[mcp]'.",
    )
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    if importlib.util.find_spec("mcp") is None:
        raise HarnessError("the MCP server needs the mcp package: pip install -e '.[mcp]'")
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, "-m", "harness.mcp_server"])
    return 0  # not reached: execv replaces this process
