"""Face readers, synthetic layouts, the letterbox pipeline, its cache and the sampler."""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path

import pytest
import torch
from torchvision.io import encode_jpeg

from harness.api.errors import DataNotFoundError
from tasks.face_age_gender import images as face_images
from tasks.face_age_gender import readers, synthetic
from tasks.face_age_gender.data import age_bins, inverse_frequency_weights, scale_age, unscale_age

REAL_UTKFACE = next(
    (
        p
        for p in (
            Path(__file__).resolve().parents[2] / "shared" / "data" / "utkface" / "crop_part1",
            Path("/work/shared/data/utkface/crop_part1"),
        )
        if p.is_dir()
    ),
    Path("../shared/data/utkface/crop_part1"),
)


@pytest.fixture(scope="session")
def face_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("faces")
    synthetic.generate_utkface(root / "utk", count=120)
    synthetic.generate_competition_csv(root / "csv", count=40)
    synthetic.generate_adience(root / "adience", subjects_per_fold=6, images_per_subject=2)
    return root


def test_utkface_reader_reads_labels_and_reports_the_malformed_names(face_root: Path) -> None:
    result = readers.read_utkface(face_root / "utk")
    assert len(result.samples) == 120
    assert sorted(result.skipped) == [
        ("61_1_20170109142408075.jpg.chip.jpg", "no race field"),
        ("61_3_20170109150557335.jpg.chip.jpg", "gender not 0/1"),
    ]
    for sample in result.samples:
        age, gender = sample.path.name.split("_")[:2]
        assert sample.age == float(age) and sample.gender == int(gender)
    assert "2 skipped (1 gender not 0/1, 1 no race field)" in result.summary("utk")


def test_utkface_split_is_fixed_by_name_and_roughly_70_10_20() -> None:
    names = [f"{i}_0_0_2017.jpg.chip.jpg" for i in range(5000)]
    splits = [readers.split_of(n) for n in names]
    counts = Counter(splits)
    assert abs(counts["train"] / 5000 - 0.7) < 0.03 and abs(counts["test"] / 5000 - 0.2) < 0.03
    assert [readers.split_of(n) for n in names[100:200]] == splits[100:200]  # independent of the others


def test_competition_csv_reader_flips_gender_and_skips_bad_rows(face_root: Path, tmp_path: Path) -> None:
    result = readers.read_competition_csv(face_root / "csv")
    assert len(result.samples) == 40 and not result.skipped
    rows = (face_root / "csv" / "train.csv").read_text().splitlines()[1:]
    first = rows[0].split(",")
    assert result.samples[0].gender == 1 - int(first[2]) and result.samples[0].age == float(first[3])
    table = tmp_path / "train.csv"
    image = tmp_path / "a.jpg"
    image.write_bytes(encode_jpeg(torch.zeros(3, 8, 8, dtype=torch.uint8)).numpy().tobytes())
    table.write_text("id,full_path,gender,age\n1,a.jpg,1,30\n2,a.jpg,2,30\n3,gone.jpg,0,30\n4,a.jpg,x,30\n")
    mixed = readers.read_competition_csv(tmp_path)
    assert [(s.subject, s.gender) for s in mixed.samples] == [("1", 0)]
    assert sorted(reason for _, reason in mixed.skipped) == [
        "gender not 0/1",
        "image file missing",
        "unreadable age or gender",
    ]


def test_adience_reader_counts_skips_and_keeps_folds_subject_exclusive(face_root: Path) -> None:
    result = readers.read_adience(face_root / "adience")
    assert len(result.samples) == 5 * 6 * 2
    assert Counter(reason for _, reason in result.skipped) == {"unknown age": 5, "unknown gender": 5}
    subjects_per_fold = {f: {s.subject for s in result.samples if s.fold == f} for f in range(5)}
    for a in range(5):
        for b in range(a + 1, 5):
            assert not subjects_per_fold[a] & subjects_per_fold[b]
    assert all(s.age_group is not None and 0 <= s.age_group < 8 for s in result.samples)


@pytest.mark.parametrize(
    ("text", "group"),
    [
        ("(0, 2)", 0),
        ("(8, 12)", 2),
        ("(8, 13)", 2),
        ("(25, 32)", 4),
        ("(60, 100)", 7),
        ("(38, 42)", 5),
        ("35", 4),
        ("(27, 32)", 4),
        ("57", 7),
        ("None", None),
        ("", None),
    ],
)
def test_adience_age_fields_map_to_groups(text: str, group: int | None) -> None:
    assert readers.adience_group(text) == group


def test_missing_data_sets_say_where_and_how(tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError, match="UTKFACE_ROOT"):
        readers.read_utkface(tmp_path / "nope")
    with pytest.raises(DataNotFoundError, match="fold_0_data.txt"):
        readers.read_adience(tmp_path)
    with pytest.raises(DataNotFoundError, match="train.csv"):
        readers.read_competition_csv(tmp_path)


@pytest.mark.skipif(not REAL_UTKFACE.is_dir(), reason=f"real UTKFace not at {REAL_UTKFACE}")
def test_real_utkface_crop_part1() -> None:
    result = readers.read_utkface(REAL_UTKFACE)
    assert Counter(s.gender for s in result.samples) == {0: 4372, 1: 5406}
    assert sorted(reason for _, reason in result.skipped) == ["gender not 0/1", "no race field"]
    image = face_images.decode(result.samples[0].path)
    assert image.shape == (3, 200, 200) and image.dtype == torch.uint8
    assert face_images.letterbox(image, 64).shape == (3, 64, 64)


def _tree_digest(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file() and p.suffix != ".json"):
        digest.update(path.relative_to(root).as_posix().encode() + path.read_bytes())
    return digest.hexdigest()


def test_synthetic_layouts_are_byte_identical_across_runs(tmp_path: Path, face_root: Path) -> None:
    synthetic.generate_utkface(tmp_path / "utk", count=120)
    synthetic.generate_adience(tmp_path / "adience", subjects_per_fold=6, images_per_subject=2)
    assert _tree_digest(tmp_path / "utk") == _tree_digest(face_root / "utk")
    assert _tree_digest(tmp_path / "adience") == _tree_digest(face_root / "adience")


def test_regenerating_a_changed_set_leaves_no_old_files(tmp_path: Path) -> None:
    synthetic.generate_utkface(tmp_path / "utk", count=12)
    synthetic.generate_utkface(tmp_path / "utk", count=5)
    assert len(readers.read_utkface(tmp_path / "utk").samples) == 5
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".utk-")]  # no staging left
    real = tmp_path / "mine"
    real.mkdir()
    (real / "photo.jpg").write_bytes(b"x")
    with pytest.raises(DataNotFoundError, match="not empty"):
        synthetic.generate_utkface(real, count=5)
    assert (real / "photo.jpg").read_bytes() == b"x"


def test_synthetic_faces_are_portrait_and_carry_both_labels() -> None:
    generator = torch.Generator().manual_seed(0)
    young = torch.stack([synthetic.draw_face(5, 0, generator)[:, 30:50, 20:30].float().mean() for _ in range(20)])
    old = torch.stack([synthetic.draw_face(80, 0, generator)[:, 30:50, 20:30].float().mean() for _ in range(20)])
    assert young.mean() > old.mean() + 40
    face = synthetic.draw_face(30, 1, generator)
    assert face.shape[1] > face.shape[2]


def test_letterbox_keeps_the_aspect_ratio() -> None:
    wide = torch.full((3, 40, 80), 200, dtype=torch.uint8)  # H=40, W=80
    square = face_images.letterbox(wide, 64)
    assert square.shape == (3, 64, 64)
    assert int(square[:, :16].max()) == 0 and int(square[:, 48:].max()) == 0  # padding above / below
    assert int(square[:, 16:48].min()) == 200  # the content, 32 x 64: not stretched
    tall = torch.full((3, 90, 30), 100, dtype=torch.uint8)
    boxed = face_images.letterbox(tall, 60)
    assert int(boxed[:, :, :20].max()) == 0 and int(boxed[:, :, 20:40].min()) == 100
    cropped = face_images.letterbox(wide, 64, crop=32)
    assert cropped.shape == (3, 32, 32) and int(cropped.min()) == 200


def test_decoded_sets_are_cached_and_invalidated_by_a_changed_file(
    face_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = [s.path for s in readers.read_utkface(face_root / "utk").samples[:5]]
    first = face_images.decode_all(paths, 32, None, tmp_path / "cache")
    assert first.shape == (5, 3, 32, 32)

    def no_decoding(*args: object) -> torch.Tensor:
        raise AssertionError("decoded again")

    monkeypatch.setattr(face_images, "_decode_many", no_decoding)
    assert torch.equal(face_images.decode_all(paths, 32, None, tmp_path / "cache"), first)
    copy = tmp_path / paths[0].name
    copy.write_bytes(paths[0].read_bytes())
    with pytest.raises(AssertionError, match="decoded again"):
        face_images.decode_all([copy, *paths[1:]], 32, None, tmp_path / "cache")


def test_age_scaling_round_trips_and_bins() -> None:
    years = torch.tensor([1.0, 35.0, 64.0, 99.0])
    assert torch.allclose(unscale_age(scale_age(years)), years)
    assert scale_age(torch.tensor([45.0])).item() == 1.0
    assert age_bins(years).tolist() == [0, 3, 6, 9]


def test_inverse_frequency_weights_flatten_the_bins() -> None:
    bins = torch.tensor([0] * 90 + [1] * 9 + [2])
    weights = inverse_frequency_weights(bins)
    assert torch.allclose(weights[:3], torch.tensor(1 / 90, dtype=torch.float64)) and weights[-1] == 1.0
    draws = torch.multinomial(weights, 30000, replacement=True, generator=torch.Generator().manual_seed(0))
    shares = torch.bincount(bins[draws], minlength=3).double() / 30000
    assert torch.allclose(shares, torch.full((3,), 1 / 3, dtype=torch.float64), atol=0.02)
