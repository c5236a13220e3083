"""The Python API as programs and agents use it: a user's error is an error document (never
an exception; a bug still raises), stdout stays the caller's down to the file descriptor
(children and C code included, nested and concurrent calls too), and the README's example
uses only what `harness` exports, with arguments the functions take."""

from __future__ import annotations

import ast
import inspect
import os
import re
import subprocess
import textwrap
from pathlib import Path

import pytest

import harness
from harness.commands import validation
from harness.outputs import ErrorOutput, PluginsOutput, StatusOutput
from tests.helpers import PYTHON, REPO

EXAMPLE = REPO / "submissions" / "example_loss.py"


def run_script(body: str) -> subprocess.CompletedProcess:
    return subprocess.run([PYTHON, "-c", textwrap.dedent(body)], cwd=REPO, capture_output=True, text=True, timeout=120)


def test_user_errors_are_error_documents(tmp_path: Path) -> None:
    broken = tmp_path / "broken.py"
    broken.write_text("class MultiTaskLoss(:\n")
    a_file = tmp_path / "a-file"
    a_file.write_text("not a folder")
    cases = [
        (harness.validate(tmp_path / "missing.py"), "validate", "submission", "submission file not found"),
        (harness.validate(broken), "validate", "submission", "syntax error in broken.py line 1"),
        (harness.validate(EXAMPLE, task="no-such-task"), "validate", "plugin", "unknown task 'no-such-task'"),
        (harness.validate(EXAMPLE, epochs=0), "validate", "bad-input", "--epochs and --steps must be at least 1"),
        (harness.submit(EXAMPLE, results=tmp_path, epochs=0), "submit", "bad-input", "epochs: input should be"),
        (harness.submit(EXAMPLE, results=a_file), "submit", "bad-input", f"results: {a_file} is not a folder"),
        (harness.leaderboard(results=tmp_path, preset="nope"), "leaderboard", "bad-input", "preset 'nope'"),
        (harness.status(results=a_file), "status", "bad-input", f"results: {a_file} is not a folder"),
    ]
    for answer, command, kind, message in cases:
        assert isinstance(answer, ErrorOutput), (command, message, answer)
        assert (answer.command, answer.exit_code, answer.error.kind) == (command, 2, kind), answer
        assert message in answer.error.message and "\n" not in answer.error.message, answer.error.message
    assert not (tmp_path / "queue").exists()  # refused before anything was queued


def test_the_file_size_limit_is_an_argument_and_a_bad_limit_an_error_document(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """max_file_size as the CLI's --max-file-size; a bad $MTL_BENCH_MAX_SUBMISSION_BYTES is
    an error document too (its default is read outside pydantic's validation)."""
    big = tmp_path / "big.py"
    big.write_bytes(EXAMPLE.read_bytes() + b"#" * 3000)
    limited = harness.validate(big, max_file_size="2KiB")
    assert isinstance(limited, ErrorOutput) and limited.error.kind == "submission"
    assert "more than the 2 KiB" in limited.error.message, limited.error.message
    dry = harness.submit(big, results=tmp_path, dry_run=True, max_file_size=2048)
    assert isinstance(dry, ErrorOutput) and "more than the 2 KiB" in dry.error.message
    bad = harness.validate(big, max_file_size="lots")
    assert isinstance(bad, ErrorOutput) and bad.error.kind == "bad-input" and "max_file_size" in bad.error.message
    monkeypatch.setenv("MTL_BENCH_MAX_SUBMISSION_BYTES", "lots")
    for answer in (harness.validate(EXAMPLE), harness.submit(EXAMPLE, results=tmp_path, dry_run=True)):
        assert isinstance(answer, ErrorOutput) and answer.error.kind == "bad-input", answer
        assert "$MTL_BENCH_MAX_SUBMISSION_BYTES takes a size" in answer.error.message


def test_a_bug_still_raises_and_stdout_comes_back(monkeypatch: pytest.MonkeyPatch) -> None:
    def bug(request: object) -> None:
        raise RuntimeError("a harness bug")

    monkeypatch.setattr(validation, "validate", bug)
    before = os.fstat(1)
    with pytest.raises(RuntimeError, match="a harness bug"):
        harness.validate(EXAMPLE)
    assert os.path.samestat(os.fstat(1), before)


def test_status_and_plugins_are_the_clis_documents(tmp_path: Path) -> None:
    answer = harness.status(results=tmp_path)
    assert isinstance(answer, StatusOutput) and answer.exit_code == 0 and answer.jobs == []
    assert answer.queue == str(tmp_path / "queue") and set(answer.counts) >= {"pending", "running", "done"}
    registered = harness.plugins()
    assert isinstance(registered, PluginsOutput) and registered.command == "plugins"
    assert {"cifar100-mtl", "equal", "bwrap"} <= {entry.name for entry in registered.plugins}


def test_stdout_is_redirected_at_the_file_descriptor() -> None:
    ran = run_script(
        """
        import os, subprocess, sys
        from harness.python_api import stdout_on_stderr

        print("script: before", flush=True)
        with stdout_on_stderr():
            print("a print")
            os.write(1, b"a write to fd 1\\n")
            subprocess.run([sys.executable, "-c", "print('a child')"], check=True)
            with stdout_on_stderr():
                os.write(1, b"nested\\n")
            os.write(1, b"after the nested call\\n")
        print("script: after", flush=True)
        os.write(1, b"script: fd 1 is back\\n")
        """
    )
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout == "script: before\nscript: after\nscript: fd 1 is back\n"
    for line in ("a print", "a write to fd 1", "a child", "nested", "after the nested call"):
        assert line in ran.stderr


def test_concurrent_calls_share_one_redirection() -> None:
    """One thread leaves while another is still inside: stdout stays on stderr until the
    last leaves, then comes back."""
    ran = run_script(
        """
        import os, threading
        from harness.python_api import stdout_on_stderr

        first_in, second_in, first_left = threading.Event(), threading.Event(), threading.Event()

        def first():
            with stdout_on_stderr():
                first_in.set()
                second_in.wait()
                os.write(1, b"first inside\\n")
            first_left.set()

        def second():
            first_in.wait()  # the first redirects, the second joins, the first leaves first
            with stdout_on_stderr():
                second_in.set()
                first_left.wait()
                os.write(1, b"second inside after the first left\\n")

        threads = [threading.Thread(target=first), threading.Thread(target=second)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        os.write(1, b"script: done\\n")
        """
    )
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout == "script: done\n"
    assert "first inside" in ran.stderr and "second inside after the first left" in ran.stderr


def readme_example() -> str:
    section = re.search(
        r"^## Scripting: JSON and the Python API\n(.*?)(?=^## )", (REPO / "README.md").read_text(), re.M | re.S
    )
    assert section, "README has no Python API section"
    blocks = re.findall(r"```python\n(.*?)```", section[1], re.S)
    assert len(blocks) == 1, blocks
    return blocks[0]


def test_the_readme_example_uses_what_harness_exports_with_arguments_it_takes() -> None:
    tree = ast.parse(readme_example())
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) for alias in node.names}
    assert imported >= {"validate", "submit", "leaderboard"}
    functions = {name: getattr(harness, name) for name in imported}  # an AttributeError: not exported
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)]
    called = {call.func.id for call in calls if call.func.id in functions}  # type: ignore[union-attr]
    assert called >= {"validate", "submit", "leaderboard"}
    for call in calls:
        if call.func.id in functions:  # type: ignore[union-attr]
            signature = inspect.signature(functions[call.func.id])  # type: ignore[union-attr]
            signature.bind(*call.args, **{k.arg: k.value for k in call.keywords if k.arg})
