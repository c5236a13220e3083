"""The trusted engine of the multi-task loss benchmark.

`from harness import leaderboard, plugins, status, submit, validate` gives the Python API
(harness/python_api.py), loaded on first use so that the CLI's light commands do not import
torch; `Protocol` (a screening or held-out protocol for `leaderboard`) and the answers'
models (`ValidationOutput`, `RunOutput`, `LeaderboardOutput`, `StatusOutput`,
`PluginsOutput`, `ErrorOutput`: harness/outputs.py) come with it.
"""

from typing import Any

from harness.version import HARNESS_VERSION as HARNESS_VERSION  # plugins read it here too

API = ("leaderboard", "plugins", "status", "submit", "validate")
OUTPUTS = ("ErrorOutput", "LeaderboardOutput", "PluginsOutput", "RunOutput", "StatusOutput", "ValidationOutput")


def __getattr__(name: str) -> Any:
    if name in API:
        from harness import python_api

        return getattr(python_api, name)
    if name == "Protocol":  # the README's example passes leaderboard(..., protocol=Protocol(...))
        from harness.api.records import Protocol

        return Protocol
    if name in OUTPUTS:  # what the functions answer with (an isinstance check, a type annotation)
        from harness import outputs

        return getattr(outputs, name)
    raise AttributeError(f"module 'harness' has no attribute {name!r}")
