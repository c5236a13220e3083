"""A deterministic synthetic stand-in for CIFAR-100, written in the official format.

100 fine classes nest in 20 coarse classes (5 each, through a seeded permutation, as in
the real data where the nesting is not contiguous). An image's background colour comes
from its coarse class; an oriented grating on top tells the five fine classes of a coarse
class apart (five orientations 36 degrees apart, jittered). Phase, contrast, brightness
and pixel noise vary per image, so the classes must be learned, not memorised.
"""

from __future__ import annotations

import colorsys
import json
from pathlib import Path

import numpy as np

from tasks.cifar100_mtl import cifar_files

GENERATOR_VERSION = 1


def fine_to_coarse(seed: int = 0) -> np.ndarray:
    """coarse label of each fine label: 5 fine classes per coarse class."""
    order = np.random.default_rng(seed).permutation(100)
    mapping = np.empty(100, dtype=np.int64)
    mapping[order] = np.arange(100) // 5
    return mapping


def _coarse_colours() -> np.ndarray:
    colours = []
    for index in range(20):
        hue = index / 20
        value = 0.85 if index % 2 == 0 else 0.55
        colours.append(colorsys.hsv_to_rgb(hue, 0.75, value))
    return np.asarray(colours, dtype=np.float32)


def render(fine: np.ndarray, rng: np.random.Generator, seed: int = 0) -> np.ndarray:
    """(N, 3, 32, 32) uint8 images for the fine labels `fine`."""
    mapping = fine_to_coarse(seed)
    coarse = mapping[fine]
    rank_in_coarse = np.zeros(100, dtype=np.int64)
    for c in range(20):
        members = np.sort(np.flatnonzero(mapping == c))
        rank_in_coarse[members] = np.arange(len(members))
    within = rank_in_coarse[fine]
    n = len(fine)
    theta = np.deg2rad(within * 36.0 + rng.uniform(-6, 6, n))
    freq = rng.uniform(2.5, 3.5, n)
    phase = rng.uniform(0, 2 * np.pi, n)
    contrast = rng.uniform(0.18, 0.3, n)
    brightness = rng.uniform(-0.08, 0.08, n)
    axis = np.linspace(-1, 1, 32, dtype=np.float32)
    yy, xx = np.meshgrid(axis, axis, indexing="ij")
    projection = np.cos(theta)[:, None, None] * xx + np.sin(theta)[:, None, None] * yy
    grating = np.sin(np.pi * freq[:, None, None] * projection + phase[:, None, None])
    base = _coarse_colours()[coarse]  # (N, 3)
    images = (
        base[:, :, None, None] * 0.8
        + brightness[:, None, None, None]
        + contrast[:, None, None, None] * grating[:, None, :, :]
        + rng.normal(0, 0.08, (n, 3, 32, 32))
    )
    return (np.clip(images, 0, 1) * 255 + 0.5).astype(np.uint8)


def _labels(count: int, rng: np.random.Generator) -> np.ndarray:
    labels = np.arange(count) % 100
    return rng.permutation(labels)


def generate(root: Path, train_size: int = 5000, test_size: int = 1000, seed: int = 0) -> Path:
    """Write `root/cifar-100-python/{train,test,meta}`; skipped when an identical set exists."""
    stamp = {"generator": GENERATOR_VERSION, "train": train_size, "test": test_size, "seed": seed}
    stamp_path = root / "synthetic.json"
    files_present = all((root / cifar_files.FOLDER / name).is_file() for name in ("train", "test", "meta"))
    if files_present and stamp_path.is_file():
        try:
            if json.loads(stamp_path.read_text()) == stamp:
                return root
        except json.JSONDecodeError:
            pass
    rng = np.random.default_rng(seed)
    mapping = fine_to_coarse(seed)
    for split, count in (("train", train_size), ("test", test_size)):
        fine = _labels(count, rng)
        cifar_files.write_split(root, split, render(fine, rng, seed), fine, mapping[fine])
    cifar_files.write_meta(
        root,
        [f"class_{i:03d}" for i in range(100)],
        [f"superclass_{i:02d}" for i in range(20)],
    )
    stamp_path.write_text(json.dumps(stamp))
    return root
