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
        message = json.loads(body)
    except RecursionError:
        raise ProtocolError("message nests too deeply") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ProtocolError(f"message is not JSON: {exc}") from None
    if not isinstance(message, dict):
        raise ProtocolError("message is not a JSON object")
    return message


def finite_float(value: object, what: str) -> float:
    """A finite float from an untrusted message field, or ProtocolError."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ProtocolError(f"{what} is {type(value).__name__}, expected a number")
    number = float(value)
    if not math.isfinite(number):
        raise ProtocolError(f"{what} is {number}, expected a finite number")
    return number


def clean_text(value: object, limit: int) -> str:
    """Untrusted text for a record: printable characters only, bounded length."""
    text = value if isinstance(value, str) else repr(value)
    text = "".join(ch if ch.isprintable() or ch == "\n" else "?" for ch in text)
    return text if len(text) <= limit else text[:limit] + " [truncated]"
