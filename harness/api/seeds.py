"""Seeds for a method's own random streams, apart from the job's.

The trainer seeds torch and the data generator with the job's seed; a method that seeds
its generator with the same number draws from the same stream as the batch order (RLW's
first draws would be the data permutation's). `stream_seed` derives a seed per purpose
by hashing, so the streams are independent and still fixed by the job's seed.
"""

from __future__ import annotations

import hashlib


def stream_seed(seed: int, purpose: str) -> int:
    """A 63-bit seed for `purpose` (e.g. a method's name), a function of `seed` alone."""
    digest = hashlib.sha256(f"{purpose}:{seed}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1
