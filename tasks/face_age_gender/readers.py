"""Readers for the three face layouts. Every reader returns samples with one label coding:
gender 1 = female, 0 = male (UTKFace's); age in years, or an Adience age group 0-7.

Rows that cannot be used are skipped and returned with their reason, never silently dropped.
"""

from __future__ import annotations

import csv
import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

from harness.api import DataNotFoundError

ADIENCE_GROUPS: tuple[tuple[int, int], ...] = (
    (0, 2),
    (4, 6),
    (8, 12),
    (15, 20),
    (25, 32),
    (38, 43),
    (48, 53),
    (60, 100),
)
ADIENCE_FOLDS = 5
SPLIT_SALT = "mtl-loss-bench/utkface-split/v1"


@dataclass(frozen=True)
class FaceSample:
    path: Path
    gender: int  # 1 = female, 0 = male
    age: float | None = None  # years (UTKFace, CSV)
    age_group: int | None = None  # 0-7 (Adience)
    fold: int | None = None  # Adience fold the subject belongs to
    subject: str = ""


@dataclass
class ReadResult:
    samples: list[FaceSample] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (item, reason)

    def skip(self, item: str, reason: str) -> None:
        self.skipped.append((item, reason))

    def summary(self, what: str) -> str:
        text = f"{what}: {len(self.samples)} samples"
        if self.skipped:
            reasons: dict[str, int] = {}
            for _, reason in self.skipped:
                reasons[reason] = reasons.get(reason, 0) + 1
            listed = ", ".join(f"{count} {reason}" for reason, count in sorted(reasons.items()))
            text += f", {len(self.skipped)} skipped ({listed})"
        return text


def split_of(name: str) -> str:
    """The fixed split of one item: a salted SHA-1 of its name, taken mod 100.
    0-69 train, 70-79 val, 80-99 test. It depends only on the name, so adding or
    removing files never moves the others."""
    bucket = int(hashlib.sha1(f"{SPLIT_SALT}:{name}".encode()).hexdigest(), 16) % 100
    return "train" if bucket < 70 else "val" if bucket < 80 else "test"


# --- UTKFace ------------------------------------------------------------------------------

UTK_NAME = re.compile(r"^(\d+)_(\d+)_(\d+)_(\d+)\.jpg(\.chip\.jpg)?$")


def utkface_files(root: Path) -> list[Path]:
    """The .jpg files of a UTKFace folder (or of its immediate sub-folders, e.g. crop_part1)."""
    if not root.is_dir():
        raise DataNotFoundError(
            f"UTKFace folder {root} does not exist. Download UTKFace (https://susanqq.github.io/UTKFace/), "
            f"unpack it there (or set UTKFACE_ROOT), or use --preset smoke for synthetic faces"
        )
    files = sorted(root.glob("*.jpg"))
    if not files:
        files = sorted(root.glob("*/*.jpg"))
    if not files:
        raise DataNotFoundError(f"no .jpg files in {root} or its sub-folders: is this the UTKFace folder?")
    return files


def _utk_name_problem(name: str) -> str:
    fields = name.split(".")[0].split("_")
    if len(fields) == 3 and all(f.isdigit() for f in fields):
        return "gender not 0/1" if fields[1] not in ("0", "1") else "no race field"
    return "malformed name"


def read_utkface(root: Path) -> ReadResult:
    """`age_gender_race_datetime.jpg[.chip.jpg]`: age in years, gender 0 = male, 1 = female,
    race 0-4. Malformed names and out-of-range fields are skipped with their reason."""
    result = ReadResult()
    for path in utkface_files(root):
        match = UTK_NAME.match(path.name)
        if match is None:
            result.skip(path.name, _utk_name_problem(path.name))
            continue
        age, gender, race = int(match[1]), int(match[2]), int(match[3])
        if gender not in (0, 1):
            result.skip(path.name, "gender not 0/1")
        elif not 1 <= age <= 116:
            result.skip(path.name, "age out of range")
        elif race not in range(5):
            result.skip(path.name, "race not 0-4")
        else:
            result.samples.append(FaceSample(path, gender=gender, age=float(age), subject=path.name))
    return result


# --- the course-competition CSV --------------------------------------------------------------

CSV_COLUMNS = ("id", "full_path", "gender", "age")


def read_competition_csv(root: Path) -> ReadResult:
    """`train.csv` with columns id, full_path, gender (1 = male, 0 = female), age; full_path
    relative to `root`. Gender is flipped on reading to the common coding (1 = female)."""
    table = root / "train.csv"
    if not table.is_file():
        raise DataNotFoundError(
            f"{table} not found: the competition layout is ROOT/train.csv (id, full_path, gender, age) "
            f"plus the image files it names (set FACE_CSV_ROOT or --data-root)"
        )
    result = ReadResult()
    with table.open(newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in CSV_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise DataNotFoundError(f"{table} lacks the column(s) {', '.join(missing)}")
        for line, row in enumerate(reader, start=2):
            item = f"train.csv line {line}"
            try:
                age = float(row["age"])
                gender_male = int(float(row["gender"]))
            except ValueError:
                result.skip(item, "unreadable age or gender")
                continue
            path = root / row["full_path"]
            if gender_male not in (0, 1):
                result.skip(item, "gender not 0/1")
            elif not 0 <= age <= 116:
                result.skip(item, "age out of range")
            elif not path.is_file():
                result.skip(item, "image file missing")
            else:
                result.samples.append(FaceSample(path, gender=1 - gender_male, age=age, subject=row["id"]))
    return result


# --- Adience ---------------------------------------------------------------------------------

ADIENCE_PREFIXES = ("landmark_aligned_face", "coarse_tilt_aligned_face")


def adience_group(text: str) -> int | None:
    """Map an Adience age field to a group 0-7. The eight standard ranges map to themselves;
    other ranges and single numbers (a minority of rows) go to the group nearest to their
    midpoint; 'None' or an empty field is unknown (None)."""
    numbers = [int(n) for n in re.findall(r"\d+", text)]
    if not numbers or len(numbers) > 2:
        return None
    if len(numbers) == 2:
        for index, (low, high) in enumerate(ADIENCE_GROUPS):
            if (numbers[0], numbers[1]) == (low, high) or (index == 2 and numbers == [8, 13]):
                return index
    value = sum(numbers) / len(numbers)

    def distance(group: tuple[int, int]) -> float:
        low, high = group
        return 0.0 if low <= value <= high else min(abs(value - low), abs(value - high))

    return min(range(len(ADIENCE_GROUPS)), key=lambda i: (distance(ADIENCE_GROUPS[i]), i))


def _adience_image(root: Path, row: dict[str, str]) -> Path | None:
    folder = root / "faces" / row["user_id"]
    for prefix in ADIENCE_PREFIXES:
        path = folder / f"{prefix}.{row['face_id']}.{row['original_image']}"
        if path.is_file():
            return path
    plain = folder / row["original_image"]
    return plain if plain.is_file() else None


def read_adience(root: Path) -> ReadResult:
    """`fold_0_data.txt` ... `fold_4_data.txt` (tab-separated: user_id, original_image,
    face_id, age, gender, ...) with images in `faces/<user_id>/`. Folds are subject-exclusive
    as published. Rows with unknown age or gender ('u', empty) are skipped and counted."""
    result = ReadResult()
    for fold in range(ADIENCE_FOLDS):
        table = root / f"fold_{fold}_data.txt"
        if not table.is_file():
            raise DataNotFoundError(
                f"{table} not found: Adience needs fold_0_data.txt ... fold_4_data.txt and faces/ in "
                f"{root} (https://talhassner.github.io/home/projects/Adience/Adience-data.html; "
                f"set ADIENCE_ROOT or --data-root)"
            )
        with table.open(newline="") as handle:
            reader = csv.DictReader(handle, delimiter="\t")
            for line, row in enumerate(reader, start=2):
                item = f"{table.name} line {line}"
                row = {key.strip(): (value or "").strip() for key, value in row.items() if key}
                group = adience_group(row.get("age", ""))
                gender = {"m": 0, "f": 1}.get(row.get("gender", "").lower())
                if group is None:
                    result.skip(item, "unknown age")
                elif gender is None:
                    result.skip(item, "unknown gender")
                elif (path := _adience_image(root, row)) is None:
                    result.skip(item, "image file missing")
                else:
                    result.samples.append(
                        FaceSample(path, gender=gender, age_group=group, fold=fold, subject=row["user_id"])
                    )
    return result
