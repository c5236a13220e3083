"""The MCP server (`mtl-bench mcp`) driven by the SDK's own client over stdio, as an agent
would: the tools, a validation, a bad file's error document, and the whole loop (validate a
new file, submit it without waiting, poll the queue, read the outcome and the board)."""

from __future__ import annotations

import json
import shutil
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from harness.outputs import ErrorOutput, LeaderboardOutput, PluginsOutput, RunOutput, StatusOutput, ValidationOutput
from tests.helpers import REPO

pytest.importorskip("mcp", reason="the MCP server needs the mcp extra: pip install -e '.[test,mcp]'")

import anyio  # noqa: E402  (the mcp package's dependency)
from mcp import ClientSession  # noqa: E402
from mcp.client.stdio import StdioServerParameters, stdio_client  # noqa: E402

SERVER = StdioServerParameters(command=sys.executable, args=["-m", "harness", "mcp"], cwd=str(REPO))
TOOLS = {"validate", "submit", "status", "leaderboard", "plugins"}


def with_session(agent: Callable[[ClientSession], Awaitable[None]], stderr: Path) -> None:
    """Start the server as a client does (its stderr kept in a file) and run `agent` on it."""

    async def main() -> None:
        with stderr.open("w") as errlog:
            async with stdio_client(SERVER, errlog=errlog) as (read, write):
                async with ClientSession(read, write) as session:
                    await session.initialize()
                    await agent(session)

    anyio.run(main)


async def call(session: ClientSession, tool: str, **arguments: Any) -> dict[str, Any]:
    """A tool's structured answer: the command's document under `result`, also its text."""
    answer = await session.call_tool(tool, arguments)
    assert not answer.is_error, answer.content
    document = answer.structured_content["result"]
    assert json.loads(answer.content[0].text) == document  # type: ignore[union-attr]
    return document


def new_loss(folder: Path) -> Path:
    loss = folder / "agent_loss.py"
    shutil.copy(REPO / "submissions" / "example_loss.py", loss)
    return loss


@pytest.mark.slow  # a server process and a sandboxed validation; quick: tests/unit/test_python_api.py, test_mcp_command.py
def test_the_tools_a_validation_and_a_bad_files_error_document(tmp_path: Path) -> None:
    loss = new_loss(tmp_path)
    broken = tmp_path / "broken_loss.py"
    broken.write_text("class MultiTaskLoss(:\n")
    seen: dict[str, Any] = {}

    async def agent(session: ClientSession) -> None:
        tools = (await session.list_tools()).tools
        seen["tools"] = {tool.name: tool for tool in tools}
        seen["checked"] = await call(session, "validate", path=str(loss), epochs=1, steps=2)
        seen["broken"] = await call(session, "validate", path=str(broken))
        seen["missing"] = await call(session, "submit", path=str(tmp_path / "nope.py"), preset="tiny")
        seen["bad argument"] = await call(session, "submit", path=str(loss), preset="tiny", epochs=0)
        seen["queue"] = await call(session, "status", results=str(tmp_path / "results"))  # the server lives on
        seen["plugins"] = await call(session, "plugins")

    with_session(agent, tmp_path / "server.err")
    assert set(seen["tools"]) == TOOLS
    for name, tool in seen["tools"].items():
        assert tool.description and tool.output_schema["required"] == ["result"], name
    checked = ValidationOutput.model_validate(seen["checked"])
    assert checked.file == str(loss) and checked.format == "loss" and checked.calls == 2 and checked.error is None
    assert checked.exit_code == 0 or all("too slow" in p for p in checked.problems), checked.problems  # a busy machine
    broken_doc = ErrorOutput.model_validate(seen["broken"])
    assert broken_doc.command == "validate" and broken_doc.exit_code == 2 and broken_doc.error.kind == "submission"
    assert "syntax error in broken_loss.py" in broken_doc.error.message
    missing = ErrorOutput.model_validate(seen["missing"])
    assert missing.exit_code == 2 and missing.error.kind == "submission" and "not found" in missing.error.message
    bad = ErrorOutput.model_validate(seen["bad argument"])
    assert bad.error.kind == "bad-input" and bad.error.message == "epochs: input should be greater than or equal to 1"
    queue = StatusOutput.model_validate(seen["queue"])
    assert queue.exit_code == 0 and queue.jobs == [] and not any(queue.counts.values())
    registered = PluginsOutput.model_validate(seen["plugins"])
    assert {"cifar100-mtl", "equal"} <= {entry.name for entry in registered.plugins}


@pytest.mark.slow  # trains a job (half a minute on 2 cores); the quick test above covers the tools
def test_an_agent_validates_submits_polls_and_reads_its_verdict(tmp_path: Path, data_root: Path) -> None:
    loss = new_loss(tmp_path)
    results = tmp_path / "results"
    job = {
        "path": str(loss),
        "preset": "tiny",
        "tasks": ["cifar100-mtl"],
        "results": str(results),
        "baselines": False,
        "device": "cpu",
        "data_root": str(data_root),
        "epochs": 1,
    }
    seen: dict[str, Any] = {"polls": []}

    async def agent(session: ClientSession) -> None:
        seen["checked"] = await call(session, "validate", path=str(loss), epochs=1, steps=2)
        seen["queued"] = await call(session, "submit", **job)  # wait is off: it answers at once
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            queue = await call(session, "status", results=str(results))
            seen["polls"].append(queue)
            if not queue["counts"]["pending"] and not queue["counts"]["running"]:
                break
            await anyio.sleep(1.0)
        else:
            pytest.fail(f"the queued job did not end in 300 s: {seen['polls'][-1]['counts']}")
        seen["final"] = await call(session, "submit", **job, wait=True)  # every job recorded: at once
        seen["board"] = await call(session, "leaderboard", results=str(results), preset="tiny", epochs=1)

    with_session(agent, tmp_path / "server.err")
    assert ValidationOutput.model_validate(seen["checked"]).calls == 2
    queued = RunOutput.model_validate(seen["queued"])
    assert queued.exit_code == 0 and [j.status for j in queued.jobs] == ["queued"] and queued.leaderboard is None
    last = StatusOutput.model_validate(seen["polls"][-1])
    assert last.counts["done"] == 1 and [j.method for j in last.jobs] == ["agent_loss"], seen["polls"][-1]
    final = RunOutput.model_validate(seen["final"])
    (done,) = final.jobs
    assert final.exit_code == 0 and done.status == "ok" and done.best_primary is not None
    assert Path(done.record).is_file()  # type: ignore[arg-type]
    assert queued.verdict is None  # nothing waited for, nothing judged yet
    verdict = final.verdict  # the submission's outcome in one object
    assert verdict is not None and verdict.submission == "agent_loss" and verdict.summary, seen["final"]
    (column,) = verdict.columns
    assert (column.task, column.n, column.failed) == ("cifar100-mtl", 1, 0)
    assert column.mean == pytest.approx(done.best_primary) and column.rank == 1
    board = LeaderboardOutput.model_validate(seen["board"])
    assert final.leaderboard is not None and final.leaderboard.cells == board.cells
    (cell,) = [c for c in board.cells if c.method == "agent_loss"]
    assert cell.values == [done.best_primary] and cell.n == 1 and board.protocol == "epochs=1"
    server_log = (tmp_path / "server.err").read_text()
    assert "mcp: starting a worker" in server_log and "epoch 1/1" in server_log  # the worker's output: stderr
