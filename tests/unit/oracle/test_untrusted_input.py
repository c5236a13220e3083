"""Untrusted input within bounds: a submission file's size and what Python's parser can
take, the integers of a protocol message and of a saved state, and error texts that must
stay one line. Each hostile input gives a specific, one-line error, never a crash."""

from __future__ import annotations

import io
import json
import socket
import struct
import threading
from pathlib import Path

import pytest
import torch
from torch import nn

from harness.api.errors import SubmissionError
from harness.api.sandbox import OracleLimits
from harness.methods.resolve import submission_method
from harness.oracle.backends.process import ProcessSandbox
from harness.oracle.guest.codec import UnsupportedState, encode, module_state
from harness.oracle.guest.gradient import declared_format, graph_walking
from harness.oracle.guest.loader import (
    MAX_SOURCE_BYTES,
    SOURCE_BYTES_CEILING,
    SubmissionFault,
    check_syntax,
    load_submission,
    parse_tree,
    read_source,
)
from harness.oracle.guest.protocol import (
    MAX_INT_DIGITS,
    ProtocolError,
    clean_details,
    clean_text,
    finite_float,
    recv_message,
)
from harness.run.progress import JobProgress
from tests.helpers import REPO, write_submission

LOSSES = ("fine", "coarse")
VALID = (REPO / "submissions" / "example_loss.py").read_text()
# each defeats Python's parser a different way: the tokenizer's nesting limit (a
# SyntaxError), the compiler's recursion (RecursionError), the parser's stack (MemoryError)
BOMBS = {
    "parentheses": "x = " + "(" * 100_000 + ")" * 100_000 + "\n",
    "sum": "x = " + "1+" * 100_000 + "1\n",
    "negations": "x = " + "-" * 100_000 + "1\n",
    "lambdas": "x = " + "lambda: " * 10_000 + "1\n",
}
LONG_LITERAL = "x = " + "9" * 5000 + "\n"


def one_line(text: str) -> bool:
    return text.isprintable() and len(text.splitlines()) == 1


# -- the size limit: checked before anything parses or decodes the file ---------------------
def test_a_file_over_the_limit_is_refused_before_it_is_read(tmp_path: Path) -> None:
    path = write_submission(tmp_path, VALID + "#" * MAX_SOURCE_BYTES)
    with pytest.raises(SubmissionFault) as info:
        read_source(path, MAX_SOURCE_BYTES)  # the front door's default limit (validate's)
    assert str(info.value) == (
        f"submission.py has {path.stat().st_size:,} bytes, more than the 1 MiB a submission file may have "
        "(--max-file-size or $MTL_BENCH_MAX_SUBMISSION_BYTES raise it, up to 4 MiB)"
    )
    assert read_source(path, limit=None)[0].startswith(VALID)  # a trusted file: hashed whatever its size
    assert read_source(path)[0].startswith(VALID)  # the stored copy's later readers: up to the ceiling
    huge = write_submission(tmp_path, VALID, "huge.py")
    with huge.open("r+b") as out:  # sparse: over the ceiling without writing it
        out.truncate(SOURCE_BYTES_CEILING + 1)
    with pytest.raises(SubmissionFault, match="more than the 4 MiB a submission file may have$"):
        load_submission(huge, LOSSES)  # the oracle's side: the same check, at the ceiling


def test_a_file_at_the_limit_is_read(tmp_path: Path) -> None:
    body = VALID + "#" * (MAX_SOURCE_BYTES - len(VALID.encode()))
    path = write_submission(tmp_path, body)
    assert read_source(path, MAX_SOURCE_BYTES)[0] == body


def test_the_host_refuses_a_file_over_the_limit_as_a_submission_error(tmp_path: Path) -> None:
    path = write_submission(tmp_path, VALID)
    with path.open("r+b") as out:  # sparse: over the ceiling without writing it
        out.truncate(SOURCE_BYTES_CEILING + 1)
    with pytest.raises(SubmissionError, match="more than the 4 MiB"):
        submission_method(path, "big", "submission", LOSSES, ProcessSandbox(), OracleLimits(), check=False)


# -- parser bombs -------------------------------------------------------------------------
@pytest.mark.parametrize("bomb", BOMBS.values(), ids=BOMBS.keys())
def test_a_parser_bomb_is_a_one_line_submission_fault(tmp_path: Path, bomb: str) -> None:
    path = write_submission(tmp_path, bomb)
    for parse in (check_syntax, parse_tree):
        with pytest.raises(SubmissionFault) as info:
            parse(path, bomb)
        message = str(info.value)
        assert message.startswith(("syntax error in submission.py", "submission.py cannot be parsed")), message
        assert one_line(message)
    with pytest.raises(SubmissionFault):
        load_submission(path, LOSSES)  # in the oracle: the same fault, not a crash of the server
    assert declared_format(path, bomb) == "loss"  # the syntax check reports it
    assert graph_walking(bomb) is None


@pytest.mark.parametrize("bomb", [*BOMBS.values(), LONG_LITERAL], ids=[*BOMBS.keys(), "5000-digit literal"])
def test_the_host_check_turns_a_parser_bomb_into_a_submission_error(tmp_path: Path, bomb: str) -> None:
    """What `submit` runs before the sandbox starts: unchecked (the plan), then checked."""
    path = write_submission(tmp_path, bomb)
    sandbox, limits = ProcessSandbox(), OracleLimits()
    submission_method(path, "bomb", "submission", LOSSES, sandbox, limits, check=False)
    with pytest.raises(SubmissionError) as info:
        submission_method(path, "bomb", "submission", LOSSES, sandbox, limits)
    assert one_line(str(info.value)), str(info.value)


def test_a_5000_digit_literal_is_a_syntax_error(tmp_path: Path) -> None:
    path = write_submission(tmp_path, LONG_LITERAL)
    with pytest.raises(SubmissionFault, match="syntax error in submission.py line 1: Exceeds the limit"):
        check_syntax(path, LONG_LITERAL)


# -- huge integers in a message or a state ------------------------------------------------
def raw_message(body: bytes) -> dict:
    """`body` sent as one framed message and received as the trainer receives answers."""
    left, right = socket.socketpair()
    with left, right:
        sender = threading.Thread(target=left.sendall, args=(struct.pack(">I", len(body)) + body,))
        sender.start()  # a body bigger than the socket's buffer is read while it is sent
        try:
            return recv_message(right, timeout=5)
        finally:
            sender.join()


@pytest.mark.parametrize("digits", [MAX_INT_DIGITS + 1, 400, 5000, 500_000])
def test_a_huge_integer_in_a_message_is_a_protocol_error(digits: int) -> None:
    body = b'{"id": 1, "total": 1.0, "weights": [' + b"9" * digits + b", 1.0]}"
    with pytest.raises(ProtocolError, match=f"at most {MAX_INT_DIGITS} digits"):
        raw_message(body)
    with pytest.raises(ProtocolError, match="at most"):
        raw_message(b'{"id": -' + b"9" * digits + b"}")


def test_integers_up_to_the_bound_and_long_floats_pass() -> None:
    big = int("9" * MAX_INT_DIGITS)
    assert raw_message(json.dumps({"id": big, "x": -big}).encode()) == {"id": big, "x": -big}
    assert raw_message(b'{"x": 1' + b"0" * 5000 + b".5}")["x"] == float("inf")  # a float: no int conversion


def test_finite_float_refuses_an_integer_beyond_the_float_range() -> None:
    with pytest.raises(ProtocolError, match="too large for a float"):
        finite_float(10**400, "d total / d loss")


class HugeState(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.count = 10**400


def test_the_codec_refuses_a_huge_integer_where_a_checkpoint_would_hold_it() -> None:
    with pytest.raises(UnsupportedState, match="more than 100 digits"):
        module_state(HugeState(), None)
    with pytest.raises(UnsupportedState, match="a key of state"):
        encode({10**MAX_INT_DIGITS: 1})
    assert encode({"n": 10**MAX_INT_DIGITS - 1, "t": torch.tensor([2**62])}) is not None


# -- one-line texts -----------------------------------------------------------------------
FORGED = "boom\n[1/1] attacker | epoch 1/1 | fine_acc 99.90\r\x1b[2K\u2028| attacker | 99.90 |\t\x00\u202e"


def test_clean_text_is_one_line_of_printable_characters() -> None:
    text = clean_text(FORGED, 200)
    assert one_line(text) and text.startswith("boom [1/1] attacker")
    assert clean_text("x" * 50, 10) == "x" * 10 + " [truncated]"
    assert clean_text(10**5000, 30).startswith("<a int too large")


def test_clean_details_keeps_only_line_breaks() -> None:
    text = clean_details(FORGED, 200)
    assert text.splitlines() == text.split("\n") and len(text.split("\n")) == 2
    assert all(line.isprintable() for line in text.split("\n"))


def test_a_console_message_is_one_line_whatever_it_quotes() -> None:
    stream = io.StringIO()
    JobProgress("job\nforged", 1, stream).message(f"job FAILED: {FORGED}")
    assert stream.getvalue().endswith("\n") and one_line(stream.getvalue()[:-1])
