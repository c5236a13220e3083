"""The harness's version: part of every job's cache key and of the docker image's label."""

HARNESS_VERSION = "0.1.0"
