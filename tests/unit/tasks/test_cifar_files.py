import pickle
from pathlib import Path

import numpy as np
import pytest

from harness.api.errors import DataNotFoundError
from tasks.cifar100_mtl import cifar_files, synthetic


def test_synthetic_set_reads_back_in_the_official_format(tmp_path: Path) -> None:
    synthetic.generate(tmp_path, train_size=300, test_size=100, seed=0)
    train = cifar_files.read_split(tmp_path, "train")
    test = cifar_files.read_split(tmp_path, "test")
    assert train.images.shape == (300, 3, 32, 32) and train.images.dtype == np.uint8
    assert len(test.fine_labels) == 100
    fine_names, coarse_names = cifar_files.read_label_names(tmp_path)
    assert len(fine_names) == 100 and len(coarse_names) == 20
    # the raw pickle has the official keys and a flat N x 3072 array
    with (tmp_path / "cifar-100-python" / "train").open("rb") as handle:
        raw = pickle.load(handle, encoding="latin1")
    assert {"data", "fine_labels", "coarse_labels", "filenames", "batch_label"} <= set(raw)
    assert raw["data"].shape == (300, 3072)


def test_fine_classes_nest_in_coarse_classes(tmp_path: Path) -> None:
    synthetic.generate(tmp_path, train_size=1000, test_size=100, seed=0)
    split = cifar_files.read_split(tmp_path, "train")
    pairs = set(zip(split.fine_labels.tolist(), split.coarse_labels.tolist()))
    assert len(pairs) == 100  # each fine class has exactly one coarse class
    per_coarse = np.bincount([coarse for _, coarse in pairs], minlength=20)
    assert per_coarse.tolist() == [5] * 20


def test_generation_is_deterministic(tmp_path: Path) -> None:
    synthetic.generate(tmp_path / "a", 200, 50, seed=1)
    synthetic.generate(tmp_path / "b", 200, 50, seed=1)
    for name in ("train", "test", "meta"):
        a = (tmp_path / "a" / "cifar-100-python" / name).read_bytes()
        assert a == (tmp_path / "b" / "cifar-100-python" / name).read_bytes()


def test_missing_files_error_says_where_to_put_them(tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError) as info:
        cifar_files.read_split(tmp_path / "nowhere", "train")
    message = str(info.value)
    assert str(tmp_path / "nowhere" / "cifar-100-python") in message
    assert "runner.py data cifar100" in message and cifar_files.URL in message


def test_pickle_with_foreign_globals_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()

    class Exploit:
        def __reduce__(self):
            return (print, ("pwned",))

    (folder / "train").write_bytes(pickle.dumps({"data": Exploit()}, protocol=2))
    with pytest.raises(DataNotFoundError, match="not allowed"):
        cifar_files.read_split(tmp_path, "train")


def test_verify_reports_files_that_are_not_the_official_ones(tmp_path: Path) -> None:
    synthetic.generate(tmp_path, 100, 100)
    assert cifar_files.verify(tmp_path) == ["train", "test", "meta"]


def test_failed_download_says_what_to_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import torchvision.datasets.utils as tv_utils

    def offline(*args: object, **kwargs: object) -> None:
        raise OSError("network is unreachable")

    monkeypatch.setattr(tv_utils, "download_and_extract_archive", offline)
    with pytest.raises(DataNotFoundError, match="Download it by hand"):
        cifar_files.download(tmp_path)
