"""Face input pipeline: the harness's decoded-once tensor path vs. a plain DataLoader.

Both produce the same batches (letterboxed to a square, random flip, normalised, inverse
age-bin sampling) from the same JPEG files, in one run. The plain pipeline decodes every
image with PIL on every epoch (ImageOps.pad + transforms), as a typical training script
does; the harness decodes once into a uint8 tensor (cached on disk) and augments batches
as tensor ops. Prints images per second for the first epoch (which includes the decode)
and for later epochs, and the ratios.

    python benchmarks/face_input.py [--root UTKFACE_DIR] [--size 112] [--images N] [--workers 0 2]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch
from PIL import Image, ImageOps
from torch.utils.data import DataLoader, Dataset, WeightedRandomSampler
from torchvision import transforms

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tasks.face_age_gender import synthetic  # noqa: E402
from tasks.face_age_gender.data import (  # noqa: E402
    IMAGENET_MEAN,
    IMAGENET_STD,
    FaceSplit,
    FaceTensorData,
    age_bins,
    inverse_frequency_weights,
    scale_age,
)
from tasks.face_age_gender.images import decode_all  # noqa: E402
from tasks.face_age_gender.readers import read_utkface  # noqa: E402

REAL = next(
    (
        p
        for p in (
            Path(__file__).resolve().parents[2] / "shared" / "data" / "utkface" / "crop_part1",
            Path("/work/shared/data/utkface/crop_part1"),
        )
        if p.is_dir()
    ),
    Path("/nonexistent"),
)


class PlainFaces(Dataset):
    def __init__(self, paths: list[Path], ages: torch.Tensor, genders: torch.Tensor, size: int) -> None:
        self.paths, self.ages, self.genders, self.size = paths, ages, genders, size
        self.transform = transforms.Compose(
            [
                transforms.RandomHorizontalFlip(),
                transforms.ToTensor(),
                transforms.Normalize(IMAGENET_MEAN, IMAGENET_STD),
            ]
        )

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int):
        image = Image.open(self.paths[index]).convert("RGB")
        image = ImageOps.pad(image, (self.size, self.size), color=(0, 0, 0))
        return self.transform(image), self.ages[index], self.genders[index]


def plain_epoch(dataset: PlainFaces, bins: torch.Tensor, workers: int) -> float:
    sampler = WeightedRandomSampler(inverse_frequency_weights(bins), len(dataset), replacement=True)
    loader = DataLoader(dataset, batch_size=64, sampler=sampler, num_workers=workers)
    started = time.perf_counter()
    for images, _, _ in loader:
        images.sum()
    return time.perf_counter() - started


def harness_epoch(data: FaceTensorData, generator: torch.Generator) -> float:
    started = time.perf_counter()
    for images, _ in data.train_batches(generator):
        images.sum()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, default=REAL if REAL.is_dir() else None)
    parser.add_argument("--size", type=int, default=112)
    parser.add_argument("--images", type=int, default=3000)
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="face-bench-"))
    root = args.root or synthetic.generate_utkface(scratch / "utk", count=args.images)
    samples = read_utkface(root).samples[: args.images]
    paths = [s.path for s in samples]
    years = torch.tensor([s.age for s in samples])
    genders = torch.tensor([float(s.gender) for s in samples])
    print(f"{len(paths)} images from {root}, {args.size} px, torch threads {torch.get_num_threads()}")

    started = time.perf_counter()
    images = decode_all(paths, args.size, None, scratch / "cache")
    decode_seconds = time.perf_counter() - started
    split = FaceSplit(images, scale_age(years), genders, age_bins(years), torch.device("cpu"))
    data = FaceTensorData(split, split, 64, True, balanced_sampling=True, tta=True)
    generator = torch.Generator().manual_seed(0)
    later = min(harness_epoch(data, generator) for _ in range(3))
    harness_first = len(paths) / (decode_seconds + later)
    harness_later = len(paths) / later
    print(
        f"harness: first epoch (decode + batches) {harness_first:,.0f} img/s, later epochs {harness_later:,.0f} img/s"
    )
    started = time.perf_counter()
    decode_all(paths, args.size, None, scratch / "cache")
    print(f"harness: another job reading the decode cache: {time.perf_counter() - started:.2f} s")
    plain = PlainFaces(paths, years, genders, args.size)
    for workers in args.workers:
        rate = len(paths) / plain_epoch(plain, age_bins(years), workers)
        print(
            f"plain DataLoader, {workers} workers: {rate:,.0f} img/s every epoch | "
            f"ratio later epochs {harness_later / rate:.1f}x, first epoch {harness_first / rate:.2f}x"
        )


if __name__ == "__main__":
    main()
