"""Which sandbox backend runs the oracle: the named one, or the safest that works here."""

from __future__ import annotations

from collections.abc import Callable

from harness import registry
from harness.api.errors import HarnessError
from harness.api.sandbox import Sandbox

DEFAULT = "bwrap"
FALLBACK = "process"


def choose_sandbox(name: str | None, warn: Callable[[str], None] = print) -> Sandbox:
    """The named backend, or by default bwrap where it works, else process with a warning."""
    if name is None:
        reason = registry.sandboxes.get(DEFAULT).available()
        if reason is None:
            return registry.sandboxes.get(DEFAULT)()
        warn(
            f"warning: {reason}; falling back to the {FALLBACK} sandbox, which does not isolate "
            "the file system or the network"
        )
        return registry.sandboxes.get(FALLBACK)()
    backend = registry.sandboxes.get(name)
    reason = backend.available()
    if reason is not None:
        raise HarnessError(f"sandbox {name} is not usable: {reason}")
    return backend()
