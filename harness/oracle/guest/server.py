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
    from .loader import SubmissionFault, load_submission
    from .protocol import PeerClosed, recv_message, send_message
    from .runner import LossModuleRunner, SGDSettings

    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(socket_path)
    init = recv_message(sock)
    try:
        loaded = load_submission(Path(submission_path), tuple(init["loss_names"]))
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
        if op == "get_state":
            try:
                send_message(sock, {"id": request["id"], "state": runner.get_state()})
            except Exception as exc:  # e.g. an attribute a checkpoint cannot hold
                send_message(sock, {"id": request["id"], "error": f"{type(exc).__name__}: {exc}"})
            continue
        if op == "set_state":
            runner.set_state(request["state"])
            send_message(sock, {"id": request["id"], "ok": True})
            continue
        if op != "step":
            return 0
        try:
            total, weights = runner.step(request["values"], request["epoch"], request["total_epochs"], request["lr"])
        except SubmissionFault as exc:
            send_message(sock, {"id": request["id"], "error": str(exc), "details": exc.details})
            return 0
        send_message(sock, {"id": request["id"], "total": total, "weights": weights})
