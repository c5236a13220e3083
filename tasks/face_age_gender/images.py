"""Decode face images once into a uint8 tensor, keeping their aspect ratio.

The resize is the write-up's LongestMaxSize -> PadIfNeeded -> CenterCrop: the longest side
goes to `size`, the short side is padded with black to a square, then an optional centre
crop. A face is never stretched. Decoded sets are cached on disk, keyed by the files and
the geometry, so later jobs (and later epochs) never decode again.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from pathlib import Path

import filelock
import torch
import torch.nn.functional as F

from harness.api import DataNotFoundError

PIPELINE_VERSION = 1
# torchvision 0.29 marks its image codecs deprecated in favour of torchcodec; they are the
# pinned stack's decoder and work, so the notice is silenced instead of printed per image.
warnings.filterwarnings(
    "ignore", message="The image decoding and encoding capabilities of TorchVision", category=DeprecationWarning
)


def letterbox(image: torch.Tensor, size: int, crop: int | None = None) -> torch.Tensor:
    """uint8 (3, H, W) -> uint8 (3, S, S): longest side to `size` (antialiased bilinear),
    black padding centred on the short side, then a centre crop to `crop` if given."""
    _, height, width = image.shape
    scale = size / max(height, width)
    new_h, new_w = max(1, round(height * scale)), max(1, round(width * scale))
    resized = F.interpolate(
        image[None].float(), size=(new_h, new_w), mode="bilinear", antialias=True, align_corners=False
    )[0]
    resized = resized.round_().clamp_(0, 255).to(torch.uint8)
    top, left = (size - new_h) // 2, (size - new_w) // 2
    square = torch.zeros(3, size, size, dtype=torch.uint8)
    square[:, top : top + new_h, left : left + new_w] = resized
    if crop is None or crop >= size:
        return square
    start = (size - crop) // 2
    return square[:, start : start + crop, start : start + crop].clone()


def decode(path: Path) -> torch.Tensor:
    """Any JPEG/PNG file as uint8 RGB (3, H, W)."""
    from torchvision.io import ImageReadMode, decode_image, read_file  # on first use: see models._vision_models

    return decode_image(read_file(str(path)), mode=ImageReadMode.RGB)


def _cache_key(paths: list[Path], size: int, crop: int | None) -> str:
    digest = hashlib.sha256(json.dumps([PIPELINE_VERSION, size, crop]).encode())
    for path in paths:
        stat = path.stat()
        digest.update(f"{path.resolve()}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:24]


def decode_all(paths: list[Path], size: int, crop: int | None, cache_dir: Path | None) -> torch.Tensor:
    """(N, 3, S, S) uint8 for `paths`, from the disk cache when the same files were decoded
    before with the same geometry. Several workers may ask at once: a file lock makes one
    decode and the others read its result."""
    if not paths:
        return torch.zeros(0, 3, crop or size, crop or size, dtype=torch.uint8)
    if cache_dir is None:
        return _decode_many(paths, size, crop)
    cache_dir.mkdir(parents=True, exist_ok=True)
    target = cache_dir / f"faces-{_cache_key(paths, size, crop)}.pt"
    with filelock.FileLock(str(target) + ".lock"):
        if target.is_file():
            try:
                images = torch.load(target, weights_only=True)
                if isinstance(images, torch.Tensor) and images.shape[0] == len(paths):
                    return images
            except Exception:  # a damaged cache is rebuilt, never trusted
                pass
        images = _decode_many(paths, size, crop)
        tmp = target.with_suffix(".tmp")
        torch.save(images, tmp)
        tmp.replace(target)
        return images


def _decode_many(paths: list[Path], size: int, crop: int | None) -> torch.Tensor:
    side = crop if crop is not None and crop < size else size
    out = torch.empty(len(paths), 3, side, side, dtype=torch.uint8)
    for index, path in enumerate(paths):
        try:
            out[index] = letterbox(decode(path), size, crop)
        except (RuntimeError, OSError) as exc:
            raise DataNotFoundError(f"cannot decode image {path}: {exc}") from None
    return out
