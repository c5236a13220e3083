"""Methods (submissions and registered methods) and the combiners that run them.

A method's kind (`MethodKind`, in its spec) decides how it runs: a registered method
in-process (its MultiTaskLoss file, or its trusted combiner), a file in the submission
format in its sandboxed oracle, at the file's level. `submission_method` reads and checks a
new file, `registered_method` builds a registered one (or a method family's member, by its
`family:member` name, for a task's losses), and `method_from_spec` rebuilds
either from a spec as a queue holds it (the worker, and any command that runs queued jobs).
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from pathlib import Path

from harness import registry
from harness.api.errors import HarnessError, PluginError, SubmissionError
from harness.api.method import Combiner, MethodInfo
from harness.api.records import EntryType, FileFormat, MethodKind, MethodSpec, TrainConfig
from harness.api.sandbox import OracleLimits, Sandbox
from harness.methods.gradient_level import GradientLevelCombiner
from harness.methods.loss_level import InProcessLossRunner, LossLevelCombiner, submission_errors
from harness.oracle.choose import UNISOLATED, choose_sandbox
from harness.oracle.client import OracleClient
from harness.oracle.gradient_client import OracleGradientRunner
from harness.oracle.guest.gradient import declared_format, graph_walking, graph_walking_message
from harness.oracle.guest.loader import LoadedSubmission, check_syntax, load_submission, read_source


@dataclass(frozen=True)
class Method:
    """A method and how to run it: registered ones in-process, submissions in the oracle."""

    spec: MethodSpec
    info: MethodInfo | None = None  # a registered method
    loaded: LoadedSubmission | None = None  # a registered MultiTaskLoss file, loaded here
    untrusted_path: Path | None = None  # submissions: run only inside the sandbox
    loss_names: tuple[str, ...] = ()
    sandbox: Sandbox | None = None
    limits: OracleLimits | None = None

    @property
    def kind(self) -> MethodKind:
        return self.spec.kind

    @property
    def file_format(self) -> FileFormat | None:
        """The format of its file in the submission format; None for a trusted combiner."""
        return self.spec.kind.file_format

    @property
    def sandbox_name(self) -> str:
        return self.sandbox.name if self.sandbox is not None else "in-process (trusted baseline)"

    def make_combiner(self, config: TrainConfig) -> Combiner:
        if self.info is not None and self.info.combiner is not None:
            return self.info.combiner(config, len(self.loss_names))
        if self.untrusted_path is not None:
            assert self.sandbox is not None and self.limits is not None
            file_format = self.file_format
            if file_format is None:
                raise HarnessError(f"{self.spec.name!r} is a file of kind {self.kind.value!r}, not a submission format")
            if file_format == "loss":
                client = OracleClient(
                    self.untrusted_path,
                    self.loss_names,
                    config,
                    self.sandbox,
                    self.limits,
                    expected_sha256=self.spec.source_sha256,
                )
                return LossLevelCombiner(client)
            runner = OracleGradientRunner(
                self.untrusted_path,
                self.loss_names,
                config,
                self.sandbox,
                self.limits,
                file_format,
                self.spec.source_sha256,
            )
            return GradientLevelCombiner(runner)
        assert self.loaded is not None
        return LossLevelCombiner(InProcessLossRunner(self.loaded.loss_class, self.loaded.path, config))


def check_in_sandbox(
    path: Path,
    loss_names: tuple[str, ...],
    sandbox: Sandbox,
    limits: OracleLimits,
    level: FileFormat = "loss",
    sha256: str | None = None,
) -> None:
    """Load and probe the submission inside the sandbox; SubmissionError if unusable (or,
    with `sha256`, if the file no longer hashes to it). `level`: the file's format."""
    OracleClient(path, loss_names, TrainConfig(epochs=1), sandbox, limits, level, sha256).close()


def check_submission(method: Method) -> None:
    """The whole check of a submission: its syntax here (compiled, never run), everything else
    in its sandbox, which must load the very bytes hashed when it was read."""
    assert method.untrusted_path is not None and method.sandbox is not None and method.limits is not None
    assert method.file_format is not None
    with submission_errors():
        source, _ = read_source(method.untrusted_path)
        check_syntax(method.untrusted_path, source)
    check_in_sandbox(
        method.untrusted_path,
        method.loss_names,
        method.sandbox,
        method.limits,
        method.file_format,
        method.spec.source_sha256,
    )


def refuse_file_as_baseline(entry_type: EntryType) -> None:
    """A queued baseline is rebuilt from the registry, never from a file: a file given the
    type would crash every worker that claimed its jobs."""
    if entry_type == "baseline":
        raise HarnessError(
            "--type baseline is for the registered methods; a file is a submission, agent, vanilla or human entry"
        )


def submission_method(
    path: Path,
    name: str,
    entry_type: EntryType,
    loss_names: tuple[str, ...],
    sandbox: Sandbox,
    limits: OracleLimits,
    check: bool = True,
    shown_as: Path | None = None,
    expected_sha256: str | None = None,
) -> Method:
    """A submission as a method. With `check`, it is checked without importing it here:
    syntax in this process (compile only), everything else in the sandboxed oracle, which
    must load the very bytes hashed here. `path` is best the stored copy of
    `harness/submission_store.py`; `shown_as`, the user's own path, is what the record names;
    `expected_sha256`, the hash of the bytes stored: the file must still hold them."""
    refuse_file_as_baseline(entry_type)
    if name in registry.methods:
        raise HarnessError(f"the name {name!r} belongs to a registered method; pass another --name")
    family = registry.family_of(name)
    if family is not None:
        raise HarnessError(
            f"the name {name!r} belongs to the method family {family!r} (its names start with {family}:); "
            "pass another --name"
        )
    with submission_errors():
        source, sha256 = read_source(path)
    if expected_sha256 is not None and sha256 != expected_sha256:
        raise SubmissionError(
            f"the stored copy of {path.name} changed after it was read (sha256 {sha256[:12]}, read as "
            f"{expected_sha256[:12]}): it is not run"
        )
    with submission_errors():
        if check:
            check_syntax(path, source)
        file_format = declared_format(path, source)
    walking = graph_walking(source) if file_format == "loss" else None
    if walking is not None:
        raise SubmissionError(graph_walking_message(path.name, *walking))
    if check:
        check_in_sandbox(path, loss_names, sandbox, limits, file_format, sha256)
    spec = MethodSpec(
        name=name,
        entry_type=entry_type,
        kind=MethodKind.of_file(file_format),
        source_path=str(shown_as or path),
        source_sha256=sha256,
    )
    # the same constructor as a queued job's; the process sandbox is here only if the user named it
    return method_from_spec(
        spec, loss_names, submission_copy=path.resolve(), sandbox=sandbox, limits=limits, allow_process=True
    )


def check_method(name: str, task_name: str, loss_names: tuple[str, ...]) -> MethodInfo:
    """The registered method, or a family's member (`family:member`) for a task with these
    losses (registry.method_for); a PluginError if it is unknown or cannot run this task."""
    info = registry.method_for(name, loss_names)
    refusal = info.refusal(len(loss_names))
    if refusal is not None:
        raise PluginError(f"method {refusal} ({task_name}); leave it out with --only or choose another task")
    return info


def registered_method(name: str, loss_names: tuple[str, ...], task_name: str = "") -> Method:
    """A registered method (a baseline, a plugin's, or a family's member) ready for jobs of a
    task with these losses. Its source hash covers its files, then its `parameters` when it
    has any (a family's members share their files)."""
    info = check_method(name, task_name, loss_names)
    digest = hashlib.sha256()
    with submission_errors():
        for path in info.hashed_files():
            digest.update(read_source(path, limit=None)[1].encode())  # trusted: hashed, never parsed here
        loaded = load_submission(info.loss_file, loss_names) if info.loss_file is not None else None
    if info.parameters:  # only then: every method without them keeps its key
        digest.update(b"\0parameters\0" + info.parameters.encode())
    spec = MethodSpec(
        name=name,
        entry_type="baseline",
        kind=info.kind,
        source_path=_display_path(info.loss_file or info.hashed_files()[0]),
        source_sha256=digest.hexdigest(),
        trains=info.trains,
        loss_weights=info.loss_weights,
    )
    return Method(spec, info=info, loaded=loaded, loss_names=loss_names)


def method_from_spec(
    spec: MethodSpec,
    loss_names: tuple[str, ...],
    task_name: str = "",
    submission_copy: Path | None = None,
    sandbox: Sandbox | str | None = None,
    limits: OracleLimits | None = None,
    allow_process: bool = False,
) -> Method:
    """The method a spec names (as a queue entry holds it), ready to run with its spec kept
    as given (it is in the job's key): a baseline rebuilt from the registry by its name (a
    family's member from its family, for these losses), never from a file; anything else from `submission_copy`, the stored copy of its file
    (harness/submission_store.py), in `sandbox` (a backend, or its name: None is the
    default), at the level its kind says. A HarnessError says why it cannot be built. The
    `process` sandbox isolates nothing: a file runs in it only with `allow_process` (a
    worker's owner allows it, never whoever filled the queue)."""
    if spec.entry_type == "baseline":
        if submission_copy is not None:
            raise HarnessError(f"{spec.name!r} is a submission file queued as a baseline")
        return dataclasses.replace(registered_method(spec.name, loss_names, task_name), spec=spec)
    if not spec.kind.is_file:
        raise HarnessError(f"{spec.name!r} is a {spec.entry_type} entry of kind {spec.kind.value!r}, not a file")
    if submission_copy is None or not submission_copy.is_file():
        raise HarnessError(f"the queue holds no copy of {spec.name!r}'s file ({submission_copy})")
    name = sandbox.name if isinstance(sandbox, Sandbox) else sandbox
    if name == UNISOLATED and not allow_process:
        raise HarnessError(
            f"it was queued for the {UNISOLATED} sandbox, which isolates nothing, and runs there only on a worker "
            "started with --allow-process-sandbox"
        )
    if not isinstance(sandbox, Sandbox):
        sandbox = choose_sandbox(sandbox, warn=lambda text: None)
    return Method(
        spec,
        untrusted_path=submission_copy,
        loss_names=loss_names,
        sandbox=sandbox,
        limits=limits or OracleLimits(),
    )


def submit_baselines() -> tuple[str, ...]:
    """The registered methods `submit` runs beside a submission (the seed's baselines: their
    `beside_submissions`), in registry order; a plugin that does not load is left out."""
    loaded, _ = registry.methods.load_all()
    return tuple(name for name, info in loaded.items() if info.beside_submissions)


def methods_for_task(
    names: list[str] | tuple[str, ...], loss_names: tuple[str, ...], task_name: str, strict: bool
) -> tuple[list[Method], list[str]]:
    """The registered methods `names` ready for a task with these losses. One that cannot run
    it is a PluginError when `strict` (the user named it), else left out: the notes say why."""
    methods, notes = [], []
    for name in names:
        refusal = None if strict else registry.method_for(name, loss_names).refusal(len(loss_names))
        if refusal is not None:
            notes.append(f"left out on {task_name}: {refusal}")
            continue
        methods.append(registered_method(name, loss_names, task_name))
    return methods, notes


def _display_path(path: Path) -> str:
    """`package/file.py`: where the method's code lives, without this machine's folders."""
    return f"{path.parent.name}/{path.name}"
