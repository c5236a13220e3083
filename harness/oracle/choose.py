"""Which sandbox backend runs the oracle: the named one, or bwrap.

There is no silent fallback: the `process` backend isolates nothing (the submission can
read every file the user can and reach the network), so it runs only when it is named
(`--sandbox process`). Where bwrap does not work the default fails with the reason and
the choices.
"""

from __future__ import annotations

from collections.abc import Callable

from harness import registry
from harness.api.errors import HarnessError
from harness.api.sandbox import Sandbox

DEFAULT = "bwrap"
UNISOLATED = "process"


def choose_sandbox(name: str | None, warn: Callable[[str], None] = print) -> Sandbox:
    """The named backend, or bwrap by default; a HarnessError where it cannot run here.
    Naming `process` works, with a warning that it isolates nothing."""
    backend = registry.sandboxes.get(name or DEFAULT)
    reason = backend.available()
    if reason is not None:
        if name is None:
            raise HarnessError(
                f"the default sandbox {DEFAULT} is not usable: {reason}; install bubblewrap, or pass "
                f"--sandbox docker, or --sandbox {UNISOLATED} (no isolation at all: only for code you trust)"
            )
        raise HarnessError(f"sandbox {name} is not usable: {reason}")
    if backend.name == UNISOLATED:
        warn(f"warning: the {UNISOLATED} sandbox isolates nothing: the submission can read your files and the network")
    return backend()
