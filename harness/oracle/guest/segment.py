"""The shared memory that carries per-task gradients to the oracle and its answer back.

One segment per job: a memfd of (T + 1) x P float32 (rows 0..T-1 the task gradients, row
T the answer), made by the trainer, sealed so that neither side can grow or shrink it (a
shrunk file would make the trainer's next access a SIGBUS), and handed to the oracle over
the job's Unix socket (SCM_RIGHTS) once it is running: no path of it is visible to
anything else. Only gradients of the shared parameters ever go in, never the model, the
data or the labels. The trainer copies the answer out before it checks it, so a guest
that keeps a view of the segment and writes to it later changes nothing the trainer uses.
"""

from __future__ import annotations

import fcntl
import mmap
import os
import socket

import torch

FLOAT_BYTES = 4
_SEALS = fcntl.F_SEAL_GROW | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_SEAL


class Segment:
    """A mapped (T + 1, P) float32 table; `gradients` and `answer` are views of it."""

    def __init__(self, fd: int, task_count: int, width: int) -> None:
        self.fd, self.task_count, self.width = fd, task_count, width
        self.size = (task_count + 1) * width * FLOAT_BYTES
        if os.fstat(fd).st_size != self.size:
            raise ValueError(f"the segment holds {os.fstat(fd).st_size} bytes, expected {self.size}")
        self._map = mmap.mmap(fd, self.size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        table = torch.frombuffer(self._map, dtype=torch.float32).view(task_count + 1, width)
        self.gradients, self.answer = table[:task_count], table[task_count]

    @classmethod
    def create(cls, task_count: int, width: int) -> Segment:
        """The trainer's side: a fresh sealed memfd of the right size."""
        fd = os.memfd_create("mtl-gradients", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
        try:
            os.ftruncate(fd, (task_count + 1) * width * FLOAT_BYTES)
            fcntl.fcntl(fd, fcntl.F_ADD_SEALS, _SEALS)
            return cls(fd, task_count, width)
        except BaseException:
            os.close(fd)
            raise

    def send(self, sock: socket.socket) -> None:
        """Hand the segment's descriptor to the peer (one byte, with the fd attached)."""
        socket.send_fds(sock, [b"S"], [self.fd])

    @classmethod
    def receive(cls, sock: socket.socket, task_count: int, width: int) -> Segment:
        """The oracle's side: the descriptor the trainer sent, mapped."""
        data, fds, _, _ = socket.recv_fds(sock, 1, 1)
        if data != b"S" or len(fds) != 1:
            for fd in fds:
                os.close(fd)
            raise ValueError("expected the gradient segment's descriptor")
        return cls(fds[0], task_count, width)

    def close(self) -> None:
        del self.gradients, self.answer
        try:
            self._map.close()
        except BufferError:  # a view is still alive somewhere (the guest's own business)
            pass
        os.close(self.fd)
