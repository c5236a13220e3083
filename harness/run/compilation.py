"""A job's compiled trunk, and whether it stayed compiled.

torch keeps one compile cache per code object, with at most `recompile_limit` (8) entries;
past it, dynamo stops compiling that code and runs it eagerly, silently. Every job of a
long-lived worker slot compiles its trunk anew (another model, other shapes), so a wrapper
shared by every job would pass that limit after a few jobs (resnet20 -> resnet56 -> vgg16bn
did) and the slot's later jobs would train uncompiled, slower, under a record that says
compile. Each compiled trunk therefore gets a code object of its own, whose cache lives and
dies with the model; and each job counts what dynamo did (`CompileWatch`), so its record says
whether it ran compiled throughout."""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import Any

import torch

from harness.api.records import CompileStats

BACKEND = "inductor"  # the jobs' compiler (a test may set "eager": dynamo's caching, without inductor's minutes)
LIMIT_HIT = "Dynamo recompile limit exceeded"  # the start of dynamo's message when it gives up on a code


def compile_trunk(model: torch.nn.Module, backend: str | None = None) -> None:
    """Compile the children that hold only shared parameters (the trunk or backbone) in
    place: the heads stay eager, so hooks on them (MGDA-UB's representation) keep working
    and state_dict keys do not change.

    Each child's `forward` is replaced by a compiled function of ours that calls it: dynamo
    starts tracing in our frame and inlines the whole trunk as one graph. (`Module.compile`
    starts in torch.nn's own frames, which torch 2.11 skips, compiling each residual block
    as a frame of its own; ResNet-20's block shapes times the batch sizes then pass dynamo's
    recompile limit of 8 and the rest runs eagerly, slower than no compile: measured on an
    H200.) Shapes are static: an epoch's last, smaller batch and the evaluation batches get
    graphs of their own instead of turning the training graph into a slower dynamic one.
    Buffer donation is turned off: a backward compiled by a method with one plain backward
    would otherwise refuse the `retain_graph=True` of the gradient-level methods (per-task
    gradients), in this process and, through the compile cache, in later ones."""
    import torch._functorch.config as functorch_config

    functorch_config.donated_buffer = False
    shared = {id(p) for p in model.shared_parameters()}  # type: ignore[operator]
    for child in model.children():
        params = list(child.parameters())
        if params and all(id(p) in shared for p in params):
            child.forward = compiled_forward(child.forward, backend or BACKEND)


def compiled_forward(forward: Callable[..., Any], backend: str) -> Callable[..., Any]:
    """`forward` compiled through a function whose code object is its own (a copy made for
    this call): its compile cache holds this model's graphs only."""

    def trunk_forward(*args: Any, **kwargs: Any) -> Any:
        return forward(*args, **kwargs)

    own = types.FunctionType(
        trunk_forward.__code__.replace(),  # a new code object: dynamo's cache is kept per code object
        trunk_forward.__globals__,
        trunk_forward.__name__,
        trunk_forward.__defaults__,
        trunk_forward.__closure__,
    )
    return torch.compile(own, backend=backend, dynamic=False)


def _counts() -> dict[str, int]:
    from torch._dynamo.utils import counters

    return {
        "frames": counters["frames"]["total"],
        "frames_compiled": counters["frames"]["ok"],
        "graphs": counters["stats"]["unique_graphs"],
        "graph_breaks": sum(counters["graph_break"].values()),
        "limit_hits": sum(n for message, n in counters["unimplemented"].items() if message.startswith(LIMIT_HIT)),
        "unsupported": sum(counters["unimplemented"].values()),
    }


class CompileWatch:
    """What dynamo did between `start` and `stats`: jobs of a slot run one after another,
    so the process-wide counters' difference is the job's."""

    def __init__(self) -> None:
        self._before = _counts()

    def stats(self) -> CompileStats:
        now = _counts()
        change = {name: now[name] - self._before[name] for name in now}
        return CompileStats(
            frames=change["frames"],
            frames_compiled=change["frames_compiled"],
            graphs=change["graphs"],
            graph_breaks=change["graph_breaks"],
            recompile_limit_hits=change["limit_hits"],
            compiled_throughout=(
                change["frames"] > 0
                and change["frames"] == change["frames_compiled"]
                and change["graph_breaks"] == 0
                and change["unsupported"] == 0  # a recompile limit hit is one: its code then runs eagerly
            ),
        )
