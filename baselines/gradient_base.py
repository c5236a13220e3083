"""The gradient-level machinery the baselines build on, from `harness.api.gradients`
(kept at this path for plugins that import it)."""

from harness.api.gradients import Direction, SharedGradientCombiner, flat_gradients, host_gram

__all__ = ["Direction", "SharedGradientCombiner", "flat_gradients", "host_gram"]
