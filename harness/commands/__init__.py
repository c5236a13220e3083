"""The library core of the commands: each takes its typed request (`requests.py`) and returns
its answer, the document of harness/outputs.py and what the CLI prints for people. The CLI
and the Python API are two front doors onto these functions, never onto each other."""
