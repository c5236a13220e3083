"""The oracle's side: runs inside the sandbox, loads the submission and answers steps.

Started as `python -I -B -c BOOT SOCKET SUBMISSION`; everything it needs arrives in the
first message. It never sees the model, the data or the results.
"""
from __future__ import annotations

import socket
import sys
from pathlib import Path


def serve(socket_path: str, submission_path: str) -> int:
    import torch

    torch.set_num_threads(1)
    from harness.combiners import InProcessLossRunner, StepContext
    from harness.contracts import TrainConfig
    from harness.errors import SubmissionError
    from harness.oracle.protocol import PeerClosed, recv_message, send_message
    from harness.submission_loader import load_submission

    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(socket_path)
    init = recv_message(sock)
    try:
        loaded = load_submission(Path(submission_path), tuple(init["loss_names"]))
        config = TrainConfig(
            epochs=1, lr=init["lr"], momentum=init["momentum"], weight_decay=init["weight_decay"]
        )
        runner = InProcessLossRunner(loaded.loss_class, loaded.path, config)
    except SubmissionError as exc:
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
        context = StepContext(request["epoch"], request["total_epochs"], request["lr"])
        try:
            result = runner(request["values"], context)
        except SubmissionError as exc:
            send_message(sock, {"id": request["id"], "error": str(exc), "details": exc.details})
            return 0
        send_message(sock, {"id": request["id"], "total": result.total, "weights": result.weights})


if __name__ == "__main__":
    sys.exit(serve(sys.argv[1], sys.argv[2]))
