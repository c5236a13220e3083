"""Every registered method keeps the cache key it had at commit 637d5d2
(tests/fixtures/method-keys-637d5d2.json, written by tests/method_keys.py), so that users'
cached records stay theirs, except the methods listed in CHANGED (their recorded kind) and
SOURCE_CHANGED (their hashed files), each with the reason.
The submission kinds keep theirs too: the kind is an enum now, hashed as the same string."""

from __future__ import annotations

import json

import pytest

from harness import registry
from harness.api.records import JobSpec
from tests.helpers import FIXTURES
from tests.method_keys import method_keys, spec_keys

FIXTURE = json.loads((FIXTURES / "method-keys-637d5d2.json").read_text())
JOB = JobSpec.model_validate(FIXTURE["job"])
NOW = method_keys(JOB, FIXTURE["harness_version"])

# name -> why its key changed on purpose, and the kind it is recorded with now (it was
# "gradient", the kind of a trusted gradient-level combiner)
LOSS_LEVEL = "a trusted loss-level combiner (MethodInfo.level 'loss') was recorded as kind 'gradient' (issue 30)"
CHANGED: dict[str, tuple[str, str]] = {
    "famo": (LOSS_LEVEL, "loss_combiner"),
    "igb": (LOSS_LEVEL, "loss_combiner"),
    "rlw": (LOSS_LEVEL, "loss_combiner"),
    "stch": (LOSS_LEVEL, "loss_combiner"),
}

# name -> why its hashed source files changed on purpose (so its key changed: a run of the
# old code is not reused for the new)
DOCSTRING = "its module's docstring was corrected (issue 32), no number changed; the file is hashed"
SOURCE_CHANGED: dict[str, str] = {
    "nash-mtl": "solves the authors' alpha_i (G G^T alpha)_i = 1 on the raw Gram matrix, no longer on G G^T / |G G^T|_F (issue 32)",
    "fairgrad": "alpha 2.0, as the authors' run.sh files pass it, where it was their code default 1.0 (issue 32)",
    "famo": DOCSTRING + ": the authors' gamma per experiment",
    "gradvac": DOCSTRING + ": LibMTL's target-update placement",
    "moco": DOCSTRING + ": the authors' NYUv2 code projects onto the simplex",
    "cagrad": "its 1e-8 guards placed as the authors': c = alpha sqrt(mean GG + 1e-8) + 1e-8, "
    "lambda = c / (|g_w| + 1e-8) (issue 32); its weights solved on plain floats, the same bits for "
    "two tasks, the same minimum to 1e-10 for more (issue 34)",
}


@pytest.mark.parametrize("name", sorted(FIXTURE["methods"]))
def test_a_registered_method_keeps_its_key(name: str) -> None:
    assert name in registry.methods, f"{name} is no longer registered"
    before, now = FIXTURE["methods"][name], NOW[name]
    if name in SOURCE_CHANGED:
        assert now["source_sha256"] != before["source_sha256"], f"{name}: listed as changed, but its files are not"
        assert now["key"] != before["key"], SOURCE_CHANGED[name]
    else:
        assert now["source_sha256"] == before["source_sha256"], f"{name}: its hashed files changed"
    if name in CHANGED:
        reason, kind = CHANGED[name]
        assert (now["kind"], before["kind"]) == (kind, "gradient"), reason
        assert now["key"] != before["key"]
    elif name not in SOURCE_CHANGED:
        assert now == before
    else:
        assert now["kind"] == before["kind"], f"{name}: its kind changed"


def test_the_submission_kinds_keep_their_keys() -> None:
    assert spec_keys(JOB, FIXTURE["harness_version"]) == FIXTURE["submission_kinds"]
