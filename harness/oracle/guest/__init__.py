"""The sandbox side of the loss oracle: server, protocol, loader, runner and state codec.

Only this package is mounted in the sandbox, so it imports nothing else from the harness
(and needs only the standard library and torch); inside it is imported as `guest`.
"""

from pathlib import Path

GUEST_DIR = Path(__file__).resolve().parent
