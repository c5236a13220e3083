"""The arena every attack test of the corpus uses (one per test module)."""

from tests.hostile.corpus import arena

__all__ = ["arena"]
