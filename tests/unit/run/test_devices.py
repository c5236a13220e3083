"""Devices: `auto` never falls back to the CPU silently, slots are set up by one function,
and one list decides which errors are the machine's fault."""

from __future__ import annotations

import errno
import os

import pytest
import torch

from harness.api.errors import HarnessError
from harness.queue.local import local_devices
from harness.run import devices
from harness.run.devices import (
    available_cpus,
    configure_process,
    cuda_init_error,
    is_infrastructure_error,
    release_memory,
    resolve_device,
    slot_threads,
)

CPU = torch.device("cpu")
NO_GPU = torch.cuda.is_available() or devices.nvidia_gpu_evidence() is not None


@pytest.mark.skipif(NO_GPU, reason="this machine has a GPU")
def test_auto_on_a_machine_without_a_gpu_trains_on_the_cpu_and_says_so_once(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setattr(devices, "_cpu_noted", False)
    assert resolve_device("auto", quiet=True) == CPU  # a check before anything runs says nothing
    assert capsys.readouterr().err == ""
    assert resolve_device("auto") == CPU
    assert local_devices("auto") == ["cpu"]
    assert resolve_device("auto") == CPU
    assert capsys.readouterr().err == "no CUDA device found: training on the CPU\n"


def test_auto_with_a_gpu_that_cuda_cannot_use_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """A driver too old for the CUDA build: the GPU shows, CUDA is not available (faked here:
    this machine has no GPU). The error quotes CUDA's own reason and names the way out."""
    monkeypatch.setattr(devices, "nvidia_gpu_evidence", lambda: "/proc/driver/nvidia/version")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(HarnessError) as caught:
        resolve_device("auto")
    text = str(caught.value)
    assert "NVIDIA GPU (/proc/driver/nvidia/version) but CUDA cannot use it" in text
    assert cuda_init_error() in text and "use --device cpu to train on the CPU anyway" in text
    assert "\n" not in text
    with pytest.raises(HarnessError, match="CUDA cannot use it"):
        local_devices("auto")
    assert resolve_device("cpu") == CPU  # the way out works


def test_the_gpu_probe_sees_the_driver_files(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os.path, "exists", lambda path: path == "/dev/nvidia0")
    assert devices.nvidia_gpu_evidence() == "/dev/nvidia0"


def test_explicit_device_names_are_checked() -> None:
    assert resolve_device("cpu") == CPU
    with pytest.raises(HarnessError, match="unknown device"):
        resolve_device("gpu0")
    with pytest.raises(HarnessError, match="unsupported device"):
        resolve_device("meta")
    if not torch.cuda.is_available():
        with pytest.raises(HarnessError, match="CUDA is not available here"):
            resolve_device("cuda:0")


def test_threads_per_slot_share_the_available_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    assert available_cpus() == len(os.sched_getaffinity(0))
    monkeypatch.setattr(devices, "available_cpus", lambda: 16)
    assert slot_threads(1) == 16 and slot_threads(4) == 4 and slot_threads(3) == 5
    assert slot_threads(32) == 1  # never zero
    assert slot_threads(4, requested=7) == 7  # --threads-per-slot wins


def test_configure_process_sets_threads_and_matmul_precision() -> None:
    saved_threads, saved_precision = torch.get_num_threads(), torch.get_float32_matmul_precision()
    try:
        torch.set_float32_matmul_precision("highest")
        target = 1 if saved_threads != 1 else 2
        configure_process(CPU, target)
        assert torch.get_num_threads() == target
        assert torch.get_float32_matmul_precision() == "high"
        configure_process(CPU, target)  # twice in one process (interop threads are fixed by then): fine
    finally:
        torch.set_num_threads(saved_threads)
        torch.set_float32_matmul_precision(saved_precision)


def _real(action) -> BaseException:
    try:
        action()
    except BaseException as exc:  # noqa: BLE001 - the object itself is the point
        return exc
    raise AssertionError("no exception")


def test_infrastructure_errors_are_told_from_bugs() -> None:
    machine = [
        torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has 79.10 GiB in use"),
        torch.cuda.OutOfMemoryError("CUDA out of memory."),
        torch.AcceleratorError("CUDA error: unspecified launch failure"),
        torch.AcceleratorError("CUDA error: uncorrectable ECC error encountered"),
        RuntimeError("CUDA error: out of memory"),
        RuntimeError("cuDNN error: CUDNN_STATUS_INTERNAL_ERROR"),
        RuntimeError("CUDA error: CUBLAS_STATUS_ALLOC_FAILED when calling `cublasCreate(handle)`"),
        RuntimeError("NCCL error in: ProcessGroupNCCL.cpp:1191, unhandled system error"),
        RuntimeError("No CUDA GPUs are available"),
        _real(lambda: torch.empty(2**62, dtype=torch.uint8)),  # the host's allocator gives up
        _real(lambda: bytearray(2**62)),  # MemoryError
        OSError(errno.ENOSPC, "No space left on device"),
    ]
    ours = [
        torch.AcceleratorError("CUDA error: device-side assert triggered"),
        torch.AcceleratorError("CUDA error: an illegal memory access was encountered"),
        RuntimeError("CUDA error: misaligned address"),
        torch.AcceleratorError("CUDA error: invalid argument"),  # the same call fails every time
        RuntimeError(
            "cuDNN error: CUDNN_STATUS_NOT_SUPPORTED. This error may appear if you passed in a non-contiguous"
        ),
        RuntimeError("CUDA error: CUBLAS_STATUS_INVALID_VALUE when calling `cublasGemmEx( handle, opa, opb, ...)`"),
        _real(lambda: torch.ones(2, 3) @ torch.ones(2, 3)),  # shapes cannot be multiplied
        _real(lambda: {}["weights"]),
        ValueError("bad value"),
        FileNotFoundError(errno.ENOENT, "No such file or directory"),
    ]
    assert [is_infrastructure_error(exc) for exc in machine] == [True] * len(machine)
    assert [is_infrastructure_error(exc) for exc in ours] == [False] * len(ours)


def test_release_memory_reports_a_cuda_context_that_no_longer_works(monkeypatch: pytest.MonkeyPatch) -> None:
    """After an illegal memory access every CUDA call fails: the slot must stop (faked here:
    no GPU on this machine). On the CPU there is only garbage to collect."""
    assert release_memory(CPU) is None

    def broken(device=None) -> None:
        raise torch.AcceleratorError("CUDA error: an illegal memory access was encountered")

    monkeypatch.setattr(torch.cuda, "synchronize", broken)
    assert release_memory(torch.device("cuda:0")) == (
        "AcceleratorError: CUDA error: an illegal memory access was encountered"
    )
