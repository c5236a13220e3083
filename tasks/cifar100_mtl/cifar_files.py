"""Reader, verifier and downloader for the standard `cifar-100-python` files.

The files are pickles of dicts (`data`: N x 3072 uint8, `fine_labels`, `coarse_labels`,
`filenames`, `batch_label`; `meta`: label names). They are read with an unpickler that
accepts only the few globals those files contain, so a tampered file cannot run code.
"""

from __future__ import annotations

import hashlib
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from harness.api import DataNotFoundError

FOLDER = "cifar-100-python"
URL = "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz"
ARCHIVE_MD5 = "eb9058c3a382ffc7106e4002c42a8d85"
FILE_MD5 = {
    "train": "16019d7e3df5f24257cddd939b257f8d",
    "test": "f0ef6b0ae62326f3e7ffdfab6717acfc",
    "meta": "7973b15100ade9c7d40fb424638fde48",
}

_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),
}


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"global {module}.{name} is not allowed in a CIFAR file")


def _load_pickle(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            raw = _RestrictedUnpickler(handle, encoding="latin1").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as exc:
        raise DataNotFoundError(f"{path} is not a readable CIFAR-100 pickle: {exc}") from None
    if not isinstance(raw, dict):
        raise DataNotFoundError(f"{path} is not a CIFAR-100 pickle (expected a dict)")
    return {k.decode() if isinstance(k, bytes) else k: v for k, v in raw.items()}


@dataclass(frozen=True)
class CifarSplit:
    images: np.ndarray  # (N, 3, 32, 32) uint8
    fine_labels: np.ndarray  # (N,) int64
    coarse_labels: np.ndarray  # (N,) int64


def missing_files_message(root: Path) -> str:
    folder = root / FOLDER
    return (
        f"CIFAR-100 not found: expected {folder}/train, {folder}/test and {folder}/meta. "
        f"Run `python runner.py data cifar100 --root {root}` where the network allows, "
        f"or download {URL} and extract it into {root}"
    )


def read_split(root: Path, split: str) -> CifarSplit:
    """Read `train` or `test` from `root/cifar-100-python`."""
    path = root / FOLDER / split
    if not path.is_file():
        raise DataNotFoundError(missing_files_message(root))
    entry = _load_pickle(path)
    try:
        data = np.asarray(entry["data"], dtype=np.uint8)
        fine = np.asarray(entry["fine_labels"], dtype=np.int64)
        coarse = np.asarray(entry["coarse_labels"], dtype=np.int64)
    except KeyError as exc:
        raise DataNotFoundError(f"{path} lacks the key {exc.args[0]!r}") from None
    if data.ndim != 2 or data.shape[1] != 3072 or len(fine) != len(data) or len(coarse) != len(data):
        raise DataNotFoundError(f"{path} has inconsistent shapes: data {data.shape}, labels {len(fine)}")
    if fine.min() < 0 or fine.max() > 99 or coarse.min() < 0 or coarse.max() > 19:
        raise DataNotFoundError(f"{path} has labels outside 0-99 (fine) or 0-19 (coarse)")
    return CifarSplit(data.reshape(-1, 3, 32, 32), fine, coarse)


def read_label_names(root: Path) -> tuple[list[str], list[str]]:
    path = root / FOLDER / "meta"
    if not path.is_file():
        raise DataNotFoundError(missing_files_message(root))
    meta = _load_pickle(path)
    return list(meta["fine_label_names"]), list(meta["coarse_label_names"])


def md5sum(path: Path) -> str:
    digest = hashlib.md5()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify(root: Path) -> list[str]:
    """Names of the official files that are missing or whose checksum differs."""
    bad = []
    for name, expected in FILE_MD5.items():
        path = root / FOLDER / name
        if not path.is_file() or md5sum(path) != expected:
            bad.append(name)
    return bad


def download(root: Path) -> None:
    """Download and extract the official archive into `root`, then verify the files."""
    from torchvision.datasets.utils import download_and_extract_archive

    root.mkdir(parents=True, exist_ok=True)
    if not verify(root):
        return
    try:
        download_and_extract_archive(URL, download_root=str(root), md5=ARCHIVE_MD5)
    except Exception as exc:  # network errors come in many types
        raise DataNotFoundError(
            f"could not download {URL}: {exc.__class__.__name__}: {exc}. Download it by hand and extract it into {root}"
        ) from None
    bad = verify(root)
    if bad:
        raise DataNotFoundError(f"checksum mismatch after download for: {', '.join(bad)}")


def write_split(root: Path, split: str, images: np.ndarray, fine: np.ndarray, coarse: np.ndarray) -> None:
    """Write a split in the official format (used by the synthetic generator)."""
    folder = root / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    entry = {
        "filenames": [f"synthetic_{split}_{i:06d}.png" for i in range(len(images))],
        "batch_label": f"synthetic {split} batch",
        "fine_labels": [int(x) for x in fine],
        "coarse_labels": [int(x) for x in coarse],
        "data": np.ascontiguousarray(images.reshape(len(images), 3072), dtype=np.uint8),
    }
    _atomic_pickle(folder / split, entry)


def write_meta(root: Path, fine_names: list[str], coarse_names: list[str]) -> None:
    folder = root / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    _atomic_pickle(folder / "meta", {"fine_label_names": fine_names, "coarse_label_names": coarse_names})


def _atomic_pickle(path: Path, obj: object) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb") as handle:
        pickle.dump(obj, handle, protocol=2)
    tmp.replace(path)
