"""Deterministic synthetic faces written as real JPEG files in the three real layouts.

Each image is a portrait-shaped (never square) noisy picture of an ellipse "face":
- age darkens the face (brightness 1 - 0.006 * age) and adds one horizontal dark line
  ("wrinkle") per 15 years;
- gender colours the band of "hair" above it (female: red-purple, male: blue, both with
  a random colour jitter, so some faces are ambiguous).
Both cues are left-right symmetric, so flip augmentation keeps the labels. Ages follow a
skewed distribution (most in the 20s-30s, like the real data sets), so inverse-frequency
sampling matters. The same arguments give byte-identical files.
"""

from __future__ import annotations

import csv
import json
import shutil
import tempfile
from pathlib import Path

import filelock
import torch

from harness.api import DataNotFoundError
from tasks.face_age_gender import images  # noqa: F401  (silences torchvision's codec notice)
from tasks.face_age_gender.readers import ADIENCE_FOLDS, ADIENCE_GROUPS

GENERATOR_VERSION = 2
MARKER = ".synthetic.json"
UTK_MALFORMED = ("61_1_20170109142408075.jpg.chip.jpg", "61_3_20170109150557335.jpg.chip.jpg")
HAIR = {0: (70.0, 70.0, 150.0), 1: (150.0, 60.0, 110.0)}
HAIR_JITTER = 30.0


def draw_face(age: float, gender: int, generator: torch.Generator) -> torch.Tensor:
    """uint8 (3, H, W) with H > W."""
    height = 72 + int(torch.randint(0, 17, (1,), generator=generator))
    width = 52 + int(torch.randint(0, 13, (1,), generator=generator))
    rows = torch.linspace(-1, 1, height)[:, None].expand(height, width)
    cols = torch.linspace(-1, 1, width)[None, :].expand(height, width)
    image = torch.full((3, height, width), 70.0)
    face = (rows / 0.8) ** 2 + (cols / 0.75) ** 2 <= 1
    brightness = 1.0 - 0.006 * min(age, 100.0)
    skin = torch.tensor([215.0, 170.0, 140.0]) * brightness
    image = torch.where(face, skin[:, None, None], image)
    for line in range(int(age // 15)):
        row = int(height * (0.35 + 0.07 * line)) % height
        band = face & (torch.arange(height)[:, None] == row)
        image = torch.where(band, image * 0.55, image)
    hair = (rows < -0.55) & (cols.abs() < 0.8)
    colour = torch.tensor(HAIR[gender]) + HAIR_JITTER * torch.randn(3, generator=generator)
    image = torch.where(hair, colour[:, None, None], image)
    image = image + 12.0 * torch.randn(image.shape, generator=generator)
    return image.round().clamp(0, 255).to(torch.uint8)


def _write_jpeg(path: Path, image: torch.Tensor) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    from torchvision.io import encode_jpeg  # on first use: see models._vision_models

    path.write_bytes(encode_jpeg(image, quality=92).numpy().tobytes())


def _skewed_age(generator: torch.Generator) -> int:
    if float(torch.rand(1, generator=generator)) < 0.55:
        age = 28.0 + 7.0 * float(torch.randn(1, generator=generator))
    else:
        age = 1.0 + 89.0 * float(torch.rand(1, generator=generator))
    return int(min(max(round(age), 1), 100))


def _generate_once(root: Path, kind: str, count: int, writer) -> Path:
    """Run `writer(folder, count, generator)` unless `root` already holds a complete set with
    the same parameters. A new set is written to a temporary sibling and swapped in, so a
    changed set never keeps files of the old one; a non-empty folder that is not a synthetic
    set is refused, never overwritten. Concurrent callers wait for one another."""
    marker = root / MARKER
    params = {"kind": kind, "count": count, "version": GENERATOR_VERSION}
    root.parent.mkdir(parents=True, exist_ok=True)
    with filelock.FileLock(str(root) + ".lock"):
        if marker.is_file() and json.loads(marker.read_text()) == params:
            return root
        if root.exists() and any(root.iterdir()) and not marker.is_file():
            raise DataNotFoundError(
                f"{root} is not empty and holds no synthetic set: choose an empty folder for --synthetic"
            )
        staging = Path(tempfile.mkdtemp(prefix=f".{root.name}-", dir=root.parent))
        try:
            writer(staging, count, torch.Generator().manual_seed(20261124))
            (staging / MARKER).write_text(json.dumps(params))
            if root.exists():
                shutil.rmtree(root)
            staging.rename(root)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return root


def generate_utkface(root: Path, count: int = 1200) -> Path:
    """UTKFace layout: `age_gender_race_datetime.jpg.chip.jpg`, gender 0 = male, 1 = female,
    plus the two malformed names the real crop_part1 has (no race; gender 3)."""

    def write(folder: Path, n: int, generator: torch.Generator) -> None:
        for index in range(n):
            age = _skewed_age(generator)
            gender = int(torch.randint(0, 2, (1,), generator=generator))
            race = int(torch.randint(0, 5, (1,), generator=generator))
            name = f"{age}_{gender}_{race}_2017011{index:010d}.jpg.chip.jpg"
            _write_jpeg(folder / name, draw_face(age, gender, generator))
        for name in UTK_MALFORMED:
            _write_jpeg(folder / name, draw_face(61, 1, generator))

    return _generate_once(root, "utkface", count, write)


def generate_competition_csv(root: Path, count: int = 600) -> Path:
    """Competition layout: train.csv (id, full_path, gender with 1 = male, age) + images/."""

    def write(folder: Path, n: int, generator: torch.Generator) -> None:
        with (folder / "train.csv").open("w", newline="") as handle:
            table = csv.writer(handle)
            table.writerow(["id", "full_path", "gender", "age"])
            for index in range(n):
                age = _skewed_age(generator)
                female = int(torch.randint(0, 2, (1,), generator=generator))
                relative = f"images/{index:05d}.jpg"
                _write_jpeg(folder / relative, draw_face(age, female, generator))
                table.writerow([f"{index:05d}", relative, 1 - female, age])

    return _generate_once(root, "csv", count, write)


ADIENCE_HEADER = (
    "user_id",
    "original_image",
    "face_id",
    "age",
    "gender",
    "x",
    "y",
    "dx",
    "dy",
    "tilt_ang",
    "fiducial_yaw_angle",
    "fiducial_score",
)


def generate_adience(root: Path, subjects_per_fold: int = 30, images_per_subject: int = 4) -> Path:
    """Adience layout: five subject-exclusive fold files and faces/<user_id>/ images named
    `coarse_tilt_aligned_face.<face_id>.<original_image>`. Each fold also has one row of
    unknown age ('None') and one of unknown gender ('u'), which the reader must skip, and
    non-standard age fields ('(38, 42)', '35') as in the real files."""

    def write(folder: Path, n: int, generator: torch.Generator) -> None:
        face_id = 0
        for fold in range(ADIENCE_FOLDS):
            rows = []
            for subject in range(n):
                user = f"{fold}{subject:03d}@synthetic"
                group = int(torch.randint(0, len(ADIENCE_GROUPS), (1,), generator=generator))
                gender = int(torch.randint(0, 2, (1,), generator=generator))
                low, high = ADIENCE_GROUPS[group]
                age_text = f"({low}, {high})"
                if subject == 1:  # non-standard fields of the real files
                    group, age_text = 5, "(38, 42)"
                elif subject == 2:
                    group, age_text = 4, "35"
                low, high = ADIENCE_GROUPS[group]
                for image in range(images_per_subject):
                    face_id += 1
                    age = low + (min(high, 80) - low) * float(torch.rand(1, generator=generator))
                    original = f"{face_id:06d}_{image}.jpg"
                    _write_jpeg(
                        folder / "faces" / user / f"coarse_tilt_aligned_face.{face_id}.{original}",
                        draw_face(age, gender, generator),
                    )
                    rows.append([user, original, face_id, age_text, "mf"[gender], 0, 0, 100, 100, 0, 0, 50])
            rows.append([f"{fold}999@synthetic", "none.jpg", 0, "None", "m", 0, 0, 1, 1, 0, 0, 0])
            rows.append([f"{fold}998@synthetic", "u.jpg", 0, "(25, 32)", "u", 0, 0, 1, 1, 0, 0, 0])
            with (folder / f"fold_{fold}_data.txt").open("w", newline="") as handle:
                table = csv.writer(handle, delimiter="\t")
                table.writerow(ADIENCE_HEADER)
                table.writerows(rows)

    return _generate_once(root, f"adience-{images_per_subject}", subjects_per_fold, write)
