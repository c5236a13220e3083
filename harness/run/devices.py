"""Devices: which one to train on, how a worker slot's process is set up for it, and which
errors are the machine's fault rather than the method's."""

from __future__ import annotations

import errno
import functools
import gc
import os
import platform
import subprocess
import sys

import torch

from harness.api.errors import HarnessError

DEVICE_TYPES = ("cpu", "cuda")
_cpu_noted = False  # "no CUDA device found" is said once per process


def parse_device(name: str) -> torch.device:
    """`cpu`, `cuda` or `cuda:N` as a device, checked for syntax only (not for presence)."""
    try:
        device = torch.device(name)
    except RuntimeError:
        raise HarnessError(f"unknown device {name!r}; use auto, cpu, cuda or cuda:N") from None
    if device.type not in DEVICE_TYPES:
        raise HarnessError(f"unsupported device {name!r}; use auto, cpu, cuda or cuda:N")
    return device


def nvidia_gpu_evidence() -> str | None:
    """What shows an NVIDIA GPU on this machine whether or not CUDA can use it: the
    driver's files, or a GPU count that CUDA reports without being available."""
    for path in ("/proc/driver/nvidia/version", "/dev/nvidia0"):
        if os.path.exists(path):
            return path
    try:
        if torch.cuda.device_count() > 0:
            return f"torch.cuda.device_count() = {torch.cuda.device_count()}"
    except Exception:  # a broken driver can make the count itself fail
        pass
    return None


def cuda_init_error() -> str:
    """Why CUDA cannot start here, as one line (torch.cuda.init's own error)."""
    try:
        torch.cuda.init()
    except Exception as exc:
        text = str(exc).strip()
        return text.splitlines()[0] if text else type(exc).__name__
    return "torch.cuda.is_available() is False"


def resolve_device(name: str = "auto", quiet: bool = False) -> torch.device:
    """`auto` picks CUDA when it works and the CPU when the machine has no GPU, saying so on
    stderr once per process (unless `quiet`: a check before anything runs); a GPU that CUDA
    cannot use is an error, never a silent fall-back. Explicit names are checked."""
    global _cpu_noted
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        evidence = nvidia_gpu_evidence()
        if evidence is not None:
            raise HarnessError(
                f"this machine has an NVIDIA GPU ({evidence}) but CUDA cannot use it: {cuda_init_error()}; "
                "fix the driver or the torch build, or use --device cpu to train on the CPU anyway"
            )
        if not (quiet or _cpu_noted):
            print("no CUDA device found: training on the CPU", file=sys.stderr, flush=True)
            _cpu_noted = True
        return torch.device("cpu")
    device = parse_device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise HarnessError(f"device {name} requested but CUDA is not available here: {cuda_init_error()}")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise HarnessError(f"device {name} does not exist ({torch.cuda.device_count()} GPUs)")
    return device


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        try:  # a record written where the job was only planned, or after the device failed
            return torch.cuda.get_device_name(device)
        except (RuntimeError, AssertionError):
            return "unknown"
    return platform.processor() or platform.machine() or "cpu"


def cuda_versions(device: torch.device) -> tuple[str | None, str | None]:
    """The CUDA version torch was built with and the NVIDIA driver's (None off CUDA, or
    where nvidia-smi cannot say): a record says what computed its numbers."""
    if device.type != "cuda":
        return None, None
    return torch.version.cuda, _driver_version()


@functools.lru_cache(maxsize=1)
def _driver_version() -> str | None:
    try:
        found = subprocess.run(
            ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=20,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    lines = found.stdout.strip().splitlines()
    return lines[0].strip() if lines else None


# -- worker slots ---------------------------------------------------------------------------
def available_cpus() -> int:
    """The CPU cores this process may run on (its affinity, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def slot_threads(slots_on_machine: int, requested: int | None = None) -> int:
    """Threads per worker slot: `requested`, else the available cores shared by the slots."""
    if requested is not None:
        return requested
    return max(1, available_cpus() // max(1, slots_on_machine))


DETERMINISTIC_CUBLAS = ":4096:8"


def configure_process(device: torch.device, threads: int) -> None:
    """The set-up of every worker slot's process, forked or not, so all slots train alike."""
    torch.set_float32_matmul_precision("high")
    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(threads)
    except RuntimeError:  # allowed once per process, before any inter-op work: keep what is set
        pass
    if device.type == "cuda":
        # before cuBLAS's first handle: the fixed workspace --deterministic jobs need (cuBLAS
        # reads it once per process; 8 buffers of 4 MiB, for every job of the slot)
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", DETERMINISTIC_CUBLAS)
    if device.type == "cuda" and device.index is not None:
        torch.cuda.set_device(device)


def release_memory(device: torch.device) -> str | None:
    """Free what a finished job left behind (between jobs of a slot). On CUDA, None if the
    device still works, else its error: after an illegal access or a device-side assert
    the process's CUDA context is unusable and the slot must stop."""
    gc.collect()
    if device.type != "cuda":
        return None
    try:
        torch.cuda.synchronize(device)
        torch.cuda.empty_cache()
    except RuntimeError as exc:
        return one_line(exc)
    return None


# -- infrastructure errors ------------------------------------------------------------------
# The one list of what counts as the machine's fault (a neighbour's memory use, a driver or
# hardware fault, a lost device): the job is retried, not failed. The method cannot cause
# these: a submission runs in its sandbox on the CPU and never touches the trainer's device.
INFRASTRUCTURE_TYPES: tuple[type[BaseException], ...] = (
    torch.OutOfMemoryError,  # CUDA's caching allocator; torch.cuda.OutOfMemoryError is the same class
    MemoryError,  # Python's own allocations
)
INFRASTRUCTURE_MESSAGES = (
    "CUDA error",  # every cudaError_t (torch.AcceleratorError): launch failure, ECC, lost device, ...
    "CUDA driver",  # "CUDA driver error", "CUDA driver version is insufficient"
    "cuDNN error",
    "CUDNN_STATUS_",
    "CUBLAS_STATUS_",
    "cuBLAS error",
    "NCCL",
    "out of memory",  # "CUDA error: out of memory" outside the caching allocator, cuFFT, ...
    "can't allocate memory",  # the CPU allocator: the host ran out of memory
    "CUDA GPUs are available",  # "No CUDA GPUs are available"
    "CUDA-capable device",  # busy or unavailable (exclusive-process mode, a GPU taken away)
)
# Checked first: kernel bugs (ours or torch's). Retrying repeats them, so they fail the job
# at once as an internal error, not blamed on the submission.
BUG_MESSAGES = (
    "device-side assert",
    "illegal memory access",
    "misaligned address",
    "illegal instruction",
    "invalid configuration argument",
    "invalid argument",  # cudaErrorInvalidValue and kin: the same call fails again
    "_STATUS_NOT_SUPPORTED",  # cuDNN/cuBLAS: no kernel for these shapes or dtypes
    "_STATUS_INVALID_VALUE",
    "_STATUS_BAD_PARAM",
)
INFRASTRUCTURE_ERRNOS = frozenset({errno.ENOSPC, errno.ENOMEM, errno.EIO, errno.EDQUOT, errno.ESTALE})


def one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__


def is_infrastructure_error(exc: BaseException) -> bool:
    """True for an error of the machine rather than of the method or the harness."""
    message = str(exc)
    if any(marker in message for marker in BUG_MESSAGES):
        return False
    if isinstance(exc, INFRASTRUCTURE_TYPES):
        return True
    if isinstance(exc, OSError):  # a full or failing disk, a stale network file system
        return exc.errno in INFRASTRUCTURE_ERRNOS
    if isinstance(exc, RuntimeError):
        return any(marker in message for marker in INFRASTRUCTURE_MESSAGES)
    return False
