"""An example mtl-bench plugin package: the `three-heads` task and the `inverse-loss` method.

It imports nothing of the harness but `harness.api`, and the harness finds it only through
the entry points in this package's pyproject.toml (groups `mtl_bench.tasks` and
`mtl_bench.methods`). Nothing is imported here, so that listing plugins stays cheap.
"""
