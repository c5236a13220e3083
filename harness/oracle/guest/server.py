"""The oracle's side: runs inside the sandbox, loads the submission and answers steps.

Started as `python -I -B -c BOOT SOCKET SUBMISSION`; everything it needs arrives in the
first message. It never sees the model, the data or the results.
"""

from __future__ import annotations

import socket
from pathlib import Path


def serve(socket_path: str, submission_path: str) -> int:
    import torch

    torch.set_num_threads(1)
    from .protocol import recv_message

    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(socket_path)
    init = recv_message(sock)
    if init.get("format", "loss") == "loss":
        return _serve_loss(sock, Path(submission_path), init)
    return _serve_gradient(sock, Path(submission_path), init)


def _serve_loss(sock: socket.socket, path: Path, init: dict) -> int:
    from .loader import SubmissionFault, load_submission
    from .protocol import PeerClosed, recv_message, send_message
    from .runner import LossModuleRunner, SGDSettings

    try:
        loaded = load_submission(path, tuple(init["loss_names"]))
        sgd = SGDSettings(float(init["lr"]), float(init["momentum"]), float(init["weight_decay"]))
        runner = LossModuleRunner(loaded.loss_class, loaded.path, sgd)
    except SubmissionFault as exc:
        send_message(sock, {"error": str(exc), "details": exc.details})
        return 0
    send_message(sock, {"ready": True, "sha256": loaded.sha256})
    while True:
        try:
            request = recv_message(sock)
        except PeerClosed:
            return 0
        op = request.get("op")
        if op in ("get_state", "set_state"):
            _state(sock, runner, request)
            continue
        if op != "step":
            return 0
        try:
            total, weights = runner.step(request["values"], request["epoch"], request["total_epochs"], request["lr"])
        except SubmissionFault as exc:
            send_message(sock, {"id": request["id"], "error": str(exc), "details": exc.details})
            return 0
        send_message(sock, {"id": request["id"], "total": total, "weights": weights})


def _serve_gradient(sock: socket.socket, path: Path, init: dict) -> int:
    """A GradientCombiner (gradients in the shared segment) or a GramCombiner (the Gram
    matrix in the message); the answer goes into the segment's answer row when it is
    (P,), else into the message."""
    import torch

    from .gradient import GradientRunner, load_combiner_class, probe
    from .loader import SubmissionFault
    from .protocol import PeerClosed, recv_message, send_message
    from .segment import Segment

    level = init["format"]
    task_count = len(init["loss_names"])
    try:
        combiner_class, sha256 = load_combiner_class(path, level)
        probe(combiner_class, path, level, task_count)
    except SubmissionFault as exc:
        send_message(sock, {"error": str(exc), "details": exc.details})
        return 0
    send_message(sock, {"ready": True, "sha256": sha256})
    attach = recv_message(sock)
    if attach.get("op") != "attach":
        return 0
    width = int(attach["width"])
    segment = Segment.receive(sock, task_count, width) if level == "gradient" else None
    try:
        runner = GradientRunner(combiner_class, path, level, int(attach["seed"]), task_count)
    except SubmissionFault as exc:
        send_message(sock, {"id": attach["id"], "error": str(exc), "details": exc.details})
        return 0
    send_message(sock, {"id": attach["id"], "ok": True})
    while True:
        try:
            request = recv_message(sock)
        except PeerClosed:
            return 0
        op = request.get("op")
        if op in ("get_state", "set_state"):
            _state(sock, runner, request)
            continue
        if op != "combine":
            return 0
        if segment is not None:
            inputs = segment.gradients
        else:
            inputs = torch.tensor(request["gram"], dtype=torch.float64).reshape(task_count, task_count)
        try:
            answer = runner.combine(
                inputs, request["losses"], request["epoch"], request["total_epochs"], request["step"]
            )
        except SubmissionFault as exc:
            send_message(sock, {"id": request["id"], "error": str(exc), "details": exc.details})
            return 0
        if segment is not None and answer.shape[0] == width and width != task_count:
            segment.answer.copy_(answer)
            send_message(sock, {"id": request["id"], "kind": "direction"})
        else:
            send_message(sock, {"id": request["id"], "kind": "coefficients", "coefficients": answer.tolist()})


def _state(sock: socket.socket, runner: object, request: dict) -> None:
    from .protocol import send_message

    if request["op"] == "get_state":
        try:
            send_message(sock, {"id": request["id"], "state": runner.get_state()})  # type: ignore[attr-defined]
        except Exception as exc:  # e.g. an attribute a checkpoint cannot hold
            send_message(sock, {"id": request["id"], "error": f"{type(exc).__name__}: {exc}"})
        return
    runner.set_state(request["state"])  # type: ignore[attr-defined]
    send_message(sock, {"id": request["id"], "ok": True})
