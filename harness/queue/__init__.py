"""The persistent job queue, the worker slots that drain it, and local runs that wait on it."""
