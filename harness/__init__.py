"""The trusted engine of the multi-task loss benchmark."""

HARNESS_VERSION = "0.1.0"
