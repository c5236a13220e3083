"""One method model: one MethodKind (its level, its file format), one constructor from a
spec (`method_from_spec`, which the worker uses), and the seed's baselines as data."""

from __future__ import annotations

import hashlib
import typing
from pathlib import Path

import pytest

from harness import registry
from harness.api.errors import HarnessError
from harness.api.records import FileFormat, MethodKind, MethodSpec
from harness.api.sandbox import Sandbox
from harness.methods.resolve import method_from_spec, registered_method, submit_baselines
from harness.oracle.backends.process import ProcessSandbox
from harness.oracle.guest.gradient import CLASSES
from tests.helpers import REPO

LOSSES = ("fine", "coarse")
EXAMPLE = REPO / "submissions" / "example_loss.py"


def spec(kind: str, entry_type: str = "submission", name: str = "mine") -> MethodSpec:
    return MethodSpec.model_validate(
        {"name": name, "entry_type": entry_type, "kind": kind, "source_path": "x.py", "source_sha256": "0" * 64}
    )


def test_the_kinds_keep_their_recorded_values() -> None:
    """The values are in every cache key and record: the old four as they were, one new."""
    assert {kind.value for kind in MethodKind} == {
        "loss_module",
        "gradient",
        "gradient_module",
        "gram_module",
        "loss_combiner",
    }


def test_each_kind_says_its_level_and_file_format() -> None:
    table = {kind.value: (kind.level, kind.file_format, kind.is_file) for kind in MethodKind}
    assert table == {
        "loss_module": ("loss", "loss", True),
        "gradient_module": ("gradient", "gradient", True),
        "gram_module": ("gradient", "gram", True),
        "gradient": ("gradient", None, False),
        "loss_combiner": ("loss", None, False),
    }
    for kind in MethodKind:
        if kind.file_format is not None:
            assert MethodKind.of_file(kind.file_format) is kind
        else:
            assert MethodKind.of_combiner(kind.level) is kind


def test_the_file_formats_are_the_guests() -> None:
    """The guest names its formats itself (it imports nothing of the harness): the same ones."""
    assert set(typing.get_args(FileFormat)) == set(CLASSES.values())
    assert {MethodKind.of_file(fmt) for fmt in CLASSES.values()} == {k for k in MethodKind if k.is_file}


def test_a_records_kind_string_reads_as_the_enum_and_writes_back_the_same() -> None:
    for value in ("loss_module", "gradient", "gradient_module", "gram_module", "loss_combiner"):
        read = spec(value)
        assert read.kind is MethodKind(value) and read.kind == value
        assert read.model_dump(mode="json")["kind"] == value
        assert MethodSpec.model_validate_json(read.model_dump_json()) == read
    with pytest.raises(ValueError):
        spec("loss")


def test_a_registered_methods_kind_follows_its_level() -> None:
    loaded, broken = registry.methods.load_all()
    assert not broken
    for name, info in loaded.items():
        method = registered_method(name, LOSSES, "cifar100-mtl")
        assert method.kind is info.kind and method.kind.level == info.level, name
        assert method.kind.is_file == (info.loss_file is not None), name
    assert loaded["rlw"].kind is MethodKind.LOSS_COMBINER and loaded["pcgrad"].kind is MethodKind.GRADIENT_COMBINER


def test_the_seed_baselines_are_marked_in_their_registrations() -> None:
    assert set(submit_baselines()) == {"equal", "uncertainty", "dwa", "pcgrad"}
    names = registry.methods.names()
    assert list(submit_baselines()) == [name for name in names if name in submit_baselines()]


def test_a_baseline_is_rebuilt_from_the_registry_keeping_its_spec() -> None:
    queued = registered_method("pcgrad", LOSSES, "cifar100-mtl").spec.model_copy(update={"source_sha256": "1" * 64})
    method = method_from_spec(queued, LOSSES, "cifar100-mtl")
    assert method.spec == queued and method.info is registry.methods.get("pcgrad") and method.untrusted_path is None
    with pytest.raises(HarnessError, match="queued as a baseline"):
        method_from_spec(queued, LOSSES, "cifar100-mtl", submission_copy=EXAMPLE)


def test_a_file_is_rebuilt_in_its_sandbox_at_its_format(tmp_path: Path) -> None:
    sha256 = hashlib.sha256(EXAMPLE.read_bytes()).hexdigest()
    queued = spec("gram_module").model_copy(update={"source_sha256": sha256})
    method = method_from_spec(queued, LOSSES, "cifar100-mtl", EXAMPLE, ProcessSandbox(), allow_process=True)
    assert method.file_format == "gram" and method.sandbox is not None and method.sandbox.name == "process"
    assert method.untrusted_path == EXAMPLE and method.limits is not None and method.info is None
    by_name = method_from_spec(queued, LOSSES, "cifar100-mtl", EXAMPLE, "process", allow_process=True)
    assert by_name.sandbox is not None and by_name.sandbox.name == "process"


@pytest.mark.parametrize(
    ("kind", "copy", "sandbox", "reason"),
    [
        ("loss_module", None, "bwrap", "the queue holds no copy"),
        ("loss_module", Path("/nonexistent/file.py"), "bwrap", "the queue holds no copy"),
        ("gradient", EXAMPLE, "bwrap", "not a file"),
        ("loss_combiner", EXAMPLE, "bwrap", "not a file"),
        ("loss_module", EXAMPLE, "process", "--allow-process-sandbox"),
        ("loss_module", EXAMPLE, ProcessSandbox(), "--allow-process-sandbox"),
    ],
)
def test_a_file_that_cannot_be_rebuilt_says_why(
    kind: str, copy: Path | None, sandbox: Sandbox | str, reason: str
) -> None:
    with pytest.raises(HarnessError, match=reason):
        method_from_spec(spec(kind), LOSSES, "cifar100-mtl", copy, sandbox)
