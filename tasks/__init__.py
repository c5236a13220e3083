"""The built-in tasks. Each registers under the `mtl_bench.tasks` entry-point group in
pyproject.toml, exactly as a plugin package's tasks do; they import only `harness.api`."""
