"""Length-prefixed JSON messages over a Unix socket, with size and time limits.

Both ends use it; the trainer's end treats every message as untrusted input.
"""

from __future__ import annotations

import json
import math
import select
import socket
import struct
import time

MAX_MESSAGE_BYTES = 1 << 20
# No field of the protocol needs a bigger integer (ids, epochs, seeds, int64 tensor data);
# a longer one is refused before Python converts it (4,300 digits raise, and floats
# overflow far sooner).
MAX_INT_DIGITS = 100
_HEADER = struct.Struct(">I")


class ProtocolError(Exception):
    """The peer sent something that is not a valid message."""


class PeerClosed(ProtocolError):
    """The peer closed the connection (it exited or was killed)."""


class CallTimeout(Exception):
    """No complete message arrived in time."""


def send_message(sock: socket.socket, message: dict) -> None:
    body = json.dumps(message, allow_nan=True).encode()
    sock.sendall(_HEADER.pack(len(body)) + body)


def _recv_exact(sock: socket.socket, size: int, deadline: float | None) -> bytes:
    chunks, remaining = [], size
    while remaining:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise CallTimeout()
            ready, _, _ = select.select([sock], [], [], left)
            if not ready:
                raise CallTimeout()
        chunk = sock.recv(min(remaining, 1 << 16))
        if not chunk:
            raise PeerClosed("connection closed")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def recv_message(sock: socket.socket, timeout: float | None = None) -> dict:
    """One message, or CallTimeout / PeerClosed / ProtocolError."""
    deadline = None if timeout is None else time.monotonic() + timeout
    (size,) = _HEADER.unpack(_recv_exact(sock, _HEADER.size, deadline))
    if size > MAX_MESSAGE_BYTES:
        raise ProtocolError(f"message of {size} bytes exceeds the {MAX_MESSAGE_BYTES}-byte limit")
    body = _recv_exact(sock, size, deadline)
    try:
        message = json.loads(body, parse_int=bounded_int)
    except RecursionError:
        raise ProtocolError("message nests too deeply") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ProtocolError(f"message is not JSON: {clean_text(exc, 200)}") from None
    if not isinstance(message, dict):
        raise ProtocolError("message is not a JSON object")
    return message


def bounded_int(digits: str) -> int:
    """json's `parse_int`: an integer of at most MAX_INT_DIGITS digits, or ProtocolError."""
    if len(digits.lstrip("-")) > MAX_INT_DIGITS:
        raise ProtocolError(f"an integer of {len(digits):,} characters; at most {MAX_INT_DIGITS} digits are allowed")
    return int(digits)


def finite_float(value: object, what: str) -> float:
    """A finite float from an untrusted message field, or ProtocolError."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ProtocolError(f"{what} is {type(value).__name__}, expected a number")
    try:
        number = float(value)
    except OverflowError:  # an int beyond the float range
        raise ProtocolError(f"{what} is an integer too large for a float") from None
    if not math.isfinite(number):
        raise ProtocolError(f"{what} is {number}, expected a finite number")
    return number


def _shown(value: object) -> str:
    """`value` as text: itself if a str, else its repr (which may refuse a huge int)."""
    if isinstance(value, str):
        return value
    try:
        return repr(value)
    except ValueError:
        return f"<a {type(value).__name__} too large to show>"


def _cleaned(value: object, limit: int, keep: str) -> str:
    """The first `limit` characters: printable ones and `keep` as they are, other whitespace
    as a space, the rest as `?`."""
    text = _shown(value)
    kept = "".join(ch if ch.isprintable() or ch in keep else " " if ch.isspace() else "?" for ch in text[:limit])
    return kept if len(text) <= limit else kept + " [truncated]"


def clean_text(value: object, limit: int) -> str:
    """Untrusted text for one line of a record or a console (an error, a note): no line
    breaks or other control characters, so it cannot forge a line of its own; bounded."""
    return _cleaned(value, limit, "")


def clean_details(value: object, limit: int) -> str:
    """Untrusted multi-line text (a traceback, the oracle's output): as `clean_text` but
    keeping "\n", so it can be shown indented below a line of ours and never rewrite it
    (no carriage return, escape sequence or tab)."""
    return _cleaned(value, limit, "\n")
